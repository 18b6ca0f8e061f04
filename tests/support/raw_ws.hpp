#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kabar/v1/kabar.pb.h"

namespace kabar::test {

using namespace std::chrono_literals;

/// What a raw read saw: a broker message, or the close frame that ended the connection.
struct RawFrame {
  bool closed = false;
  std::uint16_t close_code = 0;
  std::string close_reason;
  bool timed_out = false;
  bool text = false;  ///< a text frame: `json` holds it, `message` its parse
  std::string json;
  v1::ServerMessage message;
};

/// A WebSocket client that sends whatever bytes a test wants (text frames, garbage, oversized
/// frames) to the real broker. Every wait is bounded.
class RawWebSocket {
 public:
  explicit RawWebSocket(std::uint16_t port, const std::string& subprotocol = "kabar.v1.proto");
  ~RawWebSocket();

  /// The subprotocol the broker chose (its Sec-WebSocket-Protocol answer).
  [[nodiscard]] const std::string& subprotocol() const;

  void send_binary(const std::string& bytes);
  void send_text(const std::string& text);
  /// One binary message in frames of at most `frame_bytes` (continuation frames).
  void send_fragmented(const v1::ClientMessage& message, std::size_t frame_bytes);
  void send(const v1::ClientMessage& message) { send_binary(message.SerializeAsString()); }

  /// The next message (or the close), within `timeout`.
  RawFrame read(std::chrono::milliseconds timeout = 5s);

  /// What read_pinging saw.
  struct PingedRead {
    std::vector<v1::Delivery> deliveries;
    std::size_t pings = 0;
    std::size_t pongs = 0;
    bool timed_out = false;
  };

  /// Reads messages until `deliveries` deliveries came, within `timeout`, pinging all the while
  /// (one ping at a time, the next 1 ms after its pong) and pausing 20 ms every 16 messages, so
  /// that the broker's writes back up in its socket while its pongs go out.
  PingedRead read_pinging(std::size_t deliveries, std::chrono::milliseconds timeout);

  /// Sends Connect and returns its reply.
  v1::Reply connect();

  /// Reads raw TCP bytes, answering nothing (not even pings), until the broker drops the
  /// connection: true when it did within `timeout`.
  bool wait_until_dropped(std::chrono::milliseconds timeout);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct HttpResult {
  int status = 0;
  std::string body;
  std::string content_type;
};

/// One HTTP/1.1 GET; `upgrade_protocol` non-empty makes it a WebSocket upgrade offering it.
HttpResult http_get(std::uint16_t port, const std::string& target,
                    const std::string& upgrade_protocol = "", bool upgrade = false);

/// The value of the sample line `series` (name and labels exactly) in a /metrics exposition, or
/// -1 when it has none.
double metric_sample(const std::string& exposition, const std::string& series);

/// One HTTP/1.1 GET with an Accept header.
HttpResult http_get_accepting(std::uint16_t port, const std::string& target,
                              const std::string& accept);

/// A plain blocking TCP socket connected to 127.0.0.1:`port`, its sends and receives bounded by
/// `timeout`, for tests that write byte by byte; the caller closes it. Throws when it cannot.
int connect_loopback(std::uint16_t port, std::chrono::seconds timeout = 5s);

/// A WebSocket upgrade to /v1/ws asking for kabar.v1.proto, with an Origin header unless empty.
HttpResult upgrade_from_origin(std::uint16_t port, const std::string& origin);

}  // namespace kabar::test
