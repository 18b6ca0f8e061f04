// GET /v1/topics's query parsing, paging, grants and the receivers gauge, without sockets.
#include "net/topic_list.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace kabar::broker {
namespace {

std::string error_of(const std::variant<topic_list::Query, std::string>& parsed) {
  const auto* error = std::get_if<std::string>(&parsed);
  return error != nullptr ? *error : "";
}

std::vector<TopicState> topics(std::initializer_list<const char*> names) {
  std::vector<TopicState> out;
  for (const char* name : names) out.push_back({name, "e", 1, 1, 0});
  return out;
}

TEST(TopicList, MatchesTheListAndOneTopicButNotTheHistoryUnderIt) {
  EXPECT_TRUE(topic_list::matches("/v1/topics"));
  EXPECT_TRUE(topic_list::matches("/v1/topics/defense.asia"));
  EXPECT_FALSE(topic_list::matches("/v1/topics/"));
  EXPECT_FALSE(topic_list::matches("/v1/topics/defense/articles"));
  EXPECT_FALSE(topic_list::matches("/v1/topicsx"));
  const auto one = std::get<topic_list::Query>(topic_list::parse("/v1/topics/defense"));
  EXPECT_EQ(one.topic, "defense");
  const auto list = std::get<topic_list::Query>(topic_list::parse("/v1/topics?after=b&limit=1000"));
  EXPECT_EQ(list.after, "b");
  EXPECT_EQ(list.limit, 1000U);
  EXPECT_EQ(error_of(topic_list::parse("/v1/topics?limit=99999999999999999999999")),
            "limit must be a whole number from 1 to 1000, not '99999999999999999999999'");
  EXPECT_LT(error_of(topic_list::parse("/v1/topics?" + std::string(100'000, 'k'))).size(), 100U)
      << "an unknown parameter is quoted no longer than 40 bytes";
  EXPECT_EQ(error_of(topic_list::parse("/v1/topics/defense.>")),
            "topic 'defense.>': wildcards ('*', '>') are only allowed in subscriptions");
}

TEST(TopicList, APageSkipsToAfterKeepsTheGrantedAndSaysWhenMoreAreLeft) {
  topic_list::Query query;
  query.after = "a";
  query.limit = 2;
  const std::vector<std::string> grants = {"b", "d", "e"};
  auto page = topic_list::page(query, topics({"a", "b", "c", "d", "e"}), &grants);
  ASSERT_EQ(page.topics.size(), 2U);
  EXPECT_EQ(page.topics[0].topic, "b");
  EXPECT_EQ(page.topics[1].topic, "d");
  EXPECT_TRUE(page.more);
  query.limit = 3;
  EXPECT_FALSE(topic_list::page(query, topics({"a", "b", "c", "d", "e"}), &grants).more)
      << "exactly the limit left: no next page";
  EXPECT_EQ(topic_list::page({}, topics({"a", "b"}), nullptr).topics.size(), 2U);
}

TEST(TopicList, TheGaugeHasAThousandSeriesAtMostAndTheRestSummed) {
  std::vector<TopicState> many;
  std::vector<std::uint64_t> receivers;
  for (std::size_t i = 0; i < topic_list::kMaxGaugeTopics + 3; ++i) {
    many.push_back({"t" + std::to_string(10000 + i), "e", 1, 1, 0});
    receivers.push_back(i < topic_list::kMaxGaugeTopics ? 1 : 10);
  }
  const auto gauge = topic_list::receivers_gauge(many, receivers);
  EXPECT_NE(gauge.find("# TYPE kabar_topic_receivers gauge\n"), std::string::npos);
  EXPECT_NE(gauge.find("kabar_topic_receivers{topic=\"t10999\"} 1\n"), std::string::npos);
  EXPECT_EQ(gauge.find("t11000"), std::string::npos);
  EXPECT_NE(gauge.find("kabar_topic_receivers{topic=\"_other\"} 30\n"), std::string::npos);
  many.resize(2);
  EXPECT_EQ(topic_list::receivers_gauge(many, receivers).find("{topic=\"_other\"}"),
            std::string::npos);
}

}  // namespace
}  // namespace kabar::broker
