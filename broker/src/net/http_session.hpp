#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>

#include "core/shard.hpp"
#include "kabar/broker/engine.hpp"
#include "kabar/desk/assets.hpp"
#include "net/admission.hpp"
#include "net/http_answer.hpp"
#include "net/tcp_stream.hpp"

namespace kabar::broker {

/// A connection before it is a WebSocket: completes the TLS handshake when the listener has a
/// certificate, reads HTTP requests (each within the handshake timeout), answers GET /healthz,
/// GET /metrics and GET /v1/topics/{topic}/articles, and hands an upgrade at /v1/ws that asks
/// for kabar.v1.proto to a WsSession. Anything else gets a precise HTTP error.
/// @note Lives on its shard's thread.
class HttpSession final : public Connection, public std::enable_shared_from_this<HttpSession> {
 public:
  /// `ticket` holds the connection's place under the connection limits while it lives.
  HttpSession(boost::asio::ip::tcp::socket&& socket, Shard& shard, BrokerContext& context,
              std::shared_ptr<const void> ticket);
  ~HttpSession() override;

  void run();
  void shut_down() override;

 private:
  void on_detected(boost::beast::error_code ec, bool tls);
  void on_tls_handshake(boost::beast::error_code ec, std::size_t bytes_used);
  void do_read();
  // The header read: the body limit is the route's, and a body over it is refused unread.
  void on_header(boost::beast::error_code ec, std::size_t bytes);
  void read_body();
  void on_read(boost::beast::error_code ec, std::size_t bytes);
  // The token's claims, or why it is refused, one line (logged and counted).
  std::variant<jwt::Claims, std::string> verify(const std::string& token);
  // The reader's claims on the HTTP read paths (history, topics), nullopt when no token is
  // needed; false when the token is missing or refused (answered 401 here), or does not grant
  // reading `topic` when one is named (403).
  bool authorize_reader(const boost::beast::http::request<boost::beast::http::string_body>& request,
                        std::string_view topic, std::optional<jwt::Claims>& claims);
  // Where an answer made off this thread (the store's reader, a shard) comes back to, holding
  // one of the broker's store-read slots until then; empty when none is free (answered 503).
  std::function<void(Answer)> read_answerer(bool vary_accept);
  void serve_history(const boost::beast::http::request<boost::beast::http::string_body>& request);
  // GET /v1/topics and /v1/topics/{topic}: the store's topics, then the shards' receivers.
  void serve_topics(const boost::beast::http::request<boost::beast::http::string_body>& request);
  // GET /metrics: the counters, then kabar_topic_receivers (the store's topics, the shards').
  void serve_metrics();
  // An answer made off this thread, with its own headers (Vary: Accept when `vary_accept`).
  void respond_with(Answer answer, bool vary_accept = false);
  // POST /v1/articles: publishes as the WebSocket Publish does, answers in JSON.
  void post_article(const boost::beast::http::request<boost::beast::http::string_body>& request);
  void on_published(PublishOutcome outcome);
  // A refused POST: logged, counted (unless `counted` already), answered {"code", "message"}.
  void refuse_article(unsigned status, const Rejection& error, bool counted = false);
  // A file of the desk (GET /), with its security and caching headers; 304 when unchanged.
  void serve_asset(const boost::beast::http::request<boost::beast::http::string_body>& request,
                   const desk::Asset& asset);
  void respond(boost::beast::http::status status, std::string body,
               std::string_view content_type = "text/plain; charset=utf-8");
  // respond() in two steps, for a response that needs headers of its own before send().
  boost::beast::http::response<boost::beast::http::string_body>& start_response(
      boost::beast::http::status status, std::string body, std::string_view content_type);
  void send();
  void on_write(bool keep_alive, boost::beast::error_code ec, std::size_t bytes);

  SessionStream stream_;
  Shard& shard_;
  BrokerContext& context_;
  ConnectionLabel label_;
  std::shared_ptr<const void> ticket_;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  std::optional<boost::beast::http::response<boost::beast::http::string_body>> response_;
  RateLimit publish_rate_;
  // The request was read whole and refused for what it said: the connection stays usable (a
  // CMS posting on keep-alive is told and goes on).
  bool keep_alive_on_refusal_ = false;
};

}  // namespace kabar::broker
