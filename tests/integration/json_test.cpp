// kabar.v1.json, the browsers' subprotocol, against the real broker: the same messages in
// protobuf's JSON mapping, one per text frame, with the same validation, errors and recovery as
// kabar.v1.proto, and binary clients served beside it.
#include <gtest/gtest.h>

#include "broker.hpp"
#include "client_support.hpp"
#include "raw_ws.hpp"

namespace kabar::test {
namespace {

class JsonProtocol : public ::testing::Test {
 protected:
  // Sends one JSON request and returns the reply that answers it.
  static v1::Reply request(RawWebSocket& ws, const std::string& json) {
    ws.send_text(json);
    const auto frame = ws.read();
    EXPECT_FALSE(frame.closed) << frame.close_code << " " << frame.close_reason;
    EXPECT_TRUE(frame.text) << "a reply on kabar.v1.json comes as a text frame";
    EXPECT_TRUE(frame.message.has_reply()) << frame.json;
    return frame.message.reply();
  }

  static void connect(RawWebSocket& ws) {
    const auto reply = request(ws, R"({"id": 1, "connect": {"clientName": "desk"}})");
    ASSERT_TRUE(reply.has_connect()) << reply.DebugString();
  }

  BrokerProcess broker_;
};

TEST_F(JsonProtocol, AReaderSpeakingJsonSubscribesAndGetsEachDeliveryAsAJsonTextFrame) {
  RawWebSocket ws(broker_.port(), "kabar.v1.json");
  EXPECT_EQ(ws.subprotocol(), "kabar.v1.json");
  connect(ws);
  const auto subscribed =
      request(ws, R"({"id": 2, "subscribe": {"topic": "international", "filter": {}}})");
  ASSERT_TRUE(subscribed.has_subscribe()) << subscribed.DebugString();
  EXPECT_EQ(subscribed.id(), 2U);

  Connected publisher(broker_.url(), "cms");  // a binary client, beside it
  const auto ack = publisher.publish(article("urn:json:1", {"international", "defense"}, 1));
  const auto frame = ws.read();
  ASSERT_TRUE(frame.text);
  ASSERT_EQ(frame.message.deliveries_size(), 1) << frame.json;
  const auto& delivery = frame.message.deliveries(0);
  EXPECT_EQ(delivery.topic(), "international");
  EXPECT_EQ(delivery.offset(), 1U);
  EXPECT_EQ(delivery.epoch(), ack.offsets(0).epoch());
  EXPECT_EQ(delivery.article().id(), "urn:json:1");
  EXPECT_EQ(delivery.article().urgency(), 1U);
  EXPECT_TRUE(delivery.has_accepted_at());
  // protobuf's JSON mapping: lowerCamelCase names, 64-bit integers as strings.
  EXPECT_NE(frame.json.find(R"("offset":"1")"), std::string::npos) << frame.json;
  EXPECT_NE(frame.json.find(R"("acceptedAt":")"), std::string::npos) << frame.json;
}

TEST_F(JsonProtocol, EveryDeliveryAndEveryReplyIsAJsonDocumentOfItsOwn) {
  RawWebSocket ws(broker_.port(), "kabar.v1.json");
  connect(ws);
  request(ws, R"({"id": 2, "subscribe": {"topic": "defense.>"}})");
  Connected publisher(broker_.url(), "cms");
  for (int i = 1; i <= 5; ++i) {
    publisher.publish(article("urn:json:" + std::to_string(i), {"defense.asia", "defense.europe"}));
  }
  ws.send_text(R"({"id": 3, "ping": {}})");
  int deliveries = 0;
  bool pong = false;
  while (deliveries < 10 || !pong) {
    const auto frame = ws.read();
    ASSERT_FALSE(frame.closed || frame.timed_out) << deliveries << " deliveries, pong " << pong;
    ASSERT_TRUE(frame.text);
    if (frame.message.has_reply()) {
      EXPECT_EQ(frame.message.reply().id(), 3U);
      EXPECT_TRUE(frame.message.reply().has_pong());
      EXPECT_EQ(frame.message.deliveries_size(), 0);
      pong = true;
    } else {
      EXPECT_EQ(frame.message.deliveries_size(), 1) << frame.json;
      ++deliveries;
    }
  }
}

TEST_F(JsonProtocol, TheFirstSubprotocolOfferedThatTheBrokerSpeaksIsChosen) {
  EXPECT_EQ(RawWebSocket(broker_.port(), "kabar.v1.json, kabar.v1.proto").subprotocol(),
            "kabar.v1.json");
  EXPECT_EQ(RawWebSocket(broker_.port(), "kabar.v1.proto, kabar.v1.json").subprotocol(),
            "kabar.v1.proto");
  EXPECT_EQ(RawWebSocket(broker_.port(), "chat, kabar.v1.json").subprotocol(), "kabar.v1.json");
}

TEST_F(JsonProtocol, ABinaryFrameClosesWith1003) {
  RawWebSocket ws(broker_.port(), "kabar.v1.json");
  ws.send_binary(std::string("\x08\x01", 2));
  const auto frame = ws.read();
  ASSERT_TRUE(frame.closed);
  EXPECT_EQ(frame.close_code, 1003);
  EXPECT_NE(frame.close_reason.find("binary frames"), std::string::npos) << frame.close_reason;
}

TEST_F(JsonProtocol, TextThatIsNotAClientMessageClosesWith1007AndSaysWhy) {
  for (const std::string& bad : {std::string("{\"id\": 1, \"connect\": "),   // cut short
                                 std::string(R"({"id": 1, "conect": {}})"),  // misspelt
                                 std::string(R"({"id": "one", "ping": {}})")}) {
    RawWebSocket ws(broker_.port(), "kabar.v1.json");
    ws.send_text(bad);
    const auto frame = ws.read();
    ASSERT_TRUE(frame.closed) << bad;
    EXPECT_EQ(frame.close_code, 1007) << bad;
    EXPECT_EQ(frame.close_reason.rfind("not a kabar.v1.ClientMessage in JSON: ", 0), 0U)
        << frame.close_reason;
    EXPECT_LE(frame.close_reason.size(), 123U);
  }
  // Everyone else is still served.
  RawWebSocket ws(broker_.port(), "kabar.v1.json");
  connect(ws);
}

TEST_F(JsonProtocol, RefusalsAreTheSameAsOnTheBinaryProtocol) {
  RawWebSocket ws(broker_.port(), "kabar.v1.json");
  const auto early = request(ws, R"({"id": 1, "subscribe": {"topic": "international"}})");
  ASSERT_TRUE(early.has_error());
  EXPECT_EQ(early.error().code(), v1::Error::UNAUTHORIZED);
  connect(ws);
  const auto bad_topic = request(ws, R"({"id": 2, "subscribe": {"topic": "Defense"}})");
  ASSERT_TRUE(bad_topic.has_error());
  EXPECT_EQ(bad_topic.error().code(), v1::Error::BAD_REQUEST);
  EXPECT_NE(bad_topic.error().message().find("subscribe.topic 'Defense'"), std::string::npos);
  const auto no_article = request(ws, R"({"id": 3, "publish": {}})");
  ASSERT_TRUE(no_article.has_error());
  EXPECT_EQ(no_article.error().message(), "publish.article is required");
}

TEST_F(JsonProtocol, AReaderPublishesInJsonToo) {
  RawWebSocket ws(broker_.port(), "kabar.v1.json");
  connect(ws);
  const auto reply = request(ws, R"({"id": 7, "publish": {"article": {
      "id": "urn:json:from-browser", "headline": "Dari peramban", "topics": ["international"],
      "urgency": 3, "language": "id"}}})");
  ASSERT_TRUE(reply.has_publish()) << reply.DebugString();
  ASSERT_EQ(reply.publish().offsets_size(), 1);
  EXPECT_EQ(reply.publish().offsets(0).offset(), 1U);
}

TEST_F(JsonProtocol, ARecoveringReaderGetsWhatItMissedThenLiveWithNoGapAndNoDuplicate) {
  Connected publisher(broker_.url(), "cms");
  std::string epoch;
  for (int i = 1; i <= 3; ++i) {
    epoch =
        publisher.publish(article("urn:json:" + std::to_string(i), {"defense"})).offsets(0).epoch();
  }
  RawWebSocket ws(broker_.port(), "kabar.v1.json");
  connect(ws);
  const auto reply = request(ws, R"({"id": 2, "subscribe": {"topic": "defense", "since": {
      "offset": "1", "epoch": ")" + epoch +
                                     R"("}}})");
  ASSERT_TRUE(reply.has_subscribe()) << reply.DebugString();
  EXPECT_TRUE(reply.subscribe().recovered());
  publisher.publish(article("urn:json:4", {"defense"}));
  std::vector<std::uint64_t> offsets;
  while (offsets.size() < 3) {
    const auto frame = ws.read();
    ASSERT_FALSE(frame.closed || frame.timed_out) << offsets.size();
    for (const auto& delivery : frame.message.deliveries()) offsets.push_back(delivery.offset());
  }
  EXPECT_EQ(offsets, (std::vector<std::uint64_t>{2, 3, 4}));
}

}  // namespace
}  // namespace kabar::test
