// libFuzzer: any text given to kabar-pub or POST /v1/articles as ninjs: mapped, or refused with
// NinjsError; and what is mapped comes back unchanged through ninjs_from_article (the history's
// ninjs answer), or the target aborts.
#include <google/protobuf/util/message_differencer.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string_view>

#include "kabar/common/article.hpp"
#include "kabar/common/ninjs.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  try {
    auto article = kabar::article_from_ninjs(json);
    const auto written = kabar::ninjs_from_article(article);
    const auto again = kabar::article_from_ninjs(written);
    if (!google::protobuf::util::MessageDifferencer::Equals(article, again)) {
      std::cerr << "round trip changed the article:\n"
                << article.DebugString() << "\nwritten: " << written << "\nread back:\n"
                << again.DebugString();
      std::abort();
    }
    article.add_topics("fuzz");
    (void)kabar::validate_article(article, 256 * 1024);
  } catch (const kabar::NinjsError&) {
    // refused with a message: what bad input must get
  }
  return 0;
}
