#include "wire.hpp"

namespace kabar::bench {

std::string encode_publish(std::uint32_t id, std::string_view run, const std::string& topic,
                           std::size_t payload, std::int64_t sent_ns) {
  v1::ClientMessage message;
  message.set_id(id);
  auto* article = message.mutable_publish()->mutable_article();
  article->set_id("urn:kabar:bench:" + std::string(run) + ":" + std::to_string(id));
  article->add_topics(topic);
  article->set_headline("bench");
  article->set_urgency(1);
  article->set_body(std::string(payload, 'x'));
  article->mutable_first_created()->set_seconds(sent_ns / 1'000'000'000);
  article->mutable_first_created()->set_nanos(static_cast<std::int32_t>(sent_ns % 1'000'000'000));
  return message.SerializeAsString();
}

std::string encode_connect(std::uint32_t id, const std::string& name) {
  v1::ClientMessage message;
  message.set_id(id);
  message.mutable_connect()->set_client_name(name);
  return message.SerializeAsString();
}

std::string encode_subscribe(std::uint32_t id, const std::string& topic, bool from_start) {
  v1::ClientMessage message;
  message.set_id(id);
  message.mutable_subscribe()->set_topic(topic);
  if (from_start) message.mutable_subscribe()->mutable_since();
  return message.SerializeAsString();
}

}  // namespace kabar::bench
