// GET /v1/topics, GET /v1/topics/{topic} and kabar_topic_receivers against the real broker:
// the store's topics with their positions, and the connections receiving each, counted once per
// connection over every I/O thread.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "broker.hpp"
#include "client_support.hpp"
#include "http_connection.hpp"
#include "tokens.hpp"

namespace kabar::test {
namespace {

using nlohmann::json;

std::string ninjs(const std::string& uri) {
  return json{{"uri", uri}, {"headline", "h"}}.dump();
}

// A GET on a connection of its own: the broker closes one after a refusal.
HttpAnswer get(const BrokerProcess& broker, const std::string& target,
               const std::string& headers = {}) {
  HttpConnection connection(broker.port());
  return connection.request("GET", target, {}, headers);
}

json topic_named(const json& list, const std::string& name) {
  for (const auto& topic : list["topics"]) {
    if (topic["topic"] == name) return topic;
  }
  return {};
}

TEST(Topics, ListsEveryTopicWithItsPositionsAndReceiversCountedOncePerConnection) {
  BrokerProcess broker({"--threads", "2", "--retention-count", "2", "--retention-sweep-ms", "50"});
  HttpConnection cms(broker.port());
  EXPECT_EQ(cms.request("GET", "/v1/topics").body, "{\"topics\":[]}\n") << "nothing stored yet";
  // Readers spread over both I/O threads; one of them subscribed twice to the same topic.
  Connected twice(broker.url(), "twice");
  Connected asia(broker.url(), "asia");
  Connected everything(broker.url(), "everything");
  Inbox inbox;
  twice.subscribe("defense.asia", inbox);
  twice.subscribe("defense.>", inbox);
  asia.subscribe("*.asia", inbox);
  everything.subscribe(">", inbox);
  for (int i = 1; i <= 3; ++i) {
    const auto body = ninjs("urn:test:t:" + std::to_string(i));
    ASSERT_EQ(cms.post("/v1/articles?topic=defense.asia", "application/json", body).status, 201);
  }
  ASSERT_EQ(
      cms.post("/v1/articles?topic=international", "application/json", ninjs("urn:test:i")).status,
      201);

  // Retention trims offset 1 of defense.asia on its next sweep.
  HttpAnswer answer;
  json list;
  for (int i = 0; i < 100; ++i) {
    answer = get(broker, "/v1/topics");
    ASSERT_EQ(answer.status, 200) << answer.body;
    list = json::parse(answer.body);
    if (topic_named(list, "defense.asia")["firstOffset"] == "2") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(answer.header("content-type"), "application/json");
  ASSERT_EQ(list["topics"].size(), 2U) << answer.body;
  EXPECT_EQ(list["topics"][0]["topic"], "defense.asia") << "sorted by name";
  const auto defense = topic_named(list, "defense.asia");
  EXPECT_EQ(defense["receivers"], "3") << "twice counted once, asia, everything";
  EXPECT_EQ(defense["lastOffset"], "3");
  EXPECT_EQ(defense["firstOffset"], "2") << "--retention-count 2 trimmed offset 1";
  EXPECT_EQ(defense["articles"], "2");
  EXPECT_FALSE(defense["epoch"].get<std::string>().empty());
  EXPECT_FALSE(defense["lastArticleAt"].get<std::string>().empty());
  const auto international = topic_named(list, "international");
  EXPECT_EQ(international["receivers"], "1");
  EXPECT_EQ(international["articles"], "1");

  // One topic; a reader leaving is counted out.
  twice.unsubscribe("defense.>");
  auto one = get(broker, "/v1/topics/defense.asia");
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_EQ(json::parse(one.body)["receivers"], "3") << "still subscribed to defense.asia";
  twice.unsubscribe("defense.asia");
  one = get(broker, "/v1/topics/defense.asia");
  EXPECT_EQ(json::parse(one.body)["receivers"], "2");
  EXPECT_EQ(get(broker, "/v1/topics/sports").status, 404);

  // The same counts in /metrics.
  const auto metrics = get(broker, "/metrics").body;
  EXPECT_NE(metrics.find("kabar_topic_receivers{topic=\"defense.asia\"} 2\n"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("kabar_topic_receivers{topic=\"international\"} 1\n"), std::string::npos);
}

TEST(Topics, BadQueriesAreRefusedSayingWhyAndPagesLinkOn) {
  BrokerProcess broker;
  HttpConnection cms(broker.port());
  for (const char* topic : {"a", "b", "c"}) {
    ASSERT_EQ(cms.post(std::string("/v1/articles?topic=") + topic, "application/json",
                       ninjs(std::string("urn:test:") + topic))
                  .status,
              201);
  }
  auto page = cms.request("GET", "/v1/topics?limit=2");
  ASSERT_EQ(page.status, 200);
  EXPECT_EQ(json::parse(page.body)["topics"].size(), 2U);
  EXPECT_EQ(page.header("link"), "</v1/topics?after=b&limit=2>; rel=\"next\"");
  page = cms.request("GET", "/v1/topics?after=b&limit=2");
  EXPECT_EQ(json::parse(page.body)["topics"][0]["topic"], "c");
  EXPECT_EQ(page.header("link"), "");

  const auto refused = [&](const std::string& target, const std::string& why) {
    const auto answer = get(broker, target);
    EXPECT_EQ(answer.status, 400) << target;
    EXPECT_EQ(answer.body, why + "\n") << target;
  };
  refused("/v1/topics?limit=0", "limit must be a whole number from 1 to 1000, not '0'");
  refused("/v1/topics?limit=1001", "limit must be a whole number from 1 to 1000, not '1001'");
  refused(
      "/v1/topics?after=Bad",
      "after must be a topic name: 'Bad': segment 1 must start with a lowercase letter or digit");
  refused("/v1/topics?sort=name", "unknown query parameter 'sort' (use after and limit)");
  refused("/v1/topics/a?limit=1", "unknown query parameter 'limit' (a topic takes none)");
  EXPECT_EQ(get(broker, "/v1/topics/Bad").status, 400);
  HttpConnection poster(broker.port());
  EXPECT_EQ(poster.request("POST", "/v1/topics").status, 405);
}

TEST(Topics, ATokenSeesTheTopicsItMaySubscribeTo) {
  const std::string secret = "an HS256 secret of at least 32 bytes, for tests";
  TempDir dir;
  BrokerProcess broker(hs256_secret_flags(dir, secret));
  HttpConnection cms(broker.port());
  const auto publisher = "Authorization: Bearer " +
                         sign_hs256(grants(seconds_from_now(600), {">"}, {}), secret) + "\r\n";
  for (const char* topic : {"defense", "defense.asia", "sports"}) {
    ASSERT_EQ(cms.post(std::string("/v1/articles?topic=") + topic, "application/json",
                       ninjs(std::string("urn:test:") + topic), publisher)
                  .status,
              201);
  }
  EXPECT_EQ(get(broker, "/v1/topics").status, 401);
  const auto reader =
      "Authorization: Bearer " +
      sign_hs256(grants(seconds_from_now(600), {}, {"defense", "defense.>"}), secret) + "\r\n";
  const auto list = json::parse(get(broker, "/v1/topics", reader).body);
  ASSERT_EQ(list["topics"].size(), 2U);
  EXPECT_EQ(list["topics"][0]["topic"], "defense");
  EXPECT_EQ(list["topics"][1]["topic"], "defense.asia");
  EXPECT_EQ(get(broker, "/v1/topics/sports", reader).status, 403);
  EXPECT_EQ(get(broker, "/v1/topics/defense", reader).status, 200);
}

TEST(Topics, TheGaugeKeepsAThousandTopicsAndSumsTheRestAsOther) {
  BrokerProcess broker({"--publish-rate", "0"});
  HttpConnection cms(broker.port());
  Connected everything(broker.url(), "everything");
  Inbox inbox;
  everything.subscribe(">", inbox);
  // 1 005 topics: t0000 ... t1004, each with one article.
  for (int i = 0; i < 1005; ++i) {
    char topic[8];
    std::snprintf(topic, sizeof topic, "t%04d", i);
    ASSERT_EQ(cms.post(std::string("/v1/articles?topic=") + topic, "application/json",
                       ninjs(std::string("urn:test:") + topic))
                  .status,
              201);
  }
  const auto metrics = cms.request("GET", "/metrics").body;
  EXPECT_NE(metrics.find("kabar_topic_receivers{topic=\"t0999\"} 1\n"), std::string::npos);
  EXPECT_EQ(metrics.find("kabar_topic_receivers{topic=\"t1000\"}"), std::string::npos)
      << "past the first 1 000 topics";
  EXPECT_NE(metrics.find("kabar_topic_receivers{topic=\"_other\"} 5\n"), std::string::npos);
  // The list pages through all of them.
  const auto first = cms.request("GET", "/v1/topics");
  EXPECT_EQ(json::parse(first.body)["topics"].size(), 1000U);
  EXPECT_EQ(first.header("link"), "</v1/topics?after=t0999&limit=1000>; rel=\"next\"");
}

}  // namespace
}  // namespace kabar::test
