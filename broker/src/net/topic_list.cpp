#include "net/topic_list.hpp"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <algorithm>

#include "kabar/common/jwt.hpp"
#include "kabar/common/topic.hpp"
#include "net/query_string.hpp"

namespace kabar::broker::topic_list {
namespace {

constexpr std::string_view kList = "/v1/topics";
constexpr std::string_view kPrefix = "/v1/topics/";

v1::TopicInfo info(const TopicState& topic, std::uint64_t receivers) {
  v1::TopicInfo info;
  info.set_topic(topic.topic);
  info.set_epoch(topic.epoch);
  info.set_first_offset(topic.first_offset);
  info.set_last_offset(topic.last_offset);
  info.set_articles(topic.first_offset == 0 ? 0 : topic.last_offset - topic.first_offset + 1);
  if (topic.last_at_ns != 0) {
    *info.mutable_last_article_at() =
        google::protobuf::util::TimeUtil::NanosecondsToTimestamp(topic.last_at_ns);
  }
  info.set_receivers(receivers);
  return info;
}

Answer json_answer(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;  // "receivers": 0 says something
  const auto status = google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) {  // topic names and epochs are ASCII: not expected
    return plain_answer(
        500, "the topics cannot be written as JSON: " + std::string(status.message()) + "\n");
  }
  json.push_back('\n');
  return {200, std::move(json), "application/json", {}};
}

}  // namespace

bool matches(std::string_view path) {
  if (path == kList) return true;
  return path.size() > kPrefix.size() && path.starts_with(kPrefix) &&
         path.find('/', kPrefix.size()) == std::string_view::npos;
}

std::variant<Query, std::string> parse(std::string_view target) {
  const auto path = target.substr(0, target.find('?'));
  Query query;
  if (path != kList) {
    query.topic = std::string(path.substr(kPrefix.size()));
    if (auto error = topic_error(query.topic)) return "topic '" + query.topic + "': " + *error;
  }
  std::string error;
  for_each_query_parameter(target, [&](std::string_view key, std::string_view value) {
    if (key == "limit" && query.topic.empty()) {
      if (!parse_whole_number(value, query.limit) || query.limit == 0 || query.limit > kMaxLimit) {
        error = "limit must be a whole number from 1 to " + std::to_string(kMaxLimit) + ", not '" +
                std::string(value).substr(0, 40) + "'";
      }
    } else if (key == "after" && query.topic.empty()) {
      query.after = std::string(value);
      if (auto why = topic_error(query.after)) {
        error = "after must be a topic name: '" + query.after.substr(0, 80) + "': " + *why;
      }
    } else if (key != "access_token" && !key.empty()) {
      error = "unknown query parameter '" + std::string(key).substr(0, 40) + "'" +
              (query.topic.empty() ? " (use after and limit)" : " (a topic takes none)");
    }
    return error.empty();
  });
  if (!error.empty()) return error;
  return query;
}

ReadRequest read_request(const Query& query) {
  ReadRequest request;
  request.pattern = query.topic.empty() ? ">" : query.topic;
  request.check_from = false;
  request.max_count = 0;  // positions only
  request.max_bytes = 0;
  request.last_times = true;
  return request;
}

Page page(const Query& query, std::vector<TopicState> topics,
          const std::vector<std::string>* grants) {
  Page page;
  for (auto& topic : topics) {  // sorted by name
    if (!query.after.empty() && topic.topic <= query.after) continue;
    if (grants != nullptr && !jwt::granted(*grants, topic.topic)) continue;
    if (page.topics.size() == query.limit) {
      page.more = true;
      break;
    }
    page.topics.push_back(std::move(topic));
  }
  return page;
}

Answer answer(const Query& query, const Page& page, const std::vector<std::uint64_t>& receivers) {
  if (!query.topic.empty()) {
    if (page.topics.empty()) {
      return plain_answer(404, "no article was ever stored in topic '" + query.topic + "'\n");
    }
    return json_answer(info(page.topics.front(), receivers.front()));
  }
  v1::TopicList list;
  for (std::size_t i = 0; i < page.topics.size(); ++i) {
    *list.add_topics() = info(page.topics[i], receivers[i]);
  }
  auto answer = json_answer(list);
  if (page.more && !page.topics.empty()) {
    answer.headers.emplace_back("Link", "</v1/topics?after=" + page.topics.back().topic +
                                            "&limit=" + std::to_string(query.limit) +
                                            ">; rel=\"next\"");
  }
  return answer;
}

std::string receivers_gauge(const std::vector<TopicState>& topics,
                            const std::vector<std::uint64_t>& receivers) {
  std::string out =
      "# HELP kabar_topic_receivers Connections with a subscription matching the topic, each "
      "counted once; topics past the first 1000 by name are summed as _other.\n"
      "# TYPE kabar_topic_receivers gauge\n";
  std::uint64_t other = 0;
  for (std::size_t i = 0; i < topics.size(); ++i) {
    if (i >= kMaxGaugeTopics) {
      other += receivers[i];
      continue;
    }
    // Topic names are [a-z0-9_-] segments and dots: nothing to escape in a label value.
    out += "kabar_topic_receivers{topic=\"" + topics[i].topic + "\"} " +
           std::to_string(receivers[i]) + "\n";
  }
  if (topics.size() > kMaxGaugeTopics) {
    out += "kabar_topic_receivers{topic=\"_other\"} " + std::to_string(other) + "\n";
  }
  return out;
}

}  // namespace kabar::broker::topic_list
