#pragma once

#include <netinet/in.h>
#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "event_loop.hpp"

namespace kabar::bench {

class Connection;

/// What a connection speaks: WebSocket with kabar.v1.proto or kabar.v1.json, or HTTP/1.1
/// keep-alive POST /v1/articles (a publisher's only).
enum class Wire { kProto, kJson, kHttp };

/// What a scenario hears from its connections.
class ConnectionEvents {
 public:
  virtual ~ConnectionEvents() = default;
  virtual void on_open(Connection& connection) = 0;
  virtual void on_message(Connection& connection, std::string_view payload) = 0;
  /// Wire::kHttp: one answer to a POST, in the order they were sent.
  virtual void on_http_answer(Connection& connection, int status, std::string_view body) = 0;
  virtual void on_closed(Connection& connection, std::string_view why) = 0;
};

/// A lean client-side WebSocket connection for load generation, not for applications (those use
/// kabar_client): a non-blocking socket in the bench's EventLoop. A readable socket is read into
/// the loop's buffers (EventLoop::read_soon), so an idle connection costs a socket and a few
/// dozen bytes. Answers pings, honours close; messages are never fragmented by the
/// broker. Frames are masked with a zero key (RFC 6455 allows any key; the broker unmasks
/// either way). Over TLS (`tls` given: wss://), OpenSSL reads and writes the socket itself,
/// each readable socket read through it until it asks for more.
/// @note Single-threaded, like its loop. Lives as long as the loop may report its events.
class Connection final : public EventLoop::Handler {
 public:
  /// `tls`: the client context of a wss:// run, null for ws://.
  Connection(EventLoop& loop, ConnectionEvents& events, std::uint32_t index, Wire wire,
             SSL_CTX* tls = nullptr);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Connects from `local` (port chosen by the kernel) and performs the upgrade.
  void start(const sockaddr_in& broker, in_addr local);
  /// Queues one message (binary, or text on kabar.v1.json; on HTTP, a POST of `payload` as a
  /// binary Article, pipelined); what is queued in one pass of the loop goes out in one write.
  void send(std::string_view payload);
  void close();

  [[nodiscard]] std::uint32_t index() const { return index_; }
  [[nodiscard]] bool is_open() const { return open_; }
  [[nodiscard]] bool json() const { return wire_ == Wire::kJson; }
  [[nodiscard]] bool http() const { return wire_ == Wire::kHttp; }

  void on_events(std::uint32_t events) override;
  void on_read(long result, const char* data, std::size_t capacity) override;

 private:
  void fail(std::string_view why);
  void fail_errno(std::string_view what);
  void on_connected();
  void start_talking();       // the upgrade (or, on HTTP, the first requests)
  void continue_handshake();  // TLS's, until it is done
  void read_tls();
  void on_readable(bool hung_up);
  void read_rest(std::size_t have);           // recv() until the socket is empty (or at its end)
  bool take(std::string_view data);           // what a read brought; false once closed
  bool consume(std::string_view& data);       // frames (or the handshake) off the front of data
  bool consume_http(std::string_view& data);  // HTTP answers off the front of data
  void frame(std::uint8_t opcode, std::string_view payload);
  void append_frame(std::uint8_t opcode, std::string_view payload);
  void flush();

  EventLoop& loop_;
  ConnectionEvents& events_;
  std::uint32_t index_;
  Wire wire_;
  int fd_ = -1;
  SSL_CTX* tls_;
  struct SslFree {
    void operator()(SSL* ssl) const { SSL_free(ssl); }
  };
  std::unique_ptr<SSL, SslFree> ssl_;
  bool tls_ready_ = false;
  std::string carry_;  // an incomplete frame left from the last read
  std::string out_;
  std::size_t out_sent_ = 0;  // of out_, written already (the rest waits for EPOLLOUT)
  bool connected_ = false;
  bool open_ = false;
  bool handshaken_ = false;
  bool closed_ = false;
  bool hung_up_ = false;  // the broker's side is gone: read on to the end of the stream
  bool flush_deferred_ = false;
};

}  // namespace kabar::bench
