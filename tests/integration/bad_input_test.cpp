// Bad input against the real broker: each gets a precise answer, and everyone else is still
// served afterwards.
#include <gtest/gtest.h>

#include "broker.hpp"
#include "client_support.hpp"
#include "raw_ws.hpp"

namespace kabar::test {
namespace {

// A healthy subscriber and publisher, checked after each bad input.
class BadInput : public ::testing::Test {
 protected:
  BadInput() : broker_({"--max-message-bytes", "65536", "--max-article-bytes", "32768"}) {
    bystander_ = std::make_unique<Connected>(broker_.url(), "bystander");
    bystander_->subscribe("international", inbox_);
  }

  void ExpectOthersStillServed() {
    Connected publisher(broker_.url(), "after");
    const auto ack = publisher.publish(article("urn:after:" + std::to_string(++published_),
                                               {"international"}));
    EXPECT_EQ(ack.offsets(0).offset(), static_cast<std::uint64_t>(published_));
    EXPECT_TRUE(inbox_.wait_for(static_cast<std::size_t>(published_)));
  }

  v1::Reply Request(RawWebSocket& ws, const v1::ClientMessage& message) {
    ws.send(message);
    auto frame = ws.read();
    EXPECT_FALSE(frame.closed) << frame.close_reason;
    EXPECT_TRUE(frame.message.has_reply());
    return frame.message.reply();
  }

  BrokerProcess broker_;
  Inbox inbox_;
  std::unique_ptr<Connected> bystander_;
  int published_ = 0;
};

TEST_F(BadInput, TextFrameClosesWith1003) {
  RawWebSocket ws(broker_.port());
  ws.send_text("{\"publish\": {}}");
  const auto frame = ws.read();
  ASSERT_TRUE(frame.closed);
  EXPECT_EQ(frame.close_code, 1003);
  EXPECT_NE(frame.close_reason.find("text frames"), std::string::npos);
  ExpectOthersStillServed();
}

TEST_F(BadInput, BytesThatDoNotParseCloseWith1002AndAReason) {
  RawWebSocket ws(broker_.port());
  ws.send_binary(std::string("\xff\xff\xff\xff\x0f garbage", 13));
  const auto frame = ws.read();
  ASSERT_TRUE(frame.closed);
  EXPECT_EQ(frame.close_code, 1002);
  EXPECT_EQ(frame.close_reason, "frame is not a kabar.v1.ClientMessage");
  ExpectOthersStillServed();
}

TEST_F(BadInput, OversizedFrameClosesWith1009) {
  RawWebSocket ws(broker_.port());
  ws.connect();
  ws.send_binary(std::string(70'000, 'x'));
  const auto frame = ws.read();
  ASSERT_TRUE(frame.closed);
  EXPECT_EQ(frame.close_code, 1009);
  ExpectOthersStillServed();
}

TEST_F(BadInput, RequestBeforeConnectIsUnauthorized) {
  RawWebSocket ws(broker_.port());
  v1::ClientMessage message;
  message.set_id(41);
  message.mutable_subscribe()->set_topic("international");
  const auto reply = Request(ws, message);
  EXPECT_EQ(reply.id(), 41U);
  EXPECT_EQ(reply.error().code(), v1::Error::UNAUTHORIZED);
  EXPECT_EQ(reply.error().message(), "the first request on a connection must be Connect");
  ExpectOthersStillServed();
}

TEST_F(BadInput, ClientMessageWithNoRequestGetsBadRequestAndTheConnectionStaysOpen) {
  RawWebSocket ws(broker_.port());
  ws.connect();
  v1::ClientMessage empty;
  empty.set_id(9);
  const auto reply = Request(ws, empty);
  EXPECT_EQ(reply.id(), 9U);
  EXPECT_EQ(reply.error().code(), v1::Error::BAD_REQUEST);
  EXPECT_NE(reply.error().message().find("no request"), std::string::npos);
  v1::ClientMessage ping;
  ping.set_id(10);
  ping.mutable_ping();
  EXPECT_TRUE(Request(ws, ping).has_pong()) << "still open";
  ExpectOthersStillServed();
}

TEST_F(BadInput, InvalidTopicsAndPatternsAreRefusedWithTheReason) {
  RawWebSocket ws(broker_.port());
  ws.connect();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"International", "subscribe.topic 'International': segment 1 must start with a lowercase letter or digit"},
      {"defense.>.asia", "subscribe.topic 'defense.>.asia': '>' may only be the last segment"},
      {"", "subscribe.topic '': topic is empty"},
  };
  for (const auto& [topic, expected] : cases) {
    v1::ClientMessage message;
    message.set_id(1);
    message.mutable_subscribe()->set_topic(topic);
    const auto reply = Request(ws, message);
    EXPECT_EQ(reply.error().code(), v1::Error::BAD_REQUEST);
    EXPECT_EQ(reply.error().message(), expected);
  }
  ExpectOthersStillServed();
}

TEST_F(BadInput, InvalidPublishesAreRefusedAndNothingIsDelivered) {
  RawWebSocket ws(broker_.port());
  ws.connect();
  auto publish = [&](v1::Article a) {
    v1::ClientMessage message;
    message.set_id(5);
    *message.mutable_publish()->mutable_article() = std::move(a);
    return Request(ws, message);
  };
  auto no_topics = article("urn:x", {});
  EXPECT_EQ(publish(no_topics).error().message(), "article.topics needs at least one topic");
  EXPECT_EQ(publish(article("urn:x", {"defense.*"})).error().message(),
            "article.topics: 'defense.*': wildcards ('*', '>') are only allowed in subscriptions");
  EXPECT_EQ(publish(article("", {"international"})).error().message(), "article.id is required");
  auto huge = article("urn:huge", {"international"});
  huge.set_body(std::string(40'000, 'x'));
  EXPECT_EQ(publish(huge).error().code(), v1::Error::TOO_LARGE);
  v1::ClientMessage missing;
  missing.set_id(6);
  missing.mutable_publish();
  EXPECT_EQ(Request(ws, missing).error().message(), "publish.article is required");
  ExpectOthersStillServed();
  EXPECT_EQ(inbox_.items().size(), 1U) << "only the good article was delivered";
}

TEST_F(BadInput, RecoveryRequestsThatCannotBeMetAreRefusedPrecisely) {
  RawWebSocket ws(broker_.port());
  ws.connect();
  v1::ClientMessage message;
  message.set_id(3);
  message.mutable_subscribe()->set_topic("defense.>");
  message.mutable_subscribe()->mutable_since()->set_offset(10);
  auto reply = Request(ws, message);
  EXPECT_EQ(reply.error().code(), v1::Error::BAD_REQUEST);
  EXPECT_NE(reply.error().message().find("subscribe.since needs a plain topic"), std::string::npos);

  message.mutable_subscribe()->set_topic("defense");
  message.mutable_subscribe()->mutable_resume();
  reply = Request(ws, message);
  EXPECT_NE(reply.error().message().find("not both"), std::string::npos);

  message.mutable_subscribe()->clear_since();
  message.mutable_subscribe()->set_topic("defense.>");
  message.mutable_subscribe()->mutable_resume()->add_positions()->set_topic("Defense");
  reply = Request(ws, message);
  EXPECT_NE(reply.error().message().find("subscribe.resume topic 'Defense'"), std::string::npos);
  ExpectOthersStillServed();
}

TEST_F(BadInput, UpgradeWithoutTheSubprotocolGetsHttp400SayingSo) {
  const auto result = http_get(broker_.port(), "/v1/ws", "", true);
  EXPECT_EQ(result.status, 400);
  EXPECT_NE(result.body.find("subprotocol kabar.v1.proto"), std::string::npos);
  const auto other = http_get(broker_.port(), "/v1/ws", "chat", true);
  EXPECT_EQ(other.status, 400);
  ExpectOthersStillServed();
}

TEST(Http, HealthzAnswersOkAndUnknownPathsAre404) {
  BrokerProcess broker;
  EXPECT_EQ(http_get(broker.port(), "/healthz").status, 200);
  EXPECT_EQ(http_get(broker.port(), "/healthz").body, "ok\n");
  EXPECT_EQ(http_get(broker.port(), "/nope").status, 404);
  EXPECT_EQ(http_get(broker.port(), "/v1/ws").status, 426);
}

TEST(Liveness, APeerThatAnswersNothingIsDroppedAfterTheIdleTimeout) {
  BrokerProcess broker({"--idle-timeout-ms", "400"});
  RawWebSocket silent(broker.port());
  const auto started = Clock::now();
  EXPECT_TRUE(silent.wait_until_dropped(5s));
  EXPECT_GE(Clock::now() - started, 300ms);
}

TEST(Liveness, AClientThatAnswersPingsStaysConnectedPastTheIdleTimeout) {
  BrokerProcess broker({"--idle-timeout-ms", "400"});
  Connected reader(broker.url());
  Inbox inbox;
  reader.subscribe("international", inbox);
  // Wait out several idle periods on the broker's own clock: its log shows pings answered by
  // the connection staying open.
  EXPECT_FALSE(broker.process().wait_for_output("ended", 1500ms));
  Connected publisher(broker.url());
  publisher.publish(article("urn:still-here", {"international"}));
  EXPECT_TRUE(inbox.wait_for(1));
}

}  // namespace
}  // namespace kabar::test
