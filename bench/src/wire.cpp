#include "wire.hpp"

#include <google/protobuf/util/time_util.h>

#include <charconv>

namespace kabar::bench {

namespace {

// The text of the JSON string that follows `key` (a key with its colon and opening quote, e.g.
// "\"topic\":\""), or nothing. Strings the bench reads hold no escaped quote.
std::optional<std::string_view> string_after(std::string_view text, std::string_view key) {
  const auto at = text.find(key);
  if (at == std::string_view::npos) return std::nullopt;
  const auto begin = at + key.size();
  const auto end = text.find('"', begin);
  if (end == std::string_view::npos) return std::nullopt;
  return text.substr(begin, end - begin);
}

bool number(std::string_view digits, std::uint64_t& value) {
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  return error == std::errc() && end != digits.data();
}

std::string json_string(const std::string& text) {
  return "\"" + text + "\"";  // topics and names the bench chooses: nothing to escape
}

}  // namespace

std::string json_connect(std::uint32_t id, const std::string& name) {
  return R"({"id":)" + std::to_string(id) + R"(,"connect":{"clientName":)" + json_string(name) +
         "}}";
}

std::string json_subscribe(std::uint32_t id, const std::string& topic, bool from_start) {
  return R"({"id":)" + std::to_string(id) + R"(,"subscribe":{"topic":)" + json_string(topic) +
         (from_start ? R"(,"since":{}}})" : "}}");
}

bool read_json_server_message(std::string_view frame,
                              const std::function<void(const DeliveryView&)>& on_delivery,
                              const std::function<void(const ReplyView&)>& on_reply) {
  if (frame.starts_with(R"({"deliveries":[)")) {
    DeliveryView delivery;
    const auto topic = string_after(frame, R"("topic":")");
    const auto offset = string_after(frame, R"("offset":")");
    if (!topic || !offset || !number(*offset, delivery.offset)) return false;
    delivery.topic = *topic;
    if (const auto created = string_after(frame, R"("firstCreated":")")) {
      google::protobuf::Timestamp at;
      if (google::protobuf::util::TimeUtil::FromString(std::string(*created), &at)) {
        delivery.sent_ns = google::protobuf::util::TimeUtil::TimestampToNanoseconds(at);
      }
    }
    on_delivery(delivery);
    return true;
  }
  if (frame.starts_with(R"({"reply":{"id":)")) {
    ReplyView reply;
    std::uint64_t id = 0;
    auto digits = frame.substr(std::string_view(R"({"reply":{"id":)").size());
    digits = digits.substr(0, digits.find_first_not_of("0123456789"));
    if (!number(digits, id)) return false;
    reply.id = static_cast<std::uint32_t>(id);
    reply.error = frame.find(R"("error":{)") != std::string_view::npos;
    if (reply.error) reply.error_message = string_after(frame, R"("message":")").value_or("");
    reply.duplicate = frame.find(R"("duplicate":true)") != std::string_view::npos;
    on_reply(reply);
    return true;
  }
  return false;
}

namespace {

void fill_article(v1::Article& article, std::uint32_t id, std::string_view run,
                  const std::string& topic, std::size_t payload, std::int64_t sent_ns) {
  article.set_id("urn:kabar:bench:" + std::string(run) + ":" + std::to_string(id));
  article.add_topics(topic);
  article.set_headline("bench");
  article.set_urgency(1);
  article.set_body(std::string(payload, 'x'));
  article.mutable_first_created()->set_seconds(sent_ns / 1'000'000'000);
  article.mutable_first_created()->set_nanos(static_cast<std::int32_t>(sent_ns % 1'000'000'000));
}

}  // namespace

std::string encode_publish(std::uint32_t id, std::string_view run, const std::string& topic,
                           std::size_t payload, std::int64_t sent_ns) {
  v1::ClientMessage message;
  message.set_id(id);
  fill_article(*message.mutable_publish()->mutable_article(), id, run, topic, payload, sent_ns);
  return message.SerializeAsString();
}

std::string encode_article(std::uint32_t id, std::string_view run, const std::string& topic,
                           std::size_t payload, std::int64_t sent_ns) {
  v1::Article article;
  fill_article(article, id, run, topic, payload, sent_ns);
  return article.SerializeAsString();
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
