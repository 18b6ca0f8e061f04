#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>

#include "kabar/v1/kabar.pb.h"

namespace boost::asio {
class io_context;
}

/// The kabar C++ client library: connect, publish, subscribe and close, over kabar.v1.proto.
namespace kabar::client {

/// Reconnecting after a connection that was open is lost: the n-th attempt waits a random time
/// in [0, min(max_delay, initial_delay * 2^n)] ("full jitter", so that a thousand dashboards
/// dropped together do not come back together), then resumes every subscription from the last
/// offset handed to the application.
struct Reconnect {
  bool enabled = true;
  std::chrono::milliseconds initial_delay{100};
  std::chrono::milliseconds max_delay{10'000};
};

struct Options {
  std::string url = "ws://127.0.0.1:8080/v1/ws";  ///< ws://HOST:PORT/PATH or wss://HOST:PORT/PATH
  /// wss://: PEM file of the certificate authorities to trust (a self-signed broker's own
  /// certificate, say); empty: the system's. The broker's certificate must name the URL's host.
  std::string tls_ca_file;
  std::string token;                                  ///< sent in Connect
  std::string client_name = "kabar-client";           ///< shows in the broker's logs
  std::size_t max_message_bytes = 64 << 20;           ///< largest frame accepted from the broker
  std::chrono::milliseconds connect_timeout{10'000};  ///< TCP connect and WebSocket handshake
  std::chrono::milliseconds idle_timeout{60'000};  ///< broker silent this long: connection dropped
  Reconnect reconnect;
};

/// How a request ended: the broker's Reply, or why none came.
struct Response {
  v1::Reply reply;      ///< the broker's answer (may hold an Error)
  std::string failure;  ///< set when the connection failed before the reply came

  [[nodiscard]] bool ok() const { return failure.empty() && !reply.has_error(); }
  /// "connection failed: ..." or "BAD_REQUEST: article.id is required"; empty when ok().
  [[nodiscard]] std::string error_text() const;
};

/// Why the connection ended.
struct CloseInfo {
  std::uint16_t code = 0;  ///< the WebSocket close code the broker sent, 0 when none
  std::string reason;      ///< its reason, or the transport error
  bool by_client = false;  ///< close() was called
};

/// A request that did not succeed, for the std::future API.
class RequestError : public std::runtime_error {
 public:
  explicit RequestError(const Response& response)
      : std::runtime_error(response.error_text()),
        code_(response.reply.has_error() ? response.reply.error().code() : v1::Error::UNAVAILABLE) {
  }
  [[nodiscard]] v1::Error::Code code() const { return code_; }

 private:
  v1::Error::Code code_;
};

using ResponseHandler = std::function<void(Response)>;
using DeliveryHandler = std::function<void(const v1::Delivery&)>;
using CloseHandler = std::function<void(const CloseInfo&)>;
/// A connection was lost and another attempt follows after `delay`.
using ReconnectHandler = std::function<void(const CloseInfo& why, std::chrono::milliseconds delay)>;
/// After a reconnect, the broker's answer to one subscription's resume (attempts that failed
/// before an answer are not reported): check
/// reply.subscribe().recovered (false: articles were missed, and why is in not_recovered_reason).
using ResumeHandler = std::function<void(const std::string& topic, const Response& response)>;

/// One connection to a kabar broker.
///
/// Requests may be made before connect() completes: they are sent, in order, after Connect.
/// Once open, a lost connection is re-established on its own (Options::reconnect) unless the
/// broker closed it for a reason a retry cannot fix (1002, 1003, 1008, 1009, 4003); requests in
/// flight when it was lost fail (publishing again is safe: same id and version is a duplicate),
/// requests made while reconnecting are sent after it. Each subscription resumes from the last
/// (topic, offset) handed to its handler: nothing missed, nothing twice, as long as the broker's
/// history reaches back (see ResumeHandler).
/// The broker sends each (topic, offset) once per connection, however many subscriptions
/// match; the client hands it to one handler: that of the oldest subscription whose topic or
/// pattern matches and whose filter accepts it.
/// @note Thread-safe: every member may be called from any thread. Handlers run on a thread
/// running the io_context. The std::future overloads must not be waited on from that thread.
class Client {
 public:
  Client(boost::asio::io_context& ioc, Options options);
  ~Client();  ///< closes the connection abruptly if still open; prefer close()
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// Connects (TCP, WebSocket upgrade with kabar.v1.proto) and sends Connect.
  void connect(ResponseHandler done);
  /// Called once, when the connection ends for good: close(), or a loss not retried.
  void on_close(CloseHandler handler);
  /// Called each time a lost connection is about to be retried.
  void on_reconnect(ReconnectHandler handler);
  /// Called for each subscription resumed after a reconnect.
  void on_resume(ResumeHandler handler);

  void publish(v1::Article article, ResponseHandler done);
  void subscribe(v1::Subscribe request, DeliveryHandler on_delivery, ResponseHandler done);
  void unsubscribe(std::string topic, ResponseHandler done);
  void ping(ResponseHandler done);
  /// Sends a normal close (1000) and completes when the broker has answered it.
  void close(std::function<void()> done = {});

  /// The same, for callers that wait. A refused request throws RequestError from get().
  std::future<v1::ConnectResult> connect();
  std::future<v1::PublishResult> publish(v1::Article article);
  std::future<v1::SubscribeResult> subscribe(v1::Subscribe request, DeliveryHandler on_delivery);

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace kabar::client
