#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <string>
#include <string_view>

namespace kabar::bench {

class Connection;

/// What a scenario hears from its connections.
class ConnectionEvents {
 public:
  virtual ~ConnectionEvents() = default;
  virtual void on_open(Connection& connection) = 0;
  virtual void on_message(Connection& connection, std::string_view payload) = 0;
  virtual void on_closed(Connection& connection, std::string_view why) = 0;
};

/// A lean client-side WebSocket connection for load generation, not for applications (those use
/// kabar_client). Reads are reactive: the socket is read only once readable, into one buffer
/// shared by every connection of the thread, so an idle connection costs a socket and a few
/// dozen bytes. Answers pings, honours close; messages are never fragmented by the broker.
/// Frames are masked with a zero key (RFC 6455 allows any key; the broker unmasks either way).
/// @note Single-threaded: one io_context thread owns all connections.
class Connection {
 public:
  Connection(boost::asio::io_context& ioc, ConnectionEvents& events, std::uint32_t index);

  /// Connects from `local` (port chosen by the kernel) and performs the upgrade.
  void start(const boost::asio::ip::tcp::endpoint& broker, const boost::asio::ip::address& local);
  /// Queues one binary message; writes coalesce while a write is in flight.
  void send(std::string_view payload);
  void close();

  [[nodiscard]] std::uint32_t index() const { return index_; }
  [[nodiscard]] bool is_open() const { return open_; }

 private:
  void fail(std::string_view why);
  void wait_readable();
  void on_readable();
  bool consume(std::string_view& data);  // frames (or the handshake) off the front of data
  void frame(std::uint8_t opcode, std::string_view payload);
  void append_frame(std::uint8_t opcode, std::string_view payload);
  void flush();

  boost::asio::ip::tcp::socket socket_;
  ConnectionEvents& events_;
  std::uint32_t index_;
  std::string carry_;  // an incomplete frame left from the last read
  std::string out_;
  std::string writing_;
  bool open_ = false;
  bool handshaken_ = false;
  bool closed_ = false;
  bool flush_posted_ = false;
};

}  // namespace kabar::bench
