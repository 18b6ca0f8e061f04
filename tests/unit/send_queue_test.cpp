// A session's send path without sockets: the send queue (broker/src/net/send_queue.hpp), the
// frames of a direct write (frame_writer.hpp) and the wire codec (codec.hpp).
#include "net/send_queue.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>

#include "net/codec.hpp"
#include "net/frame_writer.hpp"

namespace kabar::broker {
namespace {

std::shared_ptr<DeliveryBatch> batch_of(std::string bytes) {
  auto batch = std::make_shared<DeliveryBatch>();
  batch->bytes = std::move(bytes);
  return batch;
}

std::string_view slice(const DeliveryBatch& batch, std::size_t begin, std::size_t size) {
  return {batch.bytes.data() + begin, size};
}

std::string joined(const std::vector<Chunk>& chunks) {
  std::string out;
  for (const auto& chunk : chunks) out.append(chunk.data, chunk.size);
  return out;
}

std::shared_ptr<const std::string> reply(std::string bytes) {
  return std::make_shared<const std::string>(std::move(bytes));
}

class SendQueueTest : public testing::Test {
 protected:
  std::atomic<std::int64_t> gauge{0};
  SendQueue queue{100, gauge};
};

TEST_F(SendQueueTest, MergesARunOfDeliveriesLyingEndToEndInOneBatchIntoOneChunk) {
  const auto batch = batch_of("aaabbbccc");
  queue.add_delivery(batch, slice(*batch, 0, 3), false);
  queue.add_delivery(batch, slice(*batch, 3, 3), false);
  queue.add_delivery(batch, slice(*batch, 6, 3), false);
  const auto& chunks = queue.begin_write(false);
  ASSERT_EQ(chunks.size(), 1U);
  EXPECT_EQ(joined(chunks), "aaabbbccc");
  EXPECT_EQ(batch.use_count(), 2) << "one reference for the whole run";
}

TEST_F(SendQueueTest, StartsANewChunkWhereDeliveriesAreNotEndToEnd) {
  const auto batch = batch_of("aaabbbccc");
  queue.add_delivery(batch, slice(*batch, 0, 3), false);
  queue.add_delivery(batch, slice(*batch, 6, 3), false);  // the subscriber skipped "bbb"
  const auto& chunks = queue.begin_write(false);
  ASSERT_EQ(chunks.size(), 2U);
  EXPECT_EQ(joined(chunks), "aaaccc");
}

TEST_F(SendQueueTest, ARunDoesNotGrowAChunkAlreadyHandedToAWrite) {
  const auto batch = batch_of("aaabbb");
  queue.add_delivery(batch, slice(*batch, 0, 3), false);
  const auto& in_flight = queue.begin_write(false);
  queue.add_delivery(batch, slice(*batch, 3, 3), false);
  ASSERT_EQ(in_flight.size(), 1U);
  EXPECT_EQ(in_flight.front().size, 3U);
  EXPECT_EQ(queue.waiting_bytes(), 3U);
}

TEST_F(SendQueueTest, CopiesASmallDeliveryWhileAWriteWaitsRatherThanPinItsBatch) {
  std::atomic<std::int64_t> big_gauge{0};
  SendQueue big(100'000, big_gauge);
  const auto first = batch_of(std::string(1000, 'x') + "abc");
  const auto second = batch_of("def" + std::string(1000, 'y'));
  big.add_delivery(first, slice(*first, 1000, 3), true);
  big.add_delivery(second, slice(*second, 0, 3), true);
  EXPECT_EQ(first.use_count(), 1) << "a 3-byte delivery kept a 1003-byte batch alive";
  EXPECT_EQ(second.use_count(), 1);
  const auto& chunks = big.begin_write(false);
  ASSERT_EQ(chunks.size(), 1U) << "copies lying end to end make one chunk";
  EXPECT_EQ(joined(chunks), "abcdef");
}

TEST_F(SendQueueTest, KeepsADeliveryOfAQuarterOfItsBatchOrMoreInTheBatch) {
  const auto batch = batch_of("aaaabbbbbbbbbbbb");  // 4 of 16 bytes
  queue.add_delivery(batch, slice(*batch, 0, 4), true);
  EXPECT_EQ(batch.use_count(), 2);
}

TEST_F(SendQueueTest, AMessageHoldsAnyNumberOfDeliveriesAndAtMostOneReply) {
  const auto batch = batch_of("aaabbb");
  queue.add_reply(reply("R1"));
  queue.add_delivery(batch, slice(*batch, 0, 3), false);
  queue.add_reply(reply("R2"));
  queue.add_delivery(batch, slice(*batch, 3, 3), false);
  EXPECT_TRUE(queue.has_reply());
  const auto& first = queue.begin_write(true);
  EXPECT_EQ(joined(first), "R1aaa");
  queue.end_write();
  const auto& second = queue.begin_write(true);
  EXPECT_EQ(joined(second), "R2bbb");
  EXPECT_TRUE(queue.empty());
}

TEST_F(SendQueueTest, RepliesAndDeliveriesKeepTheOrderTheyWereQueuedIn) {
  const auto batch = batch_of("aaabbb");
  queue.add_delivery(batch, slice(*batch, 0, 3), false);
  queue.add_reply(reply("R"));
  queue.add_delivery(batch, slice(*batch, 3, 3), false);
  EXPECT_EQ(joined(queue.begin_write(false)), "aaaRbbb");
}

TEST_F(SendQueueTest, CountsWaitingBytesAgainstItsLimitAndEveryQueuedByteInTheGauge) {
  const auto batch = batch_of(std::string(200, 'a'));
  queue.add_delivery(batch, slice(*batch, 0, 80), false);
  EXPECT_FALSE(queue.over_limit());
  queue.begin_write(false);
  EXPECT_EQ(queue.waiting_bytes(), 0U);
  queue.add_delivery(batch, slice(*batch, 80, 100), false);  // 100 waiting: at the limit
  EXPECT_FALSE(queue.over_limit()) << "bytes in flight count against no limit";
  EXPECT_EQ(gauge.load(), 180);
  queue.add_delivery(batch, slice(*batch, 180, 1), false);
  EXPECT_TRUE(queue.over_limit());
  queue.end_write();
  EXPECT_EQ(gauge.load(), 101);
  queue.drop();
  EXPECT_EQ(gauge.load(), 0);
  EXPECT_FALSE(queue.over_limit());
}

TEST(SendQueue, GivesBackItsShareOfTheGaugeWhenDestroyed) {
  std::atomic<std::int64_t> gauge{0};
  const auto batch = batch_of("aaabbb");
  {
    SendQueue queue(100, gauge);
    queue.add_delivery(batch, slice(*batch, 0, 3), false);
    queue.begin_write(false);
    queue.add_reply(reply("R"));
    EXPECT_EQ(gauge.load(), 4);
  }
  EXPECT_EQ(gauge.load(), 0);
}

std::string sent(const msghdr& message) {
  std::string out;
  for (std::size_t i = 0; i < message.msg_iovlen; ++i) {
    out.append(static_cast<const char*>(message.msg_iov[i].iov_base), message.msg_iov[i].iov_len);
  }
  return out;
}

TEST(FrameWriter, FramesEachMessageWithAHeaderOfItsOwnAndNeverCopiesThePayload) {
  const auto batch = batch_of("aaa");
  const std::vector<Chunk> chunks = {
      {.owner = batch, .data = batch->bytes.data(), .size = 3, .is_reply = false},
      {.owner = nullptr, .data = "RR", .size = 2, .is_reply = true},
      {.owner = nullptr, .data = "SSSS", .size = 4, .is_reply = true},
  };
  FrameWriter frames;
  const auto message = frames.lay_out(chunks);
  EXPECT_EQ(sent(message), std::string("\x82\x05"
                                       "aaaRR"
                                       "\x82\x04"
                                       "SSSS"));
  EXPECT_EQ(frames.total(), 13U);
  EXPECT_EQ(message.msg_iov[1].iov_base, batch->bytes.data());
}

TEST(FrameWriter, TheRestOfAPartialSendStartsWhereTheSendStopped) {
  const std::vector<Chunk> chunks = {
      {.owner = nullptr, .data = "abc", .size = 3, .is_reply = false},
      {.owner = nullptr, .data = "de", .size = 2, .is_reply = true},
  };
  FrameWriter frames;
  const auto all = sent(frames.lay_out(chunks));
  for (std::size_t sent_bytes = 0; sent_bytes <= all.size(); ++sent_bytes) {
    std::string rest;
    for (const auto& buffer : frames.rest(sent_bytes)) {
      rest.append(static_cast<const char*>(buffer.data()), buffer.size());
    }
    EXPECT_EQ(rest, all.substr(sent_bytes)) << "after " << sent_bytes << " bytes";
  }
}

TEST(FrameWriter, LaysOutTextFramesForATextSubprotocol) {
  const std::vector<Chunk> chunks = {{.owner = nullptr, .data = "{}", .size = 2, .is_reply = true}};
  FrameWriter frames;
  EXPECT_EQ(sent(frames.lay_out(chunks, true)), std::string("\x81\x02{}"));
}

TEST(Codec, IsChosenByTheFirstSubprotocolOfferedThatTheBrokerSpeaks) {
  EXPECT_EQ(choose_codec("kabar.v1.proto"), &proto_codec());
  EXPECT_EQ(choose_codec("chat, \t kabar.v1.proto \t"), &proto_codec());
  EXPECT_EQ(choose_codec("kabar.v1.protobuf, chat"), nullptr);
  EXPECT_EQ(choose_codec(""), nullptr);
  EXPECT_EQ(choose_codec(","), nullptr);
}

TEST(Codec, ProtoRefusesTextFramesWith1003AndGarbageWith1002) {
  v1::ClientMessage message;
  const auto text = proto_codec().decode("{}", false, message);
  ASSERT_TRUE(text.has_value());
  EXPECT_EQ(text->close, CloseCode::kUnsupportedData);
  EXPECT_EQ(text->rejected, Rejected::kTextFrame);
  const auto garbage = proto_codec().decode("\xff\xff\xff", true, message);
  ASSERT_TRUE(garbage.has_value());
  EXPECT_EQ(garbage->close, CloseCode::kProtocolError);
  v1::ClientMessage ping;
  ping.set_id(7);
  ping.mutable_ping();
  EXPECT_FALSE(proto_codec().decode(ping.SerializeAsString(), true, message).has_value());
  EXPECT_EQ(message.id(), 7U);
}

TEST(Codec, ProtoDeliversTheBatchsOwnBytes) {
  const auto batch = batch_of("aaabbb");
  DeliveryRef ref;
  ref.begin = 3;
  ref.size = 3;
  const auto bytes = proto_codec().delivery(*batch, ref);
  EXPECT_EQ(bytes.data(), batch->bytes.data() + 3);
  EXPECT_EQ(bytes, "bbb");
}

}  // namespace
}  // namespace kabar::broker

namespace kabar::broker {
namespace {

TEST(SendQueue, WithoutMergingEveryDeliveryIsAChunkAndAMessageOfItsOwn) {
  std::atomic<std::int64_t> gauge{0};
  SendQueue queue(1000, gauge, false);
  const auto batch = batch_of("{\"a\":1}{\"b\":2}");
  queue.add_delivery(batch, slice(*batch, 0, 7), false);
  queue.add_delivery(batch, slice(*batch, 7, 7), false);  // end to end, yet not merged
  queue.add_reply(reply("{\"r\":3}"));
  const auto& chunks = queue.begin_write(false);
  ASSERT_EQ(chunks.size(), 3U);
  FrameWriter frames;
  const auto message = frames.lay_out(chunks, true, false);
  EXPECT_EQ(sent(message), std::string("\x81\x07{\"a\":1}\x81\x07{\"b\":2}\x81\x07{\"r\":3}"));
}

TEST(SendQueue, WithoutMergingAWriteThroughBeastTakesOneChunk) {
  std::atomic<std::int64_t> gauge{0};
  SendQueue queue(1000, gauge, false);
  queue.add_reply(reply("{}"));
  queue.add_reply(reply("[]"));
  EXPECT_EQ(joined(queue.begin_write(true)), "{}");
}

TEST(Codec, JsonIsChosenInTheClientsOrderBesideProto) {
  EXPECT_EQ(choose_codec("kabar.v1.json"), &json_codec());
  EXPECT_EQ(choose_codec("kabar.v1.json, kabar.v1.proto"), &json_codec());
  EXPECT_EQ(choose_codec("kabar.v1.proto, kabar.v1.json"), &proto_codec());
  EXPECT_TRUE(json_codec().text());
  EXPECT_FALSE(json_codec().merges_messages());
}

TEST(Codec, JsonRefusesBinaryFramesWith1003AndAnythingButAClientMessageWith1007) {
  v1::ClientMessage message;
  const auto binary = json_codec().decode("{}", true, message);
  ASSERT_TRUE(binary.has_value());
  EXPECT_EQ(binary->close, CloseCode::kUnsupportedData);
  EXPECT_EQ(binary->rejected, Rejected::kBinaryFrame);
  for (const char* bad : {"{", "[]", R"({"idd": 1})", R"({"id": -1})", R"({"ping": 3})"}) {
    const auto error = json_codec().decode(bad, false, message);
    ASSERT_TRUE(error.has_value()) << bad;
    EXPECT_EQ(error->close, CloseCode::kInvalidPayload) << bad;
    EXPECT_LE(error->reason.size(), 123U);
  }
  EXPECT_FALSE(json_codec().decode(R"({"id": 9, "ping": {}})", false, message).has_value());
  EXPECT_EQ(message.id(), 9U);
  EXPECT_TRUE(message.has_ping());
}

TEST(Codec, JsonRepliesAreServerMessagesInProtobufsJsonMapping) {
  v1::Reply reply;
  reply.set_id(4);
  reply.mutable_error()->set_code(v1::Error::BAD_REQUEST);
  reply.mutable_error()->set_message("a \"quoted\" reason");
  const auto json = json_codec().encode(reply);
  EXPECT_EQ(json,
            R"({"reply":{"id":4,"error":{"code":"BAD_REQUEST","message":"a \"quoted\" reason"}}})");
}

// A batch built before the first JSON reader came has no JSON: the delivery is encoded for that
// connection alone, the same message.
TEST(Codec, JsonEncodesADeliveryOnItsOwnWhenItsBatchHasNoJson) {
  v1::Article article;
  article.set_id("urn:a");
  article.set_headline("<script>alert(1)</script>");
  google::protobuf::Timestamp accepted;
  accepted.set_seconds(1745823600);
  DeliveryBatch batch;
  append_delivery(batch.bytes,
                  {.topic = "defense", .offset = 7, .epoch = "e", .accepted_at = &accepted},
                  article.SerializeAsString());
  DeliveryRef ref;
  ref.size = batch.bytes.size();
  EXPECT_TRUE(json_codec().delivery(batch, ref).empty());
  const auto json = json_codec().encode_delivery(batch, ref);
  EXPECT_EQ(
      json,
      R"({"deliveries":[{"topic":"defense","offset":"7","epoch":"e","article":{"id":"urn:a","headline":"\u003cscript\u003ealert(1)\u003c/script\u003e"},"acceptedAt":"2025-04-28T07:00:00Z"}]})");
}

}  // namespace
}  // namespace kabar::broker
