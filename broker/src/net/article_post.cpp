#include "net/article_post.hpp"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "kabar/common/ascii.hpp"
#include "kabar/common/log_safe.hpp"
#include "kabar/common/ninjs.hpp"
#include "net/query_string.hpp"

namespace kabar::broker::article_post {

namespace {

Refusal refuse(unsigned status, std::string message,
               v1::Error::Code code = v1::Error::BAD_REQUEST) {
  return {status, {code, std::move(message)}};
}

std::string lower_trimmed(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return lower_ascii(text);
}

}  // namespace

std::variant<BodyFormat, Refusal> body_format(std::string_view content_type) {
  const auto media_type = lower_trimmed(content_type.substr(0, content_type.find(';')));
  if (media_type == "application/json" || media_type == "application/ninjs+json") {
    return BodyFormat::kNinjs;
  }
  if (media_type == "application/x-protobuf" || media_type == "application/protobuf") {
    return BodyFormat::kProtobuf;
  }
  return refuse(415, (content_type.empty() ? std::string("no Content-Type")
                                           : "Content-Type '" + log_safe(content_type, 100) + "'") +
                         ": send ninjs as application/json or application/ninjs+json, or a "
                         "kabar.v1.Article as application/x-protobuf");
}

std::variant<v1::Article, Refusal> parse(std::string_view target, BodyFormat format,
                                         std::string_view body) {
  std::vector<std::string> topics;
  std::optional<Refusal> refusal;
  for_each_query_parameter(target, [&](std::string_view key, std::string_view value) {
    if (key != "topic") {
      refusal = refuse(400, "unknown query parameter '" + log_safe(key, 100) +
                                "': the query takes topic=T, once per topic");
      return false;
    }
    if (topics.size() == kMaxQueryTopics) {
      refusal = refuse(400, "more than " + std::to_string(kMaxQueryTopics) + " topic parameters");
      return false;
    }
    topics.push_back(percent_decode(value));
    return true;
  });
  if (refusal) return *refusal;

  v1::Article article;
  if (format == BodyFormat::kNinjs) {
    try {
      article = article_from_ninjs(body);
    } catch (const NinjsError& e) {
      return refuse(400, e.what());
    }
  } else if (!article.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    return refuse(400, "the body is not a binary kabar.v1.Article");
  }
  // The query's topics after the body's own, each once.
  for (auto& topic : topics) {
    if (std::ranges::find(article.topics(), topic) == article.topics().end()) {
      article.add_topics(std::move(topic));
    }
  }
  return article;  // with no topic yet, routing by subject may give it some (check_publish)
}

unsigned status_for(v1::Error::Code code) {
  switch (code) {
    case v1::Error::UNAUTHORIZED:
      return 401;
    case v1::Error::FORBIDDEN:
      return 403;
    case v1::Error::NOT_FOUND:
      return 404;
    case v1::Error::TOO_LARGE:
      return 413;
    case v1::Error::RATE_LIMITED:
      return 429;
    case v1::Error::UNAVAILABLE:
      return 503;
    case v1::Error::INTERNAL:
      return 500;
    default:
      return 400;
  }
}

std::string error_json(const Rejection& error) {
  const nlohmann::json body = {{"code", v1::Error::Code_Name(error.code)},
                               {"message", error.message}};
  // Replaced, not thrown on: a message quoting a client's bytes may hold invalid UTF-8.
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string result_json(const v1::PublishResult& result) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;  // "duplicate": false too
  static_cast<void>(google::protobuf::util::MessageToJsonString(result, &json, options));
  json.push_back('\n');
  return json;
}

}  // namespace kabar::broker::article_post
