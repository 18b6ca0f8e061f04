// POST /v1/articles against the real broker: ninjs or protobuf in, the PublishResult (or a JSON
// error) out, on keep-alive connections, with the WebSocket Publish's validation and limits.
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "broker.hpp"
#include "client_support.hpp"
#include "http_connection.hpp"
#include "raw_ws.hpp"
#include "tokens.hpp"

namespace kabar::test {
namespace {

using nlohmann::json;

constexpr std::string_view kNinjs = "application/json";
constexpr std::string_view kBothTopics = "/v1/articles?topic=international&topic=defense";

std::string fixture(const std::string& name) {
  std::ifstream file(fixtures_dir() + "/" + name, std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

std::string ninjs(const std::string& uri, const std::string& headline, std::size_t body_bytes = 0) {
  json doc = {{"uri", uri}, {"headlines", {{{"role", "main"}, {"value", headline}}}}};
  if (body_bytes > 0) doc["bodies"] = {{{"role", "main"}, {"value", std::string(body_bytes, 'x')}}};
  return doc.dump();
}

double sample(const std::string& exposition, const std::string& series) {
  const auto at = exposition.find("\n" + series + " ");
  if (at == std::string::npos) return 0;
  return std::stod(exposition.substr(at + series.size() + 2));
}

// The broker's limits are small here, so that the over-limit bodies stay small too.
class HttpPublish : public ::testing::Test {
 protected:
  HttpPublish() : broker_({"--max-message-bytes", "65536", "--max-article-bytes", "32768"}) {}
  BrokerProcess broker_;
};

TEST_F(HttpPublish, PostsEveryFixtureOnOneConnectionAndReadsThemBack) {
  Connected reader(broker_.url(), "reader");
  Inbox inbox;
  reader.subscribe("defense", inbox);
  HttpConnection cms(broker_.port());
  const std::vector<std::string> fixtures = {"korea-utara-pasukan-rusia.json",
                                             "pakistan-ancam-india.json",
                                             "korea-utara-pasukan-rusia.v2.json"};
  for (std::size_t i = 0; i < fixtures.size(); ++i) {
    const auto answer = cms.post(kBothTopics, kNinjs, fixture(fixtures[i]));
    ASSERT_EQ(answer.status, 201) << answer.body;
    EXPECT_EQ(answer.header("content-type"), "application/json");
    const auto result = json::parse(answer.body);
    EXPECT_EQ(result["duplicate"], false);
    EXPECT_EQ(result["offsets"][0]["topic"], "international");
    EXPECT_EQ(result["offsets"][0]["offset"], std::to_string(i + 1));  // uint64: a string
    EXPECT_EQ(result["offsets"][1]["topic"], "defense");
  }
  // The same id and version again: stored already, 200 and nothing sent.
  const auto again = cms.post(kBothTopics, "application/ninjs+json; charset=utf-8",
                              fixture("korea-utara-pasukan-rusia.json"));
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(json::parse(again.body)["duplicate"], true);

  ASSERT_TRUE(inbox.wait_for(3));
  EXPECT_EQ(inbox.items()[0].article().headline(),
            "Korea Utara Akui Kirim Pasukan Tempur ke Rusia");
  EXPECT_EQ(inbox.items()[2].article().version(), 2U);
  const auto history = cms.request("GET", "/v1/topics/international/articles?since=0");
  ASSERT_EQ(history.status, 200);
  const auto page = json::parse(history.body);
  ASSERT_EQ(page["deliveries"].size(), 3U);
  EXPECT_EQ(page["deliveries"][1]["article"]["id"],
            "urn:example:ikolom:2025-04-28:pakistan-ancam-india");
  EXPECT_EQ(page["deliveries"][1]["article"]["urgency"], 1);
}

TEST_F(HttpPublish, AProtobufArticleKeepsItsTopicsAndGetsTheQuerys) {
  HttpConnection cms(broker_.port());
  const auto body = article("urn:test:proto", {"international"}).SerializeAsString();
  const auto answer = cms.post("/v1/articles?topic=defense.asia", "application/x-protobuf", body);
  ASSERT_EQ(answer.status, 201) << answer.body;
  const auto result = json::parse(answer.body);
  ASSERT_EQ(result["offsets"].size(), 2U);
  EXPECT_EQ(result["offsets"][0]["topic"], "international");
  EXPECT_EQ(result["offsets"][1]["topic"], "defense.asia");
}

TEST_F(HttpPublish, RefusalsAreJsonWithTheirStatusAndTheConnectionGoesOn) {
  HttpConnection cms(broker_.port());
  const auto refused = [&](const HttpAnswer& answer, int status, const std::string& code,
                           const std::string& says) {
    EXPECT_EQ(answer.status, status) << answer.body;
    EXPECT_EQ(answer.header("content-type"), "application/json");
    const auto error = json::parse(answer.body);
    EXPECT_EQ(error["code"], code);
    EXPECT_NE(error["message"].get<std::string>().find(says), std::string::npos) << answer.body;
  };
  refused(cms.post("/v1/articles", kNinjs, ninjs("urn:test:a", "A")), 400, "BAD_REQUEST",
          "the article has no topic: name one (article.topics, or ?topic= over HTTP), or tag it "
          "with a subject that --routes maps");
  refused(cms.post("/v1/articles?topic=Bad", kNinjs, ninjs("urn:test:a", "A")), 400, "BAD_REQUEST",
          "Bad");
  refused(cms.post("/v1/articles?topic=x&sort=new", kNinjs, ninjs("urn:test:a", "A")), 400,
          "BAD_REQUEST", "unknown query parameter 'sort'");
  refused(cms.post("/v1/articles?topic=x", kNinjs, "{\"uri\": \"urn:test:a\",\n \"headl"), 400,
          "BAD_REQUEST", "line 2, column 8");
  refused(cms.post("/v1/articles?topic=x", kNinjs, "{\"uri\": 7, \"headlines\": []}"), 400,
          "BAD_REQUEST", "'uri'");
  refused(cms.post("/v1/articles?topic=x", "application/x-protobuf", "\xff\xff\xff"), 400,
          "BAD_REQUEST", "not a binary kabar.v1.Article");
  refused(cms.post("/v1/articles?topic=x", "text/plain", "hello"), 415, "BAD_REQUEST",
          "Content-Type 'text/plain'");
  refused(cms.request("POST", "/v1/articles?topic=x", "{}"), 415, "BAD_REQUEST", "no Content-Type");
  // Over --max-article-bytes (32 KiB) but under --max-message-bytes (64 KiB): read, then refused.
  refused(cms.post("/v1/articles?topic=x", kNinjs, ninjs("urn:test:big", "Big", 40000)), 413,
          "TOO_LARGE", "");
  const auto get = cms.request("GET", "/v1/articles");
  EXPECT_EQ(get.status, 405);
  EXPECT_EQ(get.header("allow"), "POST");

  const auto published = cms.post("/v1/articles?topic=x", kNinjs, ninjs("urn:test:ok", "Fine"));
  EXPECT_EQ(published.status, 201) << "the connection survived every refusal";
  const auto metrics = cms.request("GET", "/metrics").body;
  EXPECT_EQ(sample(metrics, "kabar_rejected_total{reason=\"unsupported_media_type\"}"), 2);
  EXPECT_EQ(sample(metrics, "kabar_rejected_total{reason=\"too_large\"}"), 1);
  EXPECT_EQ(sample(metrics, "kabar_rejected_total{reason=\"bad_request\"}"), 6);
  EXPECT_EQ(sample(metrics, "kabar_publishes_total"), 1);
}

TEST_F(HttpPublish, ABodyOverTheLimitIsRefusedBeforeItIsSent) {
  HttpConnection cms(broker_.port());
  // The headers alone: were the broker waiting for the 10 MB announced, no answer would come.
  cms.send_raw(
      "POST /v1/articles?topic=x HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 10000000\r\n\r\n");
  const auto answer = cms.read_answer();
  EXPECT_EQ(answer.status, 413);
  EXPECT_EQ(json::parse(answer.body)["code"], "TOO_LARGE");
  EXPECT_NE(answer.body.find("over the limit of 65536 bytes"), std::string::npos) << answer.body;
  EXPECT_TRUE(cms.closed_by_broker());
}

TEST_F(HttpPublish, ABodyOverTheLimitSentAnywayStillGetsItsAnswer) {
  HttpConnection cms(broker_.port());
  std::string request =
      "POST /v1/articles?topic=x HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 1000000\r\n\r\n";
  request.append(1000000, 'x');  // sent whole before reading: the broker drains it, no reset
  cms.send_raw(request);
  EXPECT_EQ(cms.read_answer().status, 413);
}

TEST_F(HttpPublish, ChunkedBodiesAreReadAndBounded) {
  HttpConnection cms(broker_.port());
  const auto body = ninjs("urn:test:chunked", "Sent in chunks");
  const auto half = body.size() / 2;
  std::ostringstream chunked;
  chunked << std::hex << half << "\r\n"
          << body.substr(0, half) << "\r\n"
          << body.size() - half << "\r\n"
          << body.substr(half) << "\r\n0\r\n\r\n";
  cms.send_raw(
      "POST /v1/articles?topic=x HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n" +
      chunked.str());
  EXPECT_EQ(cms.read_answer().status, 201);

  std::string big =
      "POST /v1/articles?topic=x HTTP/1.1\r\nHost: x\r\nContent-Type: "
      "application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 20; ++i) big += "1000\r\n" + std::string(0x1000, ' ') + "\r\n";
  big += "0\r\n\r\n";
  cms.send_raw(big);
  const auto refused = cms.read_answer();
  EXPECT_EQ(refused.status, 413) << refused.body;
}

TEST_F(HttpPublish, ExpectContinueIsAnsweredBeforeTheBody) {
  HttpConnection cms(broker_.port());
  const auto body = ninjs("urn:test:continue", "Asked first");
  cms.send_raw(
      "POST /v1/articles?topic=x HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Expect: 100-continue\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n");
  EXPECT_EQ(cms.read_answer().status, 100);
  cms.send_raw(body);
  EXPECT_EQ(cms.read_answer().status, 201);
}

TEST(HttpPublishLimits, OverThePublishRateIs429WithRetryAfter) {
  BrokerProcess broker({"--publish-rate", "1"});
  HttpConnection cms(broker.port());
  EXPECT_EQ(cms.post("/v1/articles?topic=x", kNinjs, ninjs("urn:test:1", "One")).status, 201);
  const auto limited = cms.post("/v1/articles?topic=x", kNinjs, ninjs("urn:test:2", "Two"));
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(limited.header("retry-after"), "1");
  EXPECT_EQ(json::parse(limited.body)["code"], "RATE_LIMITED");
}

TEST(HttpPublishLimits, TokensAndGrantsApplyAsToAWebSocketPublisher) {
  const std::string secret = "an HS256 secret of at least 32 bytes, for tests";
  TempDir dir;
  BrokerProcess broker(hs256_secret_flags(dir, secret));
  HttpConnection cms(broker.port());
  const auto body = ninjs("urn:test:auth", "Authorised");
  const auto none = cms.post("/v1/articles?topic=defense", kNinjs, body);
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(json::parse(none.body)["code"], "UNAUTHORIZED");
  const auto forged =
      cms.post("/v1/articles?topic=defense", kNinjs, body, "Authorization: Bearer not.a.token\r\n");
  EXPECT_EQ(forged.status, 401);
  const auto token = sign_hs256(grants(seconds_from_now(600), {"defense"}, {}), secret);
  const auto bearer = "Authorization: Bearer " + token + "\r\n";
  const auto elsewhere = cms.post("/v1/articles?topic=international", kNinjs, body, bearer);
  EXPECT_EQ(elsewhere.status, 403);
  EXPECT_NE(elsewhere.body.find("does not grant publishing to 'international'"), std::string::npos);
  EXPECT_EQ(cms.post("/v1/articles?topic=defense", kNinjs, body, bearer).status, 201);
}

TEST(HttpPublishLimits, ACmsPostsAThousandArticlesOnOneConnection) {
  BrokerProcess broker({"--durability", "relaxed", "--publish-rate", "0"});
  HttpConnection cms(broker.port());
  const auto started = std::chrono::steady_clock::now();
  for (int i = 1; i <= 1000; ++i) {
    const auto answer = cms.post("/v1/articles?topic=wire", kNinjs,
                                 ninjs("urn:test:wire:" + std::to_string(i), "Wire story"));
    ASSERT_EQ(answer.status, 201) << i << ": " << answer.body;
  }
  const auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started);
  std::printf("1 000 POSTs on one connection in %.2f s (debug build, sanitizers)\n",
              elapsed.count());
  const auto history = cms.request("GET", "/v1/topics/wire/articles?since=999");
  EXPECT_EQ(json::parse(history.body)["lastOffset"], "1000");
}

// --routes: a CMS that tags a story with IPTC subjects reaches kabar's topics through the
// table, over HTTP and over the WebSocket alike; SIGHUP reads the table again without dropping
// a connection, and a bad table on SIGHUP leaves the previous one in force.
TEST(RoutingBySubject, SubjectsAddTopicsAndSighupReloadsTheTable) {
  TempDir dir;
  const auto table = dir.path() / "routes.toml";
  const auto write_table = [&](const std::string& text) {
    std::ofstream(table, std::ios::binary | std::ios::trunc) << text;
  };
  write_table(
      "[subjects]\n\"medtop:20000053\" = \"defense\"\n"
      "\"armed conflict\" = [\"defense\", \"international\"]\n");
  BrokerProcess broker({"--routes", table.string()});
  Connected reader(broker.url(), "reader");
  Inbox inbox;
  reader.subscribe("defense", inbox);
  HttpConnection cms(broker.port());
  const auto tagged = [](const std::string& uri, const json& subjects) {
    auto doc = json::parse(ninjs(uri, "Tagged " + uri));
    doc["subjects"] = subjects;
    return doc.dump();
  };
  const auto topics_of = [](const HttpAnswer& answer) {
    std::vector<std::string> topics;
    const auto result = json::parse(answer.body);
    for (const auto& offset : result["offsets"]) topics.push_back(offset["topic"]);
    return topics;
  };

  // No topic named: the subject's code routes it.
  auto answer = cms.post("/v1/articles", kNinjs,
                         tagged("urn:r:1", {{{"code", "medtop:20000053"}, {"rel", "about"}}}));
  ASSERT_EQ(answer.status, 201) << answer.body;
  EXPECT_EQ(topics_of(answer), std::vector<std::string>{"defense"});
  // Named topics first, then the routed ones, each once; the name matches without case.
  answer = cms.post("/v1/articles?topic=world&topic=defense", kNinjs,
                    tagged("urn:r:2", {{{"name", "Armed Conflict"}}}));
  ASSERT_EQ(answer.status, 201) << answer.body;
  EXPECT_EQ(topics_of(answer), (std::vector<std::string>{"world", "defense", "international"}));
  // A subject the table does not know, and no topic: refused, saying why.
  const auto sport = tagged("urn:r:3", {{{"code", "medtop:15000000"}, {"name", "sport"}}});
  answer = cms.post("/v1/articles", kNinjs, sport);
  ASSERT_EQ(answer.status, 400) << answer.body;
  EXPECT_EQ(json::parse(answer.body)["message"],
            "article.topics is empty and none of its 1 subjects ('medtop:15000000') is in the "
            "routing table: name a topic, or map a subject in --routes");

  // Over the WebSocket too.
  Connected publisher(broker.url(), "publisher");
  auto routed = article("urn:r:ws", {});
  routed.add_subjects()->set_uri("medtop:20000053");
  const auto ack = publisher.publish(routed);
  ASSERT_EQ(ack.offsets_size(), 1);
  EXPECT_EQ(ack.offsets(0).topic(), "defense");

  // SIGHUP: the new table routes sport; nobody is disconnected.
  write_table("[subjects]\n\"medtop:15000000\" = \"sport\"\n\"medtop:20000053\" = \"defense\"\n");
  broker.process().signal(SIGHUP);
  ASSERT_TRUE(broker.process().wait_for_output(
      "routing table " + table.string() + " reloaded (2 subjects)", 5s));
  answer = cms.post("/v1/articles", kNinjs, sport);
  ASSERT_EQ(answer.status, 201) << answer.body;
  EXPECT_EQ(topics_of(answer), std::vector<std::string>{"sport"});

  // A bad table on SIGHUP: an error logged, the previous table stays.
  write_table("[subjects]\n\"medtop:15000000\" = \"Not A Topic\"\n");
  broker.process().signal(SIGHUP);
  ASSERT_TRUE(broker.process().wait_for_output("routing table not reloaded", 5s));
  EXPECT_NE(broker.process().out().find(table.string() + ":2: topic 'Not A Topic'"),
            std::string::npos)
      << broker.process().out();
  answer = cms.post("/v1/articles", kNinjs, tagged("urn:r:4", {{{"code", "medtop:15000000"}}}));
  ASSERT_EQ(answer.status, 201) << answer.body;
  EXPECT_EQ(topics_of(answer), std::vector<std::string>{"sport"});

  // The reader, connected throughout, got each story routed to defense.
  ASSERT_TRUE(inbox.wait_for(3)) << inbox.items().size();
  EXPECT_EQ(inbox.items()[2].article().id(), "urn:r:ws");
}

// A routing table that does not parse stops the broker at startup, naming the line.
TEST(RoutingBySubject, ABadTableAtStartupIsAConfigurationError) {
  TempDir dir;
  const auto table = dir.path() / "routes.toml";
  std::ofstream(table) << "[subjects]\nx = 3\n";
  const auto refused = run({broker_path(), "--listen", "127.0.0.1:0", "--routes", table.string()});
  EXPECT_EQ(refused.status, 1);
  EXPECT_NE(refused.out.find(table.string() + ":2: 'x' must map to a topic or an array of topics"),
            std::string::npos)
      << refused.out << refused.err;
}

}  // namespace
}  // namespace kabar::test
