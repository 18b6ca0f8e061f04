// The broker's WebSocket, byte by byte against RFC 6455 (it reads and writes its frames itself):
// the opening handshake, frames split or packed in any way, control frames, the closing
// handshake both ways, and every malformed frame answered with its close code.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <optional>
#include <string>

#include "broker.hpp"
#include "raw_ws.hpp"

namespace kabar::test {
namespace {

// A client frame, masked (a fixed key) unless told otherwise.
std::string client_frame(unsigned opcode, const std::string& payload, bool fin = true,
                         bool masked = true) {
  std::string out;
  out.push_back(static_cast<char>((fin ? 0x80U : 0U) | opcode));
  const unsigned char mask_bit = masked ? 0x80 : 0;
  if (payload.size() < 126) {
    out.push_back(static_cast<char>(mask_bit | payload.size()));
  } else {
    out.push_back(static_cast<char>(mask_bit | 126U));
    out.push_back(static_cast<char>(payload.size() >> 8));
    out.push_back(static_cast<char>(payload.size() & 0xff));
  }
  const std::string key = "\x0a\x0b\x0c\x0d";
  if (masked) out += key;
  for (std::size_t i = 0; i < payload.size(); ++i) {
    out.push_back(masked ? static_cast<char>(payload[i] ^ key[i % 4]) : payload[i]);
  }
  return out;
}

std::string message_bytes(std::uint32_t id, bool connect) {
  v1::ClientMessage message;
  message.set_id(id);
  if (connect) {
    message.mutable_connect()->set_client_name("wire");
  } else {
    message.mutable_ping();
  }
  return message.SerializeAsString();
}

struct ServerFrame {
  unsigned opcode = 0;
  std::string payload;
};

// A WebSocket client on a blocking socket, each read bounded by 5 s.
class Wire {
 public:
  // Upgrades, sending `after_request` in the same write as the request.
  explicit Wire(std::uint16_t port, const std::string& after_request = "",
                const std::string& version = "13")
      : fd_(connect_loopback(port)) {
    send(
        "GET /v1/ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: " +
        version + "\r\nSec-WebSocket-Protocol: kabar.v1.proto\r\n\r\n" + after_request);
    while (buffer_.find("\r\n\r\n") == std::string::npos && fill()) {
    }
    const auto end = buffer_.find("\r\n\r\n");
    response_ = buffer_.substr(0, end == std::string::npos ? buffer_.size() : end + 4);
    buffer_.erase(0, response_.size());
  }
  ~Wire() { ::close(fd_); }
  Wire(const Wire&) = delete;
  Wire& operator=(const Wire&) = delete;

  [[nodiscard]] const std::string& response() const { return response_; }
  [[nodiscard]] int fd() const { return fd_; }
  void send(const std::string& bytes) const {
    ASSERT_EQ(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
  }
  // One byte per system call.
  void send_slowly(const std::string& bytes) const {
    for (const char c : bytes) send(std::string(1, c));
  }

  // The next frame, or nothing when the broker closed the connection (or 5 s passed).
  std::optional<ServerFrame> read() {
    while (true) {
      if (buffer_.size() >= 2) {
        const auto* bytes = reinterpret_cast<const unsigned char*>(buffer_.data());
        EXPECT_EQ(bytes[1] & 0x80, 0) << "a server's frames are not masked";
        std::size_t length = bytes[1] & 0x7fU;
        std::size_t header = 2;
        if (length == 126 && buffer_.size() >= 4) {
          length = static_cast<std::size_t>(bytes[2]) << 8 | bytes[3];
          header = 4;
        } else if (length == 127 && buffer_.size() >= 10) {
          length = 0;
          for (int i = 2; i < 10; ++i) length = length << 8 | bytes[i];
          header = 10;
        }
        if (length < 126 || header > 2) {
          if (buffer_.size() >= header + length) {
            ServerFrame frame{bytes[0] & 0x0fU, buffer_.substr(header, length)};
            buffer_.erase(0, header + length);
            return frame;
          }
        }
      }
      if (!fill()) return std::nullopt;
    }
  }
  // The next frame that is not a message (a ping, a pong, a close).
  std::optional<ServerFrame> read_control() {
    for (auto frame = read(); frame; frame = read()) {
      if (frame->opcode >= 0x8) return frame;
    }
    return std::nullopt;
  }
  v1::ServerMessage read_message() {
    const auto frame = read();
    v1::ServerMessage message;
    EXPECT_TRUE(frame && frame->opcode == 0x2) << (frame ? frame->opcode : 99);
    if (frame) {
      EXPECT_TRUE(message.ParseFromString(frame->payload));
    }
    return message;
  }
  // True once the broker closed the TCP connection (read returns 0).
  bool closed_by_broker() {
    while (fill()) buffer_.clear();
    return eof_;
  }

 private:
  bool fill() {
    char chunk[65536];
    const auto got = ::recv(fd_, chunk, sizeof chunk, 0);
    if (got == 0) eof_ = true;
    if (got <= 0) return false;
    buffer_.append(chunk, static_cast<std::size_t>(got));
    return true;
  }

  int fd_;
  std::string buffer_;
  std::string response_;
  bool eof_ = false;
};

std::uint16_t close_code(const ServerFrame& frame) {
  if (frame.payload.size() < 2) return 0;
  return static_cast<std::uint16_t>(static_cast<unsigned char>(frame.payload[0]) << 8 |
                                    static_cast<unsigned char>(frame.payload[1]));
}

TEST(WebSocket, FramesSentWithTheUpgradeAreReadAndAnswered) {
  BrokerProcess broker;
  // A client that does not wait for 101: Connect and a ping in the request's own packet.
  Wire wire(broker.port(),
            client_frame(0x2, message_bytes(1, true)) + client_frame(0x2, message_bytes(2, false)));
  EXPECT_TRUE(wire.response().starts_with("HTTP/1.1 101 ")) << wire.response();
  EXPECT_NE(wire.response().find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
            std::string::npos);
  EXPECT_TRUE(wire.read_message().reply().has_connect());
  const auto pong = wire.read_message();
  EXPECT_EQ(pong.reply().id(), 2U);
  EXPECT_TRUE(pong.reply().has_pong());
}

TEST(WebSocket, MessagesSplitByteByByteOrPackedInOneWriteAreAllAnsweredInOrder) {
  BrokerProcess broker;
  Wire wire(broker.port());
  wire.send_slowly(client_frame(0x2, message_bytes(1, true)));
  EXPECT_TRUE(wire.read_message().reply().has_connect());
  std::string packed;
  for (std::uint32_t id = 2; id < 202; ++id) packed += client_frame(0x2, message_bytes(id, false));
  wire.send(packed);
  std::uint32_t expected = 2;
  while (expected < 202) {
    const auto message = wire.read_message();
    ASSERT_TRUE(message.has_reply());
    ASSERT_EQ(message.reply().id(), expected);
    ++expected;
  }
  // A message in fragments, a ping between them, the fragments byte by byte.
  const auto bytes = message_bytes(500, false);
  wire.send_slowly(client_frame(0x2, bytes.substr(0, 1), false) +
                   client_frame(0x9, "are you there") + client_frame(0x0, bytes.substr(1), true));
  const auto pong = wire.read();
  ASSERT_TRUE(pong);
  EXPECT_EQ(pong->opcode, 0xaU);
  EXPECT_EQ(pong->payload, "are you there");
  EXPECT_EQ(wire.read_message().reply().id(), 500U);
}

TEST(WebSocket, AClientCloseIsEchoedAndTheBrokerThenClosesTheConnection) {
  BrokerProcess broker;
  Wire wire(broker.port());
  wire.send(client_frame(0x2, message_bytes(1, true)));
  EXPECT_TRUE(wire.read_message().reply().has_connect());
  wire.send(client_frame(0x8, std::string("\x0b\xb8", 2) + "tab closed"));  // 3000
  const auto echo = wire.read_control();
  ASSERT_TRUE(echo);
  EXPECT_EQ(echo->opcode, 0x8U);
  EXPECT_EQ(close_code(*echo), 3000);
  EXPECT_TRUE(wire.closed_by_broker());
  EXPECT_TRUE(broker.process().wait_for_output("closed by peer (3000 tab closed)", 5s));
}

TEST(WebSocket, MalformedFramesCloseWithTheirCodeAndOthersAreStillServed) {
  BrokerProcess broker({"--max-message-bytes", "2048", "--max-article-bytes", "1024"});
  struct Case {
    std::string bytes;
    std::uint16_t code;
    std::string what;
  };
  const std::vector<Case> cases = {
      {client_frame(0x2, message_bytes(1, true), true, false), 1002, "unmasked"},
      {client_frame(0x3, "x"), 1002, "reserved opcode"},
      {client_frame(0x0, "x"), 1002, "continuation of nothing"},
      {client_frame(0x9, std::string(126, 'p')), 1002, "control frame over 125 bytes"},
      {client_frame(0x2, std::string(2049, 'x')), 1009, "one byte over --max-message-bytes"},
      {client_frame(0x8, std::string("\x03\xe8\xc3", 3)), 1007, "close reason not UTF-8"},
  };
  for (const auto& bad : cases) {
    Wire wire(broker.port());
    wire.send(bad.bytes);
    const auto close = wire.read_control();
    ASSERT_TRUE(close) << bad.what;
    EXPECT_EQ(close->opcode, 0x8U) << bad.what;
    EXPECT_EQ(close_code(*close), bad.code) << bad.what;
    EXPECT_GT(close->payload.size(), 2U) << bad.what << ": the reason is given";
    EXPECT_TRUE(wire.closed_by_broker()) << bad.what;
  }
  Wire fine(broker.port());
  fine.send(client_frame(0x2, message_bytes(1, true)));
  EXPECT_TRUE(fine.read_message().reply().has_connect());
  // Exactly the maximum is a message.
  v1::ClientMessage ping;
  ping.set_id(7);
  ping.mutable_ping();
  auto bytes = ping.SerializeAsString();
  // Unknown fields pad the message to exactly 2048 bytes: field 1000, length-delimited.
  const std::string tag = "\xc2\x3e";
  const auto pad = 2048 - bytes.size() - tag.size() - 2;
  bytes += tag + std::string{static_cast<char>(0x80 | (pad & 0x7f)), static_cast<char>(pad >> 7)} +
           std::string(pad, 'z');
  ASSERT_EQ(bytes.size(), 2048U);
  fine.send(client_frame(0x2, bytes));
  EXPECT_EQ(fine.read_message().reply().id(), 7U);
}

// Every ping is answered with a pong, and pongs wait in the send queue like messages: a client
// that pings without reading is closed as a slow consumer (4001) instead of growing the broker's
// memory, and everyone else is served.
TEST(WebSocket, APingFloodThatReadsNothingIsClosedAsASlowConsumer) {
  BrokerProcess broker({"--send-queue-bytes", "1048576"});
  {
    Wire flood(broker.port());
    flood.send(client_frame(0x2, message_bytes(1, true)));
    std::string pings;
    for (int i = 0; i < 1000; ++i) pings += client_frame(0x9, std::string(125, 'p'));
    // 50 000 pings, 6.5 MB of pongs: more than the sockets' buffers and the queue's 1 MiB.
    for (int round = 0; round < 50; ++round) {
      if (::send(flood.fd(), pings.data(), pings.size(), MSG_NOSIGNAL) < 0) break;
    }
    EXPECT_TRUE(broker.process().wait_for_output("is a slow consumer", 10s));
  }
  Wire fine(broker.port());
  fine.send(client_frame(0x2, message_bytes(1, true)));
  EXPECT_TRUE(fine.read_message().reply().has_connect());
  const auto metrics = http_get(broker.port(), "/metrics");
  EXPECT_EQ(metric_sample(metrics.body, "kabar_slow_consumer_disconnects_total"), 1);
}

TEST(WebSocket, AnotherProtocolVersionGets426NamingVersion13) {
  BrokerProcess broker;
  Wire wire(broker.port(), "", "8");
  EXPECT_TRUE(wire.response().starts_with("HTTP/1.1 426 ")) << wire.response();
  EXPECT_NE(wire.response().find("Sec-WebSocket-Version: 13"), std::string::npos);
}

}  // namespace
}  // namespace kabar::test
