#include "kabar/broker/frames.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace kabar::broker {
namespace {

v1::Article sample() {
  v1::Article article;
  article.set_id("urn:test:frames");
  article.set_version(1);
  article.add_topics("international");
  article.add_topics("defense");
  article.set_headline(
      "Korea Utara \xE2\x80\x9C"
      "Akui\xE2\x80\x9D");
  article.set_urgency(3);
  return article;
}

TEST(DeliveryFrame, ParsesAsAServerMessageWithTheArticleByteForByte) {
  const auto article = sample();
  const auto article_bytes = article.SerializeAsString();
  google::protobuf::Timestamp accepted;
  accepted.set_seconds(1745823600);
  accepted.set_nanos(5);
  std::string frame;
  append_delivery(frame, {"defense", 300, "epoch-a", &accepted}, article_bytes);

  v1::ServerMessage message;
  ASSERT_TRUE(message.ParseFromString(frame));
  EXPECT_FALSE(message.has_reply());
  ASSERT_EQ(message.deliveries_size(), 1);
  const auto& delivery = message.deliveries(0);
  EXPECT_EQ(delivery.topic(), "defense");
  EXPECT_EQ(delivery.offset(), 300U);
  EXPECT_EQ(delivery.epoch(), "epoch-a");
  EXPECT_EQ(delivery.accepted_at().nanos(), 5);
  EXPECT_EQ(delivery.article().SerializeAsString(), article_bytes);

  // The same bytes the protobuf library would write.
  v1::ServerMessage expected;
  auto* d = expected.add_deliveries();
  d->set_topic("defense");
  d->set_offset(300);
  d->set_epoch("epoch-a");
  *d->mutable_article() = article;
  *d->mutable_accepted_at() = accepted;
  EXPECT_EQ(frame, expected.SerializeAsString());
}

TEST(DeliveryFrame, ConcatenatedFramesParseAsOneMessageWithEveryDelivery) {
  const auto article_bytes = sample().SerializeAsString();
  v1::Reply reply;
  reply.set_id(7);
  reply.mutable_publish()->set_id("urn:test:frames");
  std::string frame = encode_reply(reply);
  for (std::uint64_t offset = 1; offset <= 3; ++offset) {
    append_delivery(frame, {"international", offset, "e", nullptr}, article_bytes);
  }
  v1::ServerMessage message;
  ASSERT_TRUE(message.ParseFromString(frame));
  EXPECT_EQ(message.reply().id(), 7U);
  EXPECT_EQ(message.reply().publish().id(), "urn:test:frames");
  ASSERT_EQ(message.deliveries_size(), 3);
  EXPECT_EQ(message.deliveries(2).offset(), 3U);
}

// RFC 6455 section 5.2: 7-bit lengths up to 125, then 126 + 16 bits, then 127 + 64 bits.
TEST(FrameHeader, UsesTheShortestLengthEncodingAtEachBoundary) {
  const auto header = [](std::uint64_t payload) {
    FrameHeader out{};
    const auto size = write_frame_header(out, payload);
    std::vector<unsigned> bytes;
    for (std::size_t i = 0; i < size; ++i) bytes.push_back(static_cast<unsigned char>(out[i]));
    return bytes;
  };
  using Bytes = std::vector<unsigned>;
  EXPECT_EQ(header(0), (Bytes{0x82, 0}));
  EXPECT_EQ(header(125), (Bytes{0x82, 125}));
  EXPECT_EQ(header(126), (Bytes{0x82, 126, 0, 126}));
  EXPECT_EQ(header(65535), (Bytes{0x82, 126, 0xff, 0xff}));
  EXPECT_EQ(header(65536), (Bytes{0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0}));
  EXPECT_EQ(header(0x0102030405060708), (Bytes{0x82, 127, 1, 2, 3, 4, 5, 6, 7, 8}));
}

}  // namespace
}  // namespace kabar::broker
