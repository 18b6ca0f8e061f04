// libFuzzer: any bytes a client may send in a binary frame, through what the broker does with
// them before anything is stored: parse as ClientMessage, then validate each request kind.
#include <cstddef>
#include <cstdint>

#include "kabar/common/article.hpp"
#include "kabar/common/topic.hpp"
#include "kabar/v1/kabar.pb.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  kabar::v1::ClientMessage message;
  if (!message.ParseFromArray(data, static_cast<int>(size))) return 0;
  switch (message.request_case()) {
    case kabar::v1::ClientMessage::kPublish: {
      auto article = message.publish().article();
      (void)kabar::validate_article(article, 256 * 1024);
      break;
    }
    case kabar::v1::ClientMessage::kSubscribe: {
      const auto& subscribe = message.subscribe();
      if (!kabar::pattern_error(subscribe.topic())) {
        for (const char* topic : {"international", "defense.asia", "a.b.c.d.e.f.g.h"}) {
          (void)kabar::topic_matches(subscribe.topic(), topic);
        }
      }
      (void)kabar::filter_error(subscribe.filter());
      for (const auto& position : subscribe.resume().positions()) {
        (void)kabar::topic_error(position.topic());
      }
      break;
    }
    case kabar::v1::ClientMessage::kUnsubscribe:
      (void)kabar::pattern_error(message.unsubscribe().topic());
      break;
    default:
      break;
  }
  return 0;
}
