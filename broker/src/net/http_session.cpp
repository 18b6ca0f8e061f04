#include "net/http_session.hpp"

#include <algorithm>
#include <optional>
#include <string_view>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/detect_ssl.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/none.hpp>

#include "base/log.hpp"
#include "core/census.hpp"
#include "kabar/common/article.hpp"
#include "kabar/common/log_safe.hpp"
#include "kabar/common/time.hpp"
#include "kabar/common/topic.hpp"
#include "kabar/version.hpp"
#include "net/article_post.hpp"
#include "net/codec.hpp"
#include "net/history_query.hpp"
#include "net/post_back.hpp"
#include "net/publish_check.hpp"
#include "net/query_string.hpp"
#include "net/topic_list.hpp"
#include "net/ws_handshake.hpp"
#include "net/ws_session.hpp"

namespace kabar::broker {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ssl = boost::asio::ssl;

namespace {

constexpr std::uint32_t kHeaderLimit = 8 * 1024;
constexpr std::uint64_t kBodyLimit = 64 * 1024;  // no endpoint takes a body yet

std::string remote_of(const boost::asio::ip::tcp::socket& socket) {
  beast::error_code ec;
  const auto endpoint = socket.remote_endpoint(ec);
  if (ec) return "?";
  return endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
}

// RFC 9112 section 6.3: a request whose Transfer-Encoding is anything but a final "chunked" has
// no length this server can trust (Beast 1.81 reads it as an empty body, and the rest as the next
// request). Only "chunked" alone is accepted; nullopt when the header is fine.
std::optional<std::string> transfer_encoding_error(std::string_view value) {
  if (value.empty()) return std::nullopt;
  auto trimmed = value;
  while (!trimmed.empty() && (trimmed.front() == ' ' || trimmed.front() == '\t')) {
    trimmed.remove_prefix(1);
  }
  while (!trimmed.empty() && (trimmed.back() == ' ' || trimmed.back() == '\t')) {
    trimmed.remove_suffix(1);
  }
  if (beast::iequals(trimmed, "chunked")) return std::nullopt;
  return "Transfer-Encoding '" + log_safe(value, 100) +
         "' is not supported: send Content-Length or Transfer-Encoding: chunked alone\n";
}

bool is_article_post(const http::request<http::string_body>& request) {
  const auto target = request.target();
  return request.method() == http::verb::post &&
         target.substr(0, target.find('?')) == article_post::kPath;
}

// A token given at the upgrade: "Authorization: Bearer T" or "?access_token=T" (browsers
// cannot set headers on a WebSocket).
std::string bearer_token(const http::request<http::string_body>& request) {
  const auto authorization = request[http::field::authorization];
  constexpr std::string_view scheme = "Bearer ";
  if (authorization.starts_with(scheme)) return std::string(authorization.substr(scheme.size()));
  std::string token;
  for_each_query_parameter(request.target(), [&](std::string_view key, std::string_view value) {
    if (key != "access_token") return true;
    token = percent_decode(value);
    return false;
  });
  return token;
}

// The answer to plain HTTP on a TLS listener, written without TLS so that it can be read.
const std::string& speaks_tls_response() {
  static const std::string response = [] {
    constexpr std::string_view body = "this port speaks TLS only: use https:// and wss:// URLs\n";
    return "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n"
           "Content-Type: text/plain; charset=utf-8\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
  }();
  return response;
}

}  // namespace

HttpSession::HttpSession(boost::asio::ip::tcp::socket&& socket, Shard& shard,
                         BrokerContext& context, std::shared_ptr<const void> ticket)
    : stream_(TcpStream(std::move(socket)), context.tls),
      shard_(shard),
      context_(context),
      label_{context.next_connection_id.fetch_add(1, std::memory_order_relaxed),
             remote_of(stream_.next_layer().socket())},
      ticket_(std::move(ticket)),
      publish_rate_(context.config.publish_rate) {
  shard_.add(*this);
}

HttpSession::~HttpSession() {
  shard_.remove(*this);
}

void HttpSession::run() {
  beast::error_code ignored;
  stream_.next_layer().socket().set_option(boost::asio::ip::tcp::no_delay(true), ignored);
  if (!stream_.is_tls()) return do_read();
  // The TLS handshake counts against the handshake timeout as the HTTP request does. Its first
  // bytes are looked at before: plain HTTP gets an answer it can read.
  stream_.next_layer().expires_after(context_.config.handshake_timeout);
  beast::async_detect_ssl(stream_.next_layer(), buffer_,
                          beast::bind_front_handler(&HttpSession::on_detected, shared_from_this()));
}

void HttpSession::on_detected(beast::error_code ec, bool tls) {
  if (ec == beast::error::timeout) {
    logging::info({"tls.handshake_not_begun", label_.id, label_.remote},
                  "began no TLS handshake within {} ms: closed",
                  context_.config.handshake_timeout.count());
  }
  if (ec) return;
  if (!tls) {
    logging::info({"tls.plain_http", label_.id, label_.remote},
                  "spoke plain HTTP to the TLS listener: answered 400");
    context_.metrics.rejected(Rejected::kTlsHandshake);
    boost::asio::async_write(stream_.next_layer(), boost::asio::buffer(speaks_tls_response()),
                             [self = shared_from_this()](beast::error_code, std::size_t) {
                               beast::error_code ignored;
                               self->stream_.next_layer().socket().shutdown(
                                   boost::asio::ip::tcp::socket::shutdown_send, ignored);
                             });
    return;
  }
  stream_.tls().async_handshake(
      ssl::stream_base::server, buffer_.data(),
      beast::bind_front_handler(&HttpSession::on_tls_handshake, shared_from_this()));
}

void HttpSession::on_tls_handshake(beast::error_code ec, std::size_t bytes_used) {
  buffer_.consume(bytes_used);
  if (ec == beast::error::timeout) {
    logging::info({"tls.handshake_timeout", label_.id, label_.remote},
                  "did not complete the TLS handshake within {} ms: closed",
                  context_.config.handshake_timeout.count());
    return;
  }
  if (ec == boost::asio::error::operation_aborted) return;
  if (ec) {
    logging::info({"tls.handshake_failed", label_.id, label_.remote}, "TLS handshake failed: {}",
                  ec.message());
    context_.metrics.rejected(Rejected::kTlsHandshake);
    return;
  }
  do_read();
}

void HttpSession::shut_down() {
  stream_.next_layer().cancel();
}

void HttpSession::do_read() {
  parser_.emplace();
  parser_->header_limit(kHeaderLimit);
  // None while the header is read: on_header sets the route's, and answers a Content-Length
  // over it itself (in JSON on the article route).
  parser_->body_limit(boost::none);
  keep_alive_on_refusal_ = false;
  stream_.next_layer().expires_after(context_.config.handshake_timeout);
  http::async_read_header(stream_, buffer_, *parser_,
                          beast::bind_front_handler(&HttpSession::on_header, shared_from_this()));
}

void HttpSession::on_header(beast::error_code ec, std::size_t bytes) {
  if (ec) return on_read(ec, bytes);
  const auto& request = parser_->get();
  const bool article_post = is_article_post(request);
  const std::uint64_t limit = article_post ? context_.config.max_message_bytes : kBodyLimit;
  if (const auto length = parser_->content_length(); length && *length > limit) {
    context_.metrics.rejected(Rejected::kTooLarge);
    const Rejection error{v1::Error::TOO_LARGE, "the body of " + std::to_string(*length) +
                                                    " bytes is over the limit of " +
                                                    std::to_string(limit) +
                                                    " bytes (--max-message-bytes): not read"};
    if (article_post) return refuse_article(413, error, true);
    return respond(http::status::payload_too_large, error.message + "\n");
  }
  parser_->body_limit(limit);  // a chunked body is counted as it comes
  // curl and others wait for this before sending a body they asked about.
  if (beast::iequals(request[http::field::expect], "100-continue") && !parser_->is_done()) {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    return boost::asio::async_write(
        stream_, boost::asio::buffer(kContinue),
        [self = shared_from_this()](beast::error_code write_error, std::size_t) {
          if (!write_error) self->read_body();
        });
  }
  read_body();
}

void HttpSession::read_body() {
  http::async_read(stream_, buffer_, *parser_,
                   beast::bind_front_handler(&HttpSession::on_read, shared_from_this()));
}

void HttpSession::on_read(beast::error_code ec, std::size_t) {
  if (ec == http::error::end_of_stream || ec == boost::asio::error::operation_aborted) return;
  if (ec == beast::error::timeout) {
    logging::info({"http.request_timeout", label_.id, label_.remote},
                  "sent no complete HTTP request within {} ms: closed",
                  context_.config.handshake_timeout.count());
    return;
  }
  if (ec == http::error::header_limit) {
    context_.metrics.rejected(Rejected::kBadHttpRequest);
    return respond(http::status::request_header_fields_too_large,
                   "request too large: " + ec.message() + "\n");
  }
  if (ec == http::error::body_limit) {  // a chunked body that went past the route's limit
    context_.metrics.rejected(Rejected::kTooLarge);
    const Rejection error{v1::Error::TOO_LARGE,
                          "the body went over the limit of " +
                              std::to_string(context_.config.max_message_bytes) +
                              " bytes (--max-message-bytes): not read further"};
    if (is_article_post(parser_->get())) return refuse_article(413, error, true);
    return respond(http::status::payload_too_large,
                   "request body too large: " + ec.message() + "\n");
  }
  if (ec) {
    logging::info({"http.bad_request", label_.id, label_.remote}, "sent a bad HTTP request: {}",
                  ec.message());
    context_.metrics.rejected(Rejected::kBadHttpRequest);
    return respond(http::status::bad_request, "bad HTTP request: " + ec.message() + "\n");
  }
  if (shard_.stopping()) return respond(http::status::service_unavailable, "shutting down\n");

  auto& request = parser_->get();
  if (auto error = transfer_encoding_error(request[http::field::transfer_encoding])) {
    context_.metrics.rejected(Rejected::kBadHttpRequest);
    return respond(http::status::bad_request, std::move(*error));  // 400 closes the connection
  }
  const auto target = request.target();
  const auto path = target.substr(0, target.find('?'));
  if (websocket::is_upgrade(request)) {
    if (path != "/v1/ws") {
      return respond(http::status::not_found, "no WebSocket endpoint here: use /v1/ws\n");
    }
    if (request[http::field::sec_websocket_version] != ws_handshake::kVersion) {
      context_.metrics.rejected(Rejected::kBadHttpRequest);
      auto& response = start_response(http::status::upgrade_required,
                                      "kabar speaks WebSocket version 13 (RFC 6455) only\n",
                                      "text/plain; charset=utf-8");
      response.set(http::field::sec_websocket_version, ws_handshake::kVersion);
      return send();
    }
    if (!ws_handshake::valid_key(request[http::field::sec_websocket_key])) {
      context_.metrics.rejected(Rejected::kBadHttpRequest);
      return respond(http::status::bad_request,
                     "Sec-WebSocket-Key must be the base64 of 16 bytes (24 characters)\n");
    }
    const auto* codec = choose_codec(request[http::field::sec_websocket_protocol]);
    if (codec == nullptr) {
      return respond(http::status::bad_request,
                     "the WebSocket upgrade must ask for subprotocol kabar.v1.proto or "
                     "kabar.v1.json (header Sec-WebSocket-Protocol: kabar.v1.proto)\n");
    }
    const auto origin = request[http::field::origin];
    const auto& allowed = context_.config.allowed_origins;
    if (!origin.empty() && !allowed.empty() &&
        std::find(allowed.begin(), allowed.end(), origin) == allowed.end()) {
      logging::info({"ws.origin_refused", label_.id, label_.remote},
                    "upgrade from origin '{}' refused", log_safe(origin));
      context_.metrics.rejected(Rejected::kForbiddenOrigin);
      return respond(http::status::forbidden,
                     "origin '" + std::string(origin) + "' is not allowed here\n");
    }
    auto token = bearer_token(request);
    if (!token.empty() && context_.verifier != nullptr) {
      const auto verified = verify(token);
      if (const auto* refusal = std::get_if<std::string>(&verified)) {
        return respond(http::status::unauthorized, *refusal + "\n");
      }
    }
    auto session = std::make_shared<WsSession>(shard_, context_, *codec, label_, std::move(ticket_),
                                               std::move(token));
    // Bytes the client sent after its request without waiting for the answer: its first frames.
    const auto early = buffer_.data();
    session->run(stream_, parser_->release(),
                 {static_cast<const char*>(early.data()), early.size()});
    return;
  }
  if (path == article_post::kPath) return post_article(request);
  if (request.method() != http::verb::get && request.method() != http::verb::head) {
    return respond(http::status::method_not_allowed, "only GET and HEAD are served here\n");
  }
  if (const auto* asset = desk::find_asset(path)) return serve_asset(request, *asset);
  if (path == "/healthz") return respond(http::status::ok, "ok\n");
  if (path == "/metrics") return serve_metrics();
  if (history_query::matches(path)) return serve_history(request);
  if (topic_list::matches(path)) return serve_topics(request);
  if (path == "/v1/ws") {
    return respond(http::status::upgrade_required,
                   "/v1/ws is a WebSocket endpoint: upgrade with subprotocol kabar.v1.proto "
                   "or kabar.v1.json\n");
  }
  respond(http::status::not_found, "not found\n");
}

std::variant<jwt::Claims, std::string> HttpSession::verify(const std::string& token) {
  auto verified = context_.verifier->verify(token);
  if (const auto* refusal = std::get_if<jwt::Refusal>(&verified)) {
    logging::info({"ws.token_refused", label_.id, label_.remote}, "token refused ({}): {}",
                  refusal->reason, log_safe(refusal->message));
    context_.metrics.rejected(Rejected::kUnauthorized);
    return jwt::describe(*refusal);
  }
  return std::get<jwt::Claims>(std::move(verified));
}

bool HttpSession::authorize_reader(const http::request<http::string_body>& request,
                                   std::string_view topic, std::optional<jwt::Claims>& claims) {
  if (context_.verifier == nullptr || context_.anonymous_allowed) return true;
  const auto token = bearer_token(request);
  if (token.empty()) {
    respond(http::status::unauthorized,
            "a token is required: Authorization: Bearer TOKEN or ?access_token=\n");
    return false;
  }
  auto verified = verify(token);
  if (const auto* refusal = std::get_if<std::string>(&verified)) {
    respond(http::status::unauthorized, *refusal + "\n");
    return false;
  }
  claims = std::get<jwt::Claims>(std::move(verified));
  if (!topic.empty() && !jwt::granted(claims->subscribe, topic)) {
    context_.metrics.rejected(Rejected::kForbidden);
    respond(http::status::forbidden,
            "the token does not grant reading '" + std::string(topic) + "'\n");
    return false;
  }
  return true;
}

std::function<void(Answer)> HttpSession::read_answerer(bool vary_accept) {
  // Each read holds up to a page in memory: a few at a time over the broker, the rest retry.
  if (context_.history_reads.fetch_add(1) >= history_query::kMaxConcurrentReads) {
    context_.history_reads.fetch_sub(1);
    respond(http::status::service_unavailable,
            "too many history reads under way: retry in a second\n");
    return nullptr;
  }
  std::shared_ptr<void> slot(&context_.history_reads, [](void* reads) {
    static_cast<std::atomic<int>*>(reads)->fetch_sub(1);
  });
  return post_back(stream_.get_executor(), shared_from_this(),
                   [slot, vary_accept](HttpSession& self, Answer answer) mutable {
                     slot.reset();
                     self.respond_with(std::move(answer), vary_accept);
                   });
}

void HttpSession::respond_with(Answer answer, bool vary_accept) {
  auto& response = start_response(static_cast<http::status>(answer.status), std::move(answer.body),
                                  answer.content_type);
  for (const auto& [name, value] : answer.headers) response.set(name, value);
  if (vary_accept) response.set(http::field::vary, "Accept");
  send();
}

void HttpSession::serve_history(const http::request<http::string_body>& request) {
  auto parsed = history_query::parse(request.target());
  if (auto* error = std::get_if<std::string>(&parsed)) {
    return respond(http::status::bad_request, *error + "\n");
  }
  // History is what subscribers may read: the same token, the same grants.
  std::optional<jwt::Claims> claims;
  if (!authorize_reader(request, std::get<history_query::Query>(parsed).topic, claims)) return;
  const auto format = history_query::format_for(request[http::field::accept]);
  auto respond_here = read_answerer(true);
  if (!respond_here) return;
  auto query = std::get<history_query::Query>(std::move(parsed));
  auto read = history_query::read_request(query);
  context_.engine.read(std::move(read), [query = std::move(query), format,
                                         respond_here](const ReadResult& result) mutable {
    // Encoded here, on the engine's reader thread: a page of megabytes never stalls an I/O thread.
    respond_here(history_query::answer(query, result, format));
  });
}

void HttpSession::serve_topics(const http::request<http::string_body>& request) {
  auto parsed = topic_list::parse(request.target());
  if (auto* error = std::get_if<std::string>(&parsed)) {
    return respond(http::status::bad_request, *error + "\n");
  }
  // A reader sees the topics it may subscribe to.
  std::optional<jwt::Claims> claims;
  if (!authorize_reader(request, std::get<topic_list::Query>(parsed).topic, claims)) return;
  auto query = std::get<topic_list::Query>(std::move(parsed));
  auto respond_here = read_answerer(false);
  if (!respond_here) return;
  auto grants = claims ? std::make_optional(std::move(claims->subscribe)) : std::nullopt;
  auto read = topic_list::read_request(query);
  context_.engine.read(
      std::move(read), [&census = *context_.census, query = std::move(query),
                        grants = std::move(grants), respond_here](ReadResult result) mutable {
        if (!result.batch) {
          return respond_here(plain_answer(
              503, result.not_recoverable.value_or("the store could not be read") + "\n"));
        }
        auto page = std::make_shared<topic_list::Page>(
            topic_list::page(query, std::move(result.topics), grants ? &*grants : nullptr));
        std::vector<std::string> names;
        names.reserve(page->topics.size());
        for (const auto& topic : page->topics) names.push_back(topic.topic);
        census.count(std::move(names), [query = std::move(query), page, respond_here](
                                           const std::vector<std::uint64_t>& receivers) mutable {
          respond_here(topic_list::answer(query, *page, receivers));
        });
      });
}

void HttpSession::serve_metrics() {
  auto respond_here = post_back(
      stream_.get_executor(), shared_from_this(), [](HttpSession& self, const std::string& gauge) {
        self.respond(http::status::ok, self.context_.metrics.render() + gauge,
                     "text/plain; version=0.0.4; charset=utf-8");
      });
  context_.engine.read(topic_list::read_request({}), [&census = *context_.census,
                                                      respond_here](ReadResult result) mutable {
    if (!result.batch) return respond_here(std::string());  // the counters still answer
    auto topics = std::make_shared<std::vector<TopicState>>(std::move(result.topics));
    std::vector<std::string> names;
    names.reserve(topics->size());
    for (const auto& topic : *topics) names.push_back(topic.topic);
    census.count(std::move(names),
                 [topics, respond_here](const std::vector<std::uint64_t>& receivers) mutable {
                   respond_here(topic_list::receivers_gauge(*topics, receivers));
                 });
  });
}

void HttpSession::post_article(const http::request<http::string_body>& request) {
  keep_alive_on_refusal_ = true;
  if (request.method() != http::verb::post) {
    auto& response = start_response(http::status::method_not_allowed,
                                    article_post::error_json({v1::Error::BAD_REQUEST,
                                                              "POST an article here (ninjs JSON or "
                                                              "a binary kabar.v1.Article)"}),
                                    "application/json");
    response.set(http::field::allow, "POST");
    context_.metrics.rejected(Rejected::kBadHttpRequest);
    return send();
  }
  if (shard_.stopping()) {
    keep_alive_on_refusal_ = false;
    return refuse_article(503, {v1::Error::UNAVAILABLE, "shutting down: publish again shortly"});
  }
  const auto format = article_post::body_format(request[http::field::content_type]);
  if (const auto* refusal = std::get_if<article_post::Refusal>(&format)) {
    context_.metrics.rejected(Rejected::kUnsupportedMediaType);
    return refuse_article(refusal->status, refusal->error, true);
  }
  // The same token and grants as a WebSocket publisher's, given as Authorization: Bearer.
  std::optional<jwt::Claims> claims;
  if (context_.verifier != nullptr) {
    const auto token = bearer_token(request);
    if (!token.empty()) {
      auto verified = verify(token);
      if (auto* refusal = std::get_if<std::string>(&verified)) {
        return refuse_article(401, {v1::Error::UNAUTHORIZED, std::move(*refusal)}, true);
      }
      claims = std::get<jwt::Claims>(std::move(verified));
    } else if (!context_.anonymous_allowed) {
      return refuse_article(
          401, {v1::Error::UNAUTHORIZED, "a token is required: Authorization: Bearer TOKEN"});
    }
  }
  if (!publish_rate_.take()) {
    return refuse_article(429, over_publish_rate(context_.config.publish_rate));
  }
  auto parsed = article_post::parse(request.target(), std::get<article_post::BodyFormat>(format),
                                    request.body());
  if (const auto* refusal = std::get_if<article_post::Refusal>(&parsed)) {
    return refuse_article(refusal->status, refusal->error);
  }
  auto article = std::get<v1::Article>(std::move(parsed));
  if (auto rejection = check_publish(article, shard_.routes(), context_.config.max_article_bytes,
                                     claims ? &*claims : nullptr)) {
    return refuse_article(article_post::status_for(rejection->code), *rejection);
  }
  // Handed to the engine with the rest of this pass's publishes, as a WebSocket publisher's.
  shard_.publish(context_.engine, {.article = std::move(article),
                                   .accepted_at = current_timestamp(),
                                   .done = post_back(stream_.get_executor(), shared_from_this(),
                                                     [](HttpSession& self, PublishOutcome outcome) {
                                                       self.on_published(std::move(outcome));
                                                     })});
}

void HttpSession::on_published(PublishOutcome outcome) {
  if (outcome.rejection) {
    return refuse_article(article_post::status_for(outcome.rejection->code), *outcome.rejection);
  }
  context_.metrics.published();
  const auto status = outcome.result.duplicate() ? http::status::ok : http::status::created;
  respond(status, article_post::result_json(outcome.result), "application/json");
}

void HttpSession::refuse_article(unsigned status, const Rejection& error, bool counted) {
  logging::info({"http.post_refused", label_.id, label_.remote}, "POST {} refused ({}): {}",
                article_post::kPath, status, log_safe(error.message));
  if (!counted) context_.metrics.rejected(Metrics::rejected_for(error.code));
  respond(static_cast<http::status>(status), article_post::error_json(error), "application/json");
}

void HttpSession::serve_asset(const http::request<http::string_body>& request,
                              const desk::Asset& asset) {
  // Revalidated on every load (no-cache), answered 304 when unchanged: a broker upgrade shows at
  // once, and an unchanged desk costs a round trip and no body.
  const auto if_none_match = request[http::field::if_none_match];
  const bool unchanged = if_none_match.find(asset.etag) != std::string_view::npos;
  auto& response =
      unchanged ? start_response(http::status::not_modified, {}, asset.content_type)
                : start_response(http::status::ok, std::string(asset.body), asset.content_type);
  if (unchanged) response.erase(http::field::content_type);
  response.set(http::field::etag, asset.etag);
  response.set(http::field::cache_control, "no-cache");
  // Only the broker's own files and its own WebSocket ('self' covers ws:// and wss:// on the same
  // host and port): no inline script or style, no other host, never framed.
  response.set("Content-Security-Policy",
               "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
               "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'");
  response.set("X-Content-Type-Options", "nosniff");
  response.set("Referrer-Policy", "no-referrer");
  send();
}

void HttpSession::respond(http::status status, std::string body, std::string_view content_type) {
  start_response(status, std::move(body), content_type);
  send();
}

http::response<http::string_body>& HttpSession::start_response(http::status status,
                                                               std::string body,
                                                               std::string_view content_type) {
  auto& response = response_.emplace(status, 11);
  response.set(http::field::server, kServerHeader);
  response.set(http::field::content_type, content_type);
  if (status == http::status::method_not_allowed) response.set(http::field::allow, "GET, HEAD");
  if (status == http::status::service_unavailable || status == http::status::too_many_requests) {
    response.set(http::field::retry_after, "1");
  }
  response.body() = std::move(body);
  return response;
}

void HttpSession::send() {
  auto& response = *response_;
  const bool keep_alive = parser_ && parser_->is_done() && parser_->get().keep_alive() &&
                          (response.result() < http::status::bad_request || keep_alive_on_refusal_);
  response.keep_alive(keep_alive);
  response.prepare_payload();
  // The read's deadline may have passed while the store or the engine answered: the write gets
  // its own.
  stream_.next_layer().expires_after(context_.config.handshake_timeout);
  // HEAD: the headers GET would have, Content-Length included, and no body.
  if (parser_ && parser_->is_header_done() && parser_->get().method() == http::verb::head) {
    response.body().clear();
  }
  http::async_write(
      stream_, response,
      beast::bind_front_handler(&HttpSession::on_write, shared_from_this(), keep_alive));
}

void HttpSession::on_write(bool keep_alive, beast::error_code ec, std::size_t) {
  response_.reset();
  if (ec) return;
  if (keep_alive) return do_read();
  if (stream_.is_tls()) {  // close_notify, so that the client sees an orderly end
    stream_.next_layer().expires_after(std::chrono::seconds(1));
    return stream_.tls().async_shutdown([self = shared_from_this()](beast::error_code) {});
  }
  // What the client still sends (a body refused unread) is read and dropped before the close, so
  // that the kernel does not answer it with a reset that loses the answer just written.
  async_teardown(beast::role_type::server, stream_.next_layer(),
                 [self = shared_from_this()](beast::error_code) {});
}

}  // namespace kabar::broker
