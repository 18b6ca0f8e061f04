#include "net/history_query.hpp"

#include <google/protobuf/util/json_util.h>

#include "kabar/common/ninjs.hpp"
#include "kabar/common/topic.hpp"
#include "net/query_string.hpp"

namespace kabar::broker::history_query {
namespace {

constexpr std::string_view kPrefix = "/v1/topics/";
constexpr std::string_view kSuffix = "/articles";

}  // namespace

bool matches(std::string_view path) {
  return path.size() > kPrefix.size() + kSuffix.size() && path.starts_with(kPrefix) &&
         path.ends_with(kSuffix);
}

std::variant<Query, std::string> parse(std::string_view target) {
  const auto question = target.find('?');
  const auto path = target.substr(0, question);
  Query query;
  query.topic =
      std::string(path.substr(kPrefix.size(), path.size() - kPrefix.size() - kSuffix.size()));
  if (auto error = topic_error(query.topic)) return "topic '" + query.topic + "': " + *error;
  std::string error;
  for_each_query_parameter(target, [&](std::string_view key, std::string_view value) {
    if (key == "since") {
      if (!parse_whole_number(value, query.since)) {
        error = "since must be an offset (a whole number >= 0), not '" + std::string(value) + "'";
      }
    } else if (key == "limit") {
      if (!parse_whole_number(value, query.limit) || query.limit == 0 || query.limit > kMaxLimit) {
        error = "limit must be a whole number from 1 to " + std::to_string(kMaxLimit) + ", not '" +
                std::string(value) + "'";
      }
    } else if (key != "access_token" && !key.empty()) {  // the token is the session's business
      error = "unknown query parameter '" + std::string(key) + "' (use since and limit)";
    }
    return error.empty();
  });
  if (!error.empty()) return error;
  return query;
}

ReadRequest read_request(const Query& query) {
  ReadRequest request;
  request.pattern = query.topic;
  auto& from = request.from.emplace_back();
  from.set_topic(query.topic);
  from.mutable_position()->set_offset(query.since);
  request.check_from = false;
  request.max_bytes = kMaxPageBytes;
  request.max_count = query.limit;
  return request;
}

Format format_for(std::string_view accept) {
  if (accept.find("application/x-protobuf") != std::string_view::npos) return Format::kProtobuf;
  if (accept.find("application/ninjs+json") != std::string_view::npos) return Format::kNinjs;
  return Format::kJson;
}

namespace {

// The page as ninjs documents, with kabar's own fields in headers.
Answer ninjs_page(const Query& query, const v1::History& history) {
  Answer page{200, "[", "application/ninjs+json", {}};
  for (const auto& delivery : history.deliveries()) {
    if (page.body.size() > 1) page.body.push_back(',');
    page.body += ninjs_from_article(delivery.article());
  }
  page.body += "]\n";
  page.headers = {{"Kabar-Epoch", history.epoch()},
                  {"Kabar-First-Offset", std::to_string(history.first_offset())},
                  {"Kabar-Last-Offset", std::to_string(history.last_offset())}};
  if (history.more() && !history.deliveries().empty()) {
    const auto next = history.deliveries(history.deliveries_size() - 1).offset();
    page.headers.emplace_back(
        "Link", "</v1/topics/" + query.topic + "/articles?since=" + std::to_string(next) +
                    "&limit=" + std::to_string(query.limit) + ">; rel=\"next\"");
  }
  return page;
}

}  // namespace

Answer answer(const Query& query, const ReadResult& result, Format format) {
  if (!result.batch) {
    return plain_answer(503, result.not_recoverable.value_or("history unavailable") + "\n");
  }
  if (result.topics.empty()) {
    return plain_answer(404, "no article was ever stored in topic '" + query.topic + "'\n");
  }
  v1::History history;
  history.set_topic(query.topic);
  const auto& topic = result.topics.front();
  history.set_epoch(topic.epoch);
  history.set_first_offset(topic.first_offset);
  history.set_last_offset(topic.last_offset);
  v1::ServerMessage message;
  for (const auto& ref : result.batch->deliveries) {
    message.ParseFromArray(result.batch->bytes.data() + ref.begin, static_cast<int>(ref.size));
    history.add_deliveries()->Swap(message.mutable_deliveries(0));
  }
  history.set_more(!result.complete);
  if (format == Format::kProtobuf) {
    return {200, history.SerializeAsString(), "application/x-protobuf", {}};
  }
  if (format == Format::kNinjs) return ninjs_page(query, history);
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = false;
  const auto status = google::protobuf::util::MessageToJsonString(history, &json, options);
  if (!status.ok()) {
    return plain_answer(500, "the page cannot be written as JSON (" +
                                 std::string(status.message()) +
                                 "): read it with Accept: application/x-protobuf\n");
  }
  json.push_back('\n');
  return {200, std::move(json), "application/json", {}};
}

}  // namespace kabar::broker::history_query
