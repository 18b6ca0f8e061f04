// Reading a client's WebSocket frames (broker/src/net/frame_reader.hpp) and the opening
// handshake's answer (ws_handshake.hpp): RFC 6455's rules, each at its boundary.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "net/frame_reader.hpp"
#include "net/ws_handshake.hpp"

namespace kabar::broker {
namespace {

using Kind = FrameReader::Event::Kind;

// A client's frame: masked with a fixed key, the length in its shortest form unless `length_bytes`
// forces one.
std::string frame(unsigned opcode, const std::string& payload, bool fin = true, bool masked = true,
                  int length_bytes = -1, unsigned char reserved = 0) {
  std::string out;
  out.push_back(static_cast<char>((fin ? 0x80U : 0U) | reserved | opcode));
  const auto size = payload.size();
  const unsigned char mask_bit = masked ? 0x80 : 0;
  if (length_bytes == 0 || (length_bytes < 0 && size < 126)) {
    out.push_back(static_cast<char>(mask_bit | size));
  } else if (length_bytes == 2 || (length_bytes < 0 && size < 65536)) {
    out.push_back(static_cast<char>(mask_bit | 126U));
    out.push_back(static_cast<char>(size >> 8));
    out.push_back(static_cast<char>(size & 0xff));
  } else {
    out.push_back(static_cast<char>(mask_bit | 127U));
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(size >> shift));
  }
  const std::string key = "\x12\x34\x56\x78";
  if (masked) out += key;
  for (std::size_t i = 0; i < size; ++i) {
    out.push_back(masked ? static_cast<char>(payload[i] ^ key[i % 4]) : payload[i]);
  }
  return out;
}

struct Seen {
  Kind kind;
  std::string payload;
  std::uint16_t code = 0;
  bool text = false;
};

// Feeds `bytes` in pieces of `piece` bytes (0: at once) and collects every event.
std::vector<Seen> read_all(FrameReader& reader, std::string bytes, std::size_t piece = 0) {
  std::vector<Seen> seen;
  if (piece == 0) piece = bytes.size();
  for (std::size_t at = 0; at < bytes.size(); at += piece) {
    reader.feed({bytes.data() + at, std::min(piece, bytes.size() - at)});
    for (auto event = reader.next(); event.kind != Kind::kNeedMore; event = reader.next()) {
      seen.push_back({event.kind, std::string(event.payload), event.code, event.text});
    }
  }
  return seen;
}

Seen only(FrameReader& reader, const std::string& bytes) {
  const auto seen = read_all(reader, bytes);
  EXPECT_EQ(seen.size(), 1U);
  return seen.empty() ? Seen{Kind::kNeedMore, "", 0, false} : seen.front();
}

TEST(FrameReader, ReadsMessagesInPlaceWhetherTheyComeWholeOrByteByByte) {
  const std::string bytes = frame(0x2, "one") + frame(0x1, "two") +
                            frame(0x2, std::string(300, 'x')) +
                            frame(0x2, std::string(70'000, 'y'));
  for (const std::size_t piece : {0UL, 1UL, 7UL, 4096UL}) {
    FrameReader reader(1 << 20);
    const auto seen = read_all(reader, bytes, piece);
    ASSERT_EQ(seen.size(), 4U) << piece;
    EXPECT_EQ(seen[0].payload, "one");
    EXPECT_FALSE(seen[0].text);
    EXPECT_EQ(seen[1].payload, "two");
    EXPECT_TRUE(seen[1].text);
    EXPECT_EQ(seen[2].payload, std::string(300, 'x'));
    EXPECT_EQ(seen[3].payload, std::string(70'000, 'y'));
    EXPECT_EQ(reader.buffered_bytes(), 0U);
  }
}

TEST(FrameReader, AssemblesFragmentsWithControlFramesBetweenThem) {
  FrameReader reader(1 << 20);
  const auto seen = read_all(reader, frame(0x1, "frag", false) + frame(0x9, "ping!") +
                                         frame(0x0, "men", false) + frame(0x0, "ted", true));
  ASSERT_EQ(seen.size(), 2U);
  EXPECT_EQ(seen[0].kind, Kind::kPing);
  EXPECT_EQ(seen[0].payload, "ping!");
  EXPECT_EQ(seen[1].kind, Kind::kMessage);
  EXPECT_EQ(seen[1].payload, "fragmented");
  EXPECT_TRUE(seen[1].text);
  reader.trim(0);
  EXPECT_EQ(reader.buffered_bytes(), 0U);
}

TEST(FrameReader, TheMaximumIsAllowedAndOneByteMoreIs1009FromTheHeaderAlone) {
  FrameReader reader(1000);
  EXPECT_EQ(only(reader, frame(0x2, std::string(1000, 'a'))).kind, Kind::kMessage);
  FrameReader over(1000);
  // Only the header of a frame one byte too large: refused before its payload comes.
  const auto header = frame(0x2, std::string(1001, 'a')).substr(0, 8);
  const auto error = only(over, header);
  EXPECT_EQ(error.kind, Kind::kError);
  EXPECT_EQ(error.code, 1009);
  // Fragments count together.
  FrameReader fragments(1000);
  const auto seen = read_all(
      fragments, frame(0x2, std::string(600, 'a'), false) + frame(0x0, std::string(401, 'b')));
  ASSERT_EQ(seen.size(), 1U);
  EXPECT_EQ(seen[0].code, 1009);
}

TEST(FrameReader, ProtocolErrorsAre1002AndNothingIsReadAfterThem) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {frame(0x2, "x", true, false), "unmasked"},
      {frame(0x2, "x", true, true, -1, 0x40), "reserved bits"},
      {frame(0x3, "x"), "reserved data opcode"},
      {frame(0xb, "x"), "reserved control opcode"},
      {frame(0x9, "x", false), "fragmented control"},
      {frame(0x9, std::string(126, 'p')), "control over 125"},
      {frame(0x0, "x"), "continuation of nothing"},
      {frame(0x2, "a", false) + frame(0x2, "b"), "new message inside a fragmented one"},
      {frame(0x2, "short", true, true, 2), "length not in its shortest form (16-bit)"},
      {frame(0x2, std::string(200, 's'), true, true, 8),
       "length not in its shortest form (64-bit)"},
      {frame(0x8, "x"), "close frame of one byte"},
      {frame(0x8, std::string("\x03\xed", 2)), "close code 1005 sent"},
      {frame(0x8, std::string("\x03\xe7", 2)), "close code 999"},
  };
  for (const auto& [bytes, what] : cases) {
    FrameReader reader(1 << 20);
    const auto seen = read_all(reader, bytes + frame(0x2, "after"));
    ASSERT_EQ(seen.size(), 1U) << what;
    EXPECT_EQ(seen[0].kind, Kind::kError) << what;
    EXPECT_EQ(seen[0].code, 1002) << what;
    EXPECT_FALSE(seen[0].payload.empty()) << what;
  }
}

TEST(FrameReader, TextAndCloseReasonsMustBeUtf8) {
  FrameReader reader(1 << 20);
  EXPECT_EQ(only(reader, frame(0x1, "caf\xc3\xa9 \xf0\x9f\x93\xb0")).kind, Kind::kMessage);
  for (const std::string bad : {"\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xff"}) {
    FrameReader text(1 << 20);
    EXPECT_EQ(only(text, frame(0x1, "ok " + bad)).code, 1007);
    FrameReader binary(1 << 20);  // binary messages are not text: anything goes
    EXPECT_EQ(only(binary, frame(0x2, bad)).kind, Kind::kMessage);
    FrameReader close(1 << 20);
    EXPECT_EQ(only(close, frame(0x8, std::string("\x03\xe8", 2) + bad)).code, 1007);
  }
}

TEST(FrameReader, CloseFramesGiveTheirCodeAndReason) {
  FrameReader reader(1 << 20);
  const auto closed = only(reader, frame(0x8, std::string("\x0f\xa1", 2) + "bye"));
  EXPECT_EQ(closed.kind, Kind::kClose);
  EXPECT_EQ(closed.code, 4001);
  EXPECT_EQ(closed.payload, "bye");
  FrameReader empty(1 << 20);
  EXPECT_EQ(only(empty, frame(0x8, "")).code, 1005);
  EXPECT_TRUE(FrameReader::valid_close_code(1000));
  EXPECT_TRUE(FrameReader::valid_close_code(4999));
  EXPECT_FALSE(FrameReader::valid_close_code(1004));
  EXPECT_FALSE(FrameReader::valid_close_code(1006));
  EXPECT_FALSE(FrameReader::valid_close_code(2999));
  EXPECT_FALSE(FrameReader::valid_close_code(5000));
}

TEST(WsHandshake, AnswersTheRfcsExampleKey) {
  // RFC 6455 section 1.3.
  EXPECT_EQ(ws_handshake::accept_value("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  const auto response =
      ws_handshake::response("dGhlIHNhbXBsZSBub25jZQ==", "kabar.v1.proto", "kabar/x");
  EXPECT_TRUE(response.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
  EXPECT_NE(response.find("\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
            std::string::npos);
  EXPECT_NE(response.find("\r\nSec-WebSocket-Protocol: kabar.v1.proto\r\n"), std::string::npos);
  EXPECT_TRUE(response.ends_with("\r\n\r\n"));
  EXPECT_TRUE(ws_handshake::valid_key("dGhlIHNhbXBsZSBub25jZQ=="));
  EXPECT_FALSE(ws_handshake::valid_key("dGhlIHNhbXBsZSBub25jZR=="));  // bits past the 16th byte
  EXPECT_FALSE(ws_handshake::valid_key("dGhlIHNhbXBsZSBub25jZQ="));
}

}  // namespace
}  // namespace kabar::broker
