// The HTTP read path's query parsing and answers, without sockets.
#include "net/history_query.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <vector>

#include "net/query_string.hpp"

namespace kabar::broker {
namespace {

using Parsed = std::variant<history_query::Query, std::string>;

std::string error_of(const Parsed& parsed) {
  const auto* error = std::get_if<std::string>(&parsed);
  return error != nullptr ? *error : "";
}

TEST(QueryString, VisitsEachParameterInOrderAndStopsWhenAsked) {
  std::vector<std::string> seen;
  for_each_query_parameter("/p?a=1&&b&c=x=y&d=4",
                           [&](std::string_view key, std::string_view value) {
                             seen.push_back(std::string(key) + ":" + std::string(value));
                             return key != "c";
                           });
  EXPECT_EQ(seen, (std::vector<std::string>{"a:1", "b:", "c:x=y"}));
  seen.clear();
  for_each_query_parameter("/no/query", [&](std::string_view, std::string_view) {
    seen.emplace_back("called");
    return true;
  });
  EXPECT_TRUE(seen.empty());
}

TEST(HistoryQuery, ReadsTopicSinceAndLimit) {
  EXPECT_TRUE(history_query::matches("/v1/topics/defense.asia/articles"));
  EXPECT_FALSE(history_query::matches("/v1/topics//articles"));
  EXPECT_FALSE(history_query::matches("/v1/topics/defense"));
  const auto parsed = history_query::parse("/v1/topics/defense.asia/articles?since=7&limit=1000");
  ASSERT_EQ(error_of(parsed), "");
  const auto& query = std::get<history_query::Query>(parsed);
  EXPECT_EQ(query.topic, "defense.asia");
  EXPECT_EQ(query.since, 7U);
  EXPECT_EQ(query.limit, 1000U);
  const auto defaults =
      std::get<history_query::Query>(history_query::parse("/v1/topics/a/articles"));
  EXPECT_EQ(defaults.since, 0U);
  EXPECT_EQ(defaults.limit, 100U);
  EXPECT_EQ(error_of(history_query::parse("/v1/topics/a/articles?access_token=x.y.z")), "");
}

TEST(HistoryQuery, RefusesEachBadParameterSayingWhich) {
  EXPECT_EQ(error_of(history_query::parse("/v1/topics/a/articles?limit=0")),
            "limit must be a whole number from 1 to 1000, not '0'");
  EXPECT_EQ(error_of(history_query::parse("/v1/topics/a/articles?limit=1001")),
            "limit must be a whole number from 1 to 1000, not '1001'");
  EXPECT_EQ(error_of(history_query::parse("/v1/topics/a/articles?since=-1")),
            "since must be an offset (a whole number >= 0), not '-1'");
  EXPECT_EQ(error_of(history_query::parse("/v1/topics/a/articles?since=99999999999999999999")),
            "since must be an offset (a whole number >= 0), not '99999999999999999999'");
  EXPECT_EQ(error_of(history_query::parse("/v1/topics/a/articles?offset=3")),
            "unknown query parameter 'offset' (use since and limit)");
  EXPECT_NE(error_of(history_query::parse("/v1/topics/Defense/articles")), "");
}

TEST(HistoryQuery, AnswersNotFoundUnavailableOrAPageThatSaysMore) {
  const history_query::Query query{"defense", 0, 10};
  ReadResult unavailable;
  unavailable.not_recoverable = "the store could not be read: disk I/O error";
  EXPECT_EQ(history_query::answer(query, unavailable, history_query::Format::kJson).status, 503U);
  ReadResult never;
  never.batch = std::make_shared<DeliveryBatch>();
  const auto not_found = history_query::answer(query, never, history_query::Format::kJson);
  EXPECT_EQ(not_found.status, 404U);
  EXPECT_EQ(not_found.body, "no article was ever stored in topic 'defense'\n");
  ReadResult partial;
  partial.batch = std::make_shared<DeliveryBatch>();
  partial.topics.push_back({"defense", "e1", 1, 20, 0});
  partial.complete = false;
  const auto page = history_query::answer(query, partial, history_query::Format::kJson);
  EXPECT_EQ(page.status, 200U);
  EXPECT_EQ(page.content_type, "application/json");
  EXPECT_NE(page.body.find("\"more\":true"), std::string::npos) << page.body;
  EXPECT_EQ(history_query::answer(query, partial, history_query::Format::kProtobuf).content_type,
            "application/x-protobuf");
}

TEST(HistoryQuery, TheAcceptHeaderChoosesTheFormat) {
  using history_query::Format;
  EXPECT_EQ(history_query::format_for(""), Format::kJson);
  EXPECT_EQ(history_query::format_for("*/*"), Format::kJson);
  EXPECT_EQ(history_query::format_for("application/json"), Format::kJson);
  EXPECT_EQ(history_query::format_for("application/x-protobuf"), Format::kProtobuf);
  EXPECT_EQ(history_query::format_for("application/ninjs+json, application/json;q=0.5"),
            Format::kNinjs);
}

TEST(HistoryQuery, ANinjsPageCarriesTheTopicInHeadersAndLinksTheNextPage) {
  const history_query::Query query{"defense", 0, 2};
  auto batch = std::make_shared<DeliveryBatch>();
  for (const std::uint64_t offset : {1U, 2U}) {
    v1::ServerMessage message;
    auto& delivery = *message.add_deliveries();
    delivery.set_offset(offset);
    delivery.mutable_article()->set_id("urn:a:" + std::to_string(offset));
    auto& ref = batch->deliveries.emplace_back();
    ref.begin = batch->bytes.size();
    batch->bytes += message.SerializeAsString();
    ref.size = batch->bytes.size() - ref.begin;
  }
  ReadResult partial;
  partial.batch = batch;
  partial.topics.push_back({"defense", "e1", 1, 20, 0});
  partial.complete = false;
  const auto page = history_query::answer(query, partial, history_query::Format::kNinjs);
  EXPECT_EQ(page.status, 200U);
  EXPECT_EQ(page.content_type, "application/ninjs+json");
  const auto doc = nlohmann::json::parse(page.body);
  ASSERT_EQ(doc.size(), 2U);
  EXPECT_EQ(doc[1]["uri"], "urn:a:2");
  using Headers = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(page.headers,
            (Headers{{"Kabar-Epoch", "e1"},
                     {"Kabar-First-Offset", "1"},
                     {"Kabar-Last-Offset", "20"},
                     {"Link", "</v1/topics/defense/articles?since=2&limit=2>; rel=\"next\""}}));
  partial.complete = true;
  EXPECT_EQ(history_query::answer(query, partial, history_query::Format::kNinjs).headers.size(), 3U)
      << "no next page";
}

TEST(HistoryQuery, APageIsReadUpToItsByteBound) {
  const auto request = history_query::read_request({"defense", 5, 1000});
  EXPECT_EQ(request.max_bytes, history_query::kMaxPageBytes);
  EXPECT_EQ(request.max_count, 1000U);
  EXPECT_FALSE(request.check_from);
  ASSERT_EQ(request.from.size(), 1U);
  EXPECT_EQ(request.from[0].position().offset(), 5U);
}

}  // namespace
}  // namespace kabar::broker
