// Bad input against the real broker: each gets a precise answer, and everyone else is still
// served afterwards.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include "broker.hpp"
#include "client_support.hpp"
#include "raw_ws.hpp"

namespace kabar::test {
namespace {

// Sends `request` as it is and reads until the broker closes (or 5 s pass): everything it said,
// and whether it closed the connection.
struct RawHttp {
  std::string response;
  bool closed = false;
};
RawHttp raw_http(std::uint16_t port, const std::string& request) {
  const int fd = connect_loopback(port);
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  RawHttp result;
  char buffer[4096];
  for (;;) {
    const auto n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n == 0) result.closed = true;
    if (n <= 0) break;
    result.response.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return result;
}

std::string upgrade_request(const std::string& key) {
  return "GET /v1/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
         "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: kabar.v1.proto\r\n"
         "Sec-WebSocket-Key: " +
         key + "\r\n\r\n";
}

// A healthy subscriber and publisher, checked after each bad input.
class BadInput : public ::testing::Test {
 protected:
  BadInput() : broker_({"--max-message-bytes", "65536", "--max-article-bytes", "32768"}) {
    bystander_ = std::make_unique<Connected>(broker_.url(), "bystander");
    bystander_->subscribe("international", inbox_);
  }

  void ExpectOthersStillServed() {
    Connected publisher(broker_.url(), "after");
    const auto ack =
        publisher.publish(article("urn:after:" + std::to_string(++published_), {"international"}));
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
      {"International",
       "subscribe.topic 'International': segment 1 must start with a lowercase letter or digit"},
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
  EXPECT_EQ(publish(no_topics).error().message(),
            "the article has no topic: name one (article.topics, or ?topic= over HTTP), or tag it "
            "with a subject that --routes maps");
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

// RFC 9112 section 6.3: only a final "chunked" gives a request body a length this broker trusts;
// anything else is 400 and the connection closed (what follows could be smuggled as a request).
TEST_F(BadInput, ATransferEncodingOtherThanChunkedIsRefusedAndTheConnectionClosed) {
  for (const char* coding : {"gzip", "chunked, gzip", "gzip, chunked", "identity"}) {
    const auto result = raw_http(
        broker_.port(), std::string("GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ") +
                            coding + "\r\n\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(result.response.rfind("HTTP/1.1 400", 0), 0U) << coding << ": " << result.response;
    EXPECT_NE(result.response.find("Transfer-Encoding"), std::string::npos) << result.response;
    EXPECT_EQ(result.response.find("200 OK"), std::string::npos) << "a smuggled request was served";
    EXPECT_TRUE(result.closed) << coding;
  }
  const auto chunked = raw_http(broker_.port(),
                                "GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                                "Connection: close\r\n\r\n0\r\n\r\n");
  EXPECT_EQ(chunked.response.rfind("HTTP/1.1 200", 0), 0U) << chunked.response;
  ExpectOthersStillServed();
}

TEST_F(BadInput, ASecWebSocketKeyThatIsNotSixteenBytesOfBase64Gets400) {
  for (const char* key : {"short", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZR==",
                          "dGhlIHNhbXBsZSBub25j!Q==", "dGhlIHNhbXBsZSBub25jZQ==AA"}) {
    const auto result = raw_http(broker_.port(), upgrade_request(key));
    EXPECT_EQ(result.response.rfind("HTTP/1.1 400", 0), 0U) << key << ": " << result.response;
    EXPECT_NE(result.response.find("Sec-WebSocket-Key"), std::string::npos) << result.response;
  }
  EXPECT_EQ(upgrade_from_origin(broker_.port(), "").status, 101);  // a valid key, for contrast
  ExpectOthersStillServed();
}

TEST_F(BadInput, AMethodOtherThanGetGets405WithAllow) {
  const auto result =
      raw_http(broker_.port(), "DELETE /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(result.response.rfind("HTTP/1.1 405", 0), 0U) << result.response;
  EXPECT_NE(result.response.find("\r\nAllow: GET, HEAD\r\n"), std::string::npos) << result.response;
}

// What one connection's subscriptions keep is bounded: languages per filter, and bytes over all.
TEST_F(BadInput, SubscriptionStateIsBoundedPerConnection) {
  RawWebSocket ws(broker_.port());
  ws.connect();
  v1::ClientMessage message;
  message.set_id(5);
  message.mutable_subscribe()->set_topic("international");
  auto* filter = message.mutable_subscribe()->mutable_filter();
  for (int i = 0; i < 33; ++i) filter->add_languages("en");
  auto reply = Request(ws, message);
  ASSERT_TRUE(reply.has_error());
  EXPECT_EQ(reply.error().code(), v1::Error::BAD_REQUEST);
  EXPECT_NE(reply.error().message().find("more than 32 languages"), std::string::npos)
      << reply.error().message();
  filter->mutable_languages()->DeleteSubrange(0, 1);  // 32: the limit, accepted
  EXPECT_TRUE(Request(ws, message).has_subscribe());

  // Long patterns with full filters, until the connection's budget (512 KiB) says no.
  message.mutable_subscribe()->mutable_filter()->clear_languages();
  for (int i = 0; i < 32; ++i) filter->add_languages("abcdefgh-abcdefgh-abcdefgh-abcdefg");
  const std::string segment(63, 'a');
  bool refused = false;
  for (int i = 0; i < 1000 && !refused; ++i) {
    message.mutable_subscribe()->set_topic("d" + std::to_string(i) + "." + segment + "." + segment +
                                           "." + segment + "." + segment + ".>");
    reply = Request(ws, message);
    if (reply.has_error()) {
      refused = true;
      EXPECT_EQ(reply.error().code(), v1::Error::TOO_LARGE);
      EXPECT_NE(reply.error().message().find("budget"), std::string::npos)
          << reply.error().message();
      EXPECT_GT(i, 200);  // about 1.5 KiB each
    }
  }
  EXPECT_TRUE(refused);
  ExpectOthersStillServed();
}

TEST(Limits, AResumeListsAtMostTenThousandPositions) {
  BrokerProcess broker;  // 1 MiB messages: room for the positions
  RawWebSocket ws(broker.port());
  ws.connect();
  v1::ClientMessage message;
  message.set_id(6);
  message.mutable_subscribe()->set_topic("defense.>");
  for (int i = 0; i < 10'001; ++i) {
    message.mutable_subscribe()->mutable_resume()->add_positions()->set_topic("defense.t" +
                                                                              std::to_string(i));
  }
  ws.send(message);
  const auto reply = ws.read().message.reply();
  EXPECT_NE(reply.error().message().find("more than 10000 positions"), std::string::npos)
      << reply.DebugString();
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
