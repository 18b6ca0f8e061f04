#include "kabar/client/client.hpp"

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket.hpp>
#include <deque>
#include <map>
#include <random>
#include <unordered_map>
#include <vector>

#include <openssl/ssl.h>

#include "kabar/client/resume.hpp"
#include "kabar/client/url.hpp"
#include "kabar/common/article.hpp"
#include "kabar/common/close_code.hpp"
#include "kabar/common/maybe_tls_stream.hpp"
#include "kabar/common/topic.hpp"
#include "kabar/version.hpp"

namespace kabar::client {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace websocket = beast::websocket;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using Stream = MaybeTlsStream<beast::tcp_stream>;

std::string Response::error_text() const {
  if (!failure.empty()) return failure;
  if (!reply.has_error()) return {};
  return v1::Error::Code_Name(reply.error().code()) + ": " + reply.error().message();
}

namespace {

// wss://: TLS 1.2+, the broker's certificate verified against the given or the system's CAs.
std::unique_ptr<ssl::context> make_tls_context(const Url& url, const std::string& ca_file) {
  if (!url.tls) return nullptr;
  auto context = std::make_unique<ssl::context>(ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION);
  context->set_verify_mode(ssl::verify_peer);
  boost::system::error_code ec;
  if (ca_file.empty()) {
    context->set_default_verify_paths(ec);
  } else {
    context->load_verify_file(ca_file, ec);
  }
  if (ec) {
    throw std::invalid_argument("cannot load the trusted certificates" +
                                (ca_file.empty() ? std::string() : " from " + ca_file) + ": " +
                                ec.message());
  }
  return context;
}

}  // namespace

class Client::Impl : public std::enable_shared_from_this<Client::Impl> {
  // One connection attempt: a new link each time, kept alive by its pending operations, whose
  // completions are ignored once a newer link replaced it.
  struct Link {
    Link(net::strand<net::io_context::executor_type> executor, ssl::context* tls)
        : ws(beast::tcp_stream(executor), tls) {}
    websocket::stream<Stream> ws;
    websocket::response_type handshake_response;
    beast::flat_buffer buffer;
  };

  // A completion handler bound to the current link: runs `member` only if it is still current.
  template <typename... Args>
  auto on_link(void (Impl::*member)(Args...)) {
    return [self = shared_from_this(), link = link_, member](Args... args) {
      if (self->link_ == link) (self.get()->*member)(std::forward<Args>(args)...);
    };
  }

 public:
  Impl(net::io_context& ioc, Options options)
      : options_(std::move(options)),
        url_(parse_url(options_.url)),
        tls_(make_tls_context(url_, options_.tls_ca_file)),
        strand_(net::make_strand(ioc)),
        resolver_(strand_),
        retry_timer_(strand_) {}

  template <typename F>
  void run_on_strand(F&& f) {
    net::post(strand_, std::forward<F>(f));
  }

  void connect(ResponseHandler done) {
    if (state_ != State::kIdle) return fail_now(done, "connect() was already called");
    v1::ClientMessage message;
    message.mutable_connect()->set_token(options_.token);
    message.mutable_connect()->set_client_name(options_.client_name);
    send(message, std::move(done), true);
    open_link();
  }

  void send(v1::ClientMessage& message, ResponseHandler done, bool first = false) {
    if (state_ == State::kClosed) return fail_now(done, "connection is closed");
    const auto id = next_id_++;
    message.set_id(id);
    pending_.emplace(id, std::move(done));
    auto bytes = message.SerializeAsString();
    if (first) {
      outbox_.push_front(std::move(bytes));
    } else {
      outbox_.push_back(std::move(bytes));
    }
    do_write();
  }

  void subscribe(v1::Subscribe request, DeliveryHandler on_delivery, ResponseHandler done) {
    auto& route = routes_.emplace_back(Route{.topic = request.topic(),
                                             .filter = request.filter(),
                                             .handler = std::move(on_delivery),
                                             .positions = {}});
    route.positions.asked(request);
    v1::ClientMessage message;
    *message.mutable_subscribe() = std::move(request);
    send(message, [this, self = shared_from_this(), topic = message.subscribe().topic(),
                   done = std::move(done)](Response response) {
      if (!response.ok()) {
        remove_route(topic);
      } else {
        note_positions(topic, response.reply.subscribe());
      }
      if (done) done(std::move(response));
    });
  }

  void unsubscribe(std::string topic, ResponseHandler done) {
    v1::ClientMessage message;
    message.mutable_unsubscribe()->set_topic(topic);
    send(message, [this, self = shared_from_this(), topic, done = std::move(done)](Response r) {
      if (r.ok()) remove_route(topic);
      if (done) done(std::move(r));
    });
  }

  void close(std::function<void()> done) {
    if (done) close_waiters_.push_back(std::move(done));
    if (state_ == State::kClosed) return notify_close_waiters();
    closed_by_client_ = true;
    if (state_ != State::kOpen) {
      abort();
      retry_timer_.cancel();
      return end("closed before the connection was open");
    }
    if (closing_) return;
    closing_ = true;
    link_->ws.async_close(websocket::close_code::normal, on_link(&Impl::on_close));
  }

  void set_close_handler(CloseHandler handler) { close_handler_ = std::move(handler); }
  void set_reconnect_handler(ReconnectHandler handler) { reconnect_handler_ = std::move(handler); }
  void set_resume_handler(ResumeHandler handler) { resume_handler_ = std::move(handler); }

  void abort() {
    resolver_.cancel();
    if (!link_) return;
    beast::error_code ignored;
    beast::get_lowest_layer(link_->ws).socket().close(ignored);
  }

 private:
  enum class State { kIdle, kConnecting, kOpen, kWaiting, kClosed };

  struct Route {
    std::string topic;
    v1::Filter filter;
    DeliveryHandler handler;
    ResumePositions positions;
  };

  void open_link() {
    state_ = State::kConnecting;
    link_ = std::make_shared<Link>(strand_, tls_.get());
    resolver_.async_resolve(url_.host, url_.port, on_link(&Impl::on_resolve));
  }

  void on_resolve(beast::error_code ec, const tcp::resolver::results_type& results) {
    if (ec) return end("cannot resolve " + url_.host + ": " + ec.message());
    beast::get_lowest_layer(link_->ws).expires_after(options_.connect_timeout);
    beast::get_lowest_layer(link_->ws).async_connect(results, on_link(&Impl::on_connect));
  }

  void on_connect(beast::error_code ec, const tcp::endpoint& /*peer*/) {
    if (ec) return end("cannot connect to " + url_.host + ":" + url_.port + ": " + ec.message());
    beast::get_lowest_layer(link_->ws).socket().set_option(tcp::no_delay(true), ec);
    if (!url_.tls) return upgrade();
    auto& tls = link_->ws.next_layer().tls();
    // SNI for a host name (RFC 6066 has none for addresses); SSL_set_tlsext_host_name()
    // spelled out, as the macro's C cast fails our warnings.
    boost::system::error_code not_an_address;
    net::ip::make_address(url_.host, not_an_address);
    if (not_an_address) {
      SSL_ctrl(tls.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
               const_cast<char*>(url_.host.c_str()));
    }
    // The certificate must name the host the URL names.
    tls.set_verify_callback(ssl::host_name_verification(url_.host));
    tls.async_handshake(ssl::stream_base::client, on_link(&Impl::on_tls_handshake));
  }

  void on_tls_handshake(beast::error_code ec) {
    if (ec) {
      // A certificate that does not verify will not verify on a retry either.
      if (ec.category() == net::error::get_ssl_category() &&
          ERR_GET_REASON(static_cast<unsigned long>(ec.value())) ==
              SSL_R_CERTIFICATE_VERIFY_FAILED) {
        refused_ = true;
      }
      return end("TLS handshake with " + url_.host + ":" + url_.port + " failed: " + ec.message());
    }
    upgrade();
  }

  void upgrade() {
    auto& ws = link_->ws;
    ws.set_option(websocket::stream_base::decorator([](websocket::request_type& request) {
      request.set(http::field::sec_websocket_protocol, kSubprotocol);
      request.set(http::field::user_agent, kServerHeader);
    }));
    ws.read_message_max(options_.max_message_bytes);
    ws.auto_fragment(false);
    ws.binary(true);
    ws.async_handshake(link_->handshake_response, url_.host + ":" + url_.port, url_.target,
                       on_link(&Impl::on_handshake));
  }

  void on_handshake(beast::error_code ec) {
    auto& ws = link_->ws;
    if (ec) {
      const auto& response = link_->handshake_response;
      std::string detail = ec.message();
      if (!response.body().empty()) {
        detail += " (" + std::to_string(response.result_int()) + ": " +
                  response.body().substr(0, 300) + ")";
        while (!detail.empty() && detail.back() == '\n') detail.pop_back();
      }
      // An HTTP refusal will not change by retrying.
      if (response.result_int() >= 400) refused_ = true;
      return end("WebSocket handshake with " + options_.url + " failed: " + detail);
    }
    beast::get_lowest_layer(ws).expires_never();
    websocket::stream_base::timeout timeout{};
    timeout.handshake_timeout = options_.connect_timeout;
    timeout.idle_timeout = options_.idle_timeout;
    timeout.keep_alive_pings = true;
    ws.set_option(timeout);
    link_->handshake_response = {};
    state_ = State::kOpen;
    was_open_ = true;
    attempt_ = 0;
    do_read();
    do_write();
  }

  void do_read() { link_->ws.async_read(link_->buffer, on_link(&Impl::on_read)); }

  void on_read(beast::error_code ec, std::size_t bytes) {
    auto& ws = link_->ws;
    if (ec == websocket::error::closed) return end_with(ws.reason());
    if (ec) return end("connection lost: " + ec.message());
    v1::ServerMessage message;
    auto& buffer = link_->buffer;
    const bool parsed = ws.got_binary() && message.ParseFromArray(buffer.data().data(),
                                                                  static_cast<int>(buffer.size()));
    buffer.consume(bytes);
    if (!parsed) {
      refused_ = true;
      return end("the broker sent a frame that is not a kabar.v1.ServerMessage");
    }
    // The reply first: a subscription's answer comes before its first replayed delivery.
    if (message.has_reply()) {
      const auto it = pending_.find(message.reply().id());
      if (it != pending_.end()) {
        auto done = std::move(it->second);
        pending_.erase(it);
        if (done) done(Response{.reply = std::move(*message.mutable_reply()), .failure = {}});
      }
    }
    for (const auto& delivery : message.deliveries()) route(delivery);
    if (state_ == State::kOpen) do_read();
  }

  void route(const v1::Delivery& delivery) {
    const auto& article = delivery.article();
    for (auto& r : routes_) {
      if (topic_matches(r.topic, delivery.topic()) &&
          filter_accepts(r.filter, article.urgency(), article.language())) {
        r.positions.delivered(delivery);
        if (r.handler) r.handler(delivery);
        return;
      }
    }
  }

  void note_positions(const std::string& topic, const v1::SubscribeResult& result) {
    const auto route = find_route(topic);
    if (route != routes_.end()) route->positions.answered(result);
  }

  std::vector<Route>::iterator find_route(const std::string& topic) {
    return std::find_if(routes_.begin(), routes_.end(),
                        [&](const Route& r) { return r.topic == topic; });
  }

  void remove_route(const std::string& topic) {
    std::erase_if(routes_, [&](const Route& r) { return r.topic == topic; });
  }

  void do_write() {
    if (state_ != State::kOpen || writing_ || closing_ || outbox_.empty()) return;
    writing_ = true;
    link_->ws.async_write(net::buffer(outbox_.front()), on_link(&Impl::on_write));
  }

  void on_write(beast::error_code ec, std::size_t) {
    writing_ = false;
    if (ec) return end("write failed: " + ec.message());
    outbox_.pop_front();
    do_write();
  }

  void on_close(beast::error_code ec) {
    end(ec ? "close failed: " + ec.message() : std::string("closed by client"));
  }

  void end_with(const websocket::close_reason& reason) {
    CloseInfo info{static_cast<std::uint16_t>(reason.code), std::string(reason.reason.c_str()),
                   closed_by_client_};
    if (info.reason.empty()) info.reason = "closed by the broker";
    finish(info);
  }

  void end(std::string why) { finish(CloseInfo{0, std::move(why), closed_by_client_}); }

  // Close codes after which connecting again cannot help.
  static bool final_code(std::uint16_t code) {
    switch (static_cast<CloseCode>(code)) {
      case CloseCode::kNormal:
      case CloseCode::kProtocolError:
      case CloseCode::kUnsupportedData:
      case CloseCode::kPolicyViolation:
      case CloseCode::kMessageTooBig:
      case CloseCode::kTokenExpired:
        return true;
      default:
        return false;
    }
  }

  void finish(const CloseInfo& info) {
    if (state_ == State::kClosed) return;
    if (state_ == State::kWaiting && !closed_by_client_) return;  // a stale completion
    fail_pending(info);
    if (options_.reconnect.enabled && was_open_ && !closed_by_client_ && !refused_ &&
        !final_code(info.code)) {
      return schedule_reconnect(info);
    }
    state_ = State::kClosed;
    abort();
    if (close_handler_) {
      auto handler = std::move(close_handler_);
      handler(info);
    }
    notify_close_waiters();
  }

  void fail_pending(const CloseInfo& info) {
    auto pending = std::move(pending_);
    pending_.clear();
    outbox_.clear();
    writing_ = false;
    const std::string failure =
        info.code != 0 ? "connection closed (" + std::to_string(info.code) + " " + info.reason + ")"
                       : info.reason;
    for (auto& [id, done] : pending) {
      if (done) done(Response{.reply = {}, .failure = failure});
    }
  }

  void schedule_reconnect(const CloseInfo& info) {
    state_ = State::kWaiting;
    abort();
    link_.reset();
    // 4002: the broker is draining and asks for a reconnect now.
    const auto& policy = options_.reconnect;
    const std::chrono::milliseconds base =
        info.code == static_cast<std::uint16_t>(CloseCode::kShuttingDown)
            ? policy.initial_delay
            : policy.initial_delay * (std::int64_t{1} << std::min(attempt_, 20U));
    const auto cap = std::min(base, policy.max_delay);
    std::uniform_int_distribution<std::int64_t> jitter(0, cap.count());
    const std::chrono::milliseconds delay(jitter(random_));
    ++attempt_;
    if (reconnect_handler_) reconnect_handler_(info, delay);
    retry_timer_.expires_after(delay);
    retry_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec && self->state_ == State::kWaiting) self->reconnect();
    });
  }

  // Connect, then every subscription again, resuming; then what was asked meanwhile.
  void reconnect() {
    std::deque<std::string> asked_meanwhile;
    asked_meanwhile.swap(outbox_);
    state_ = State::kConnecting;  // send() queues again
    v1::ClientMessage connect;
    connect.mutable_connect()->set_token(options_.token);
    connect.mutable_connect()->set_client_name(options_.client_name);
    send(connect, {});
    for (auto& route : routes_) {
      v1::ClientMessage message;
      auto* subscribe = message.mutable_subscribe();
      subscribe->set_topic(route.topic);
      *subscribe->mutable_filter() = route.filter;
      route.positions.resume(*subscribe);
      send(message,
           [this, self = shared_from_this(), topic = route.topic](const Response& response) {
             if (!response.failure.empty()) return;  // this attempt failed: the next one resumes
             if (response.ok()) note_positions(topic, response.reply.subscribe());
             if (resume_handler_) resume_handler_(topic, response);
           });
    }
    std::move(asked_meanwhile.begin(), asked_meanwhile.end(), std::back_inserter(outbox_));
    open_link();
  }

  void notify_close_waiters() {
    auto waiters = std::move(close_waiters_);
    close_waiters_.clear();
    for (auto& waiter : waiters) waiter();
  }

  void fail_now(const ResponseHandler& done, std::string why) {
    if (done) done(Response{.reply = {}, .failure = std::move(why)});
  }

  const Options options_;
  const Url url_;
  const std::unique_ptr<ssl::context> tls_;  // wss:// only
  net::strand<net::io_context::executor_type> strand_;
  tcp::resolver resolver_;
  net::steady_timer retry_timer_;
  std::shared_ptr<Link> link_;
  std::deque<std::string> outbox_;  // encoded ClientMessages; the front one may be in flight
  std::unordered_map<std::uint32_t, ResponseHandler> pending_;
  std::vector<Route> routes_;
  CloseHandler close_handler_;
  ReconnectHandler reconnect_handler_;
  ResumeHandler resume_handler_;
  std::vector<std::function<void()>> close_waiters_;
  std::minstd_rand random_{std::random_device{}()};
  std::uint32_t next_id_ = 1;
  unsigned attempt_ = 0;
  State state_ = State::kIdle;
  bool writing_ = false;
  bool closing_ = false;
  bool closed_by_client_ = false;
  bool was_open_ = false;  // reconnecting only ever follows a connection that was open
  bool refused_ = false;   // the broker refused in a way a retry cannot fix
};

Client::Client(net::io_context& ioc, Options options)
    : impl_(std::make_shared<Impl>(ioc, std::move(options))) {}

Client::~Client() {
  impl_->run_on_strand([impl = impl_] { impl->abort(); });
}

void Client::connect(ResponseHandler done) {
  impl_->run_on_strand(
      [impl = impl_, done = std::move(done)]() mutable { impl->connect(std::move(done)); });
}

void Client::on_close(CloseHandler handler) {
  impl_->run_on_strand([impl = impl_, handler = std::move(handler)]() mutable {
    impl->set_close_handler(std::move(handler));
  });
}

void Client::on_reconnect(ReconnectHandler handler) {
  impl_->run_on_strand([impl = impl_, handler = std::move(handler)]() mutable {
    impl->set_reconnect_handler(std::move(handler));
  });
}

void Client::on_resume(ResumeHandler handler) {
  impl_->run_on_strand([impl = impl_, handler = std::move(handler)]() mutable {
    impl->set_resume_handler(std::move(handler));
  });
}

void Client::publish(v1::Article article, ResponseHandler done) {
  impl_->run_on_strand(
      [impl = impl_, article = std::move(article), done = std::move(done)]() mutable {
        v1::ClientMessage message;
        *message.mutable_publish()->mutable_article() = std::move(article);
        impl->send(message, std::move(done));
      });
}

void Client::subscribe(v1::Subscribe request, DeliveryHandler on_delivery, ResponseHandler done) {
  impl_->run_on_strand([impl = impl_, request = std::move(request),
                        on_delivery = std::move(on_delivery), done = std::move(done)]() mutable {
    impl->subscribe(std::move(request), std::move(on_delivery), std::move(done));
  });
}

void Client::unsubscribe(std::string topic, ResponseHandler done) {
  impl_->run_on_strand([impl = impl_, topic = std::move(topic), done = std::move(done)]() mutable {
    impl->unsubscribe(std::move(topic), std::move(done));
  });
}

void Client::ping(ResponseHandler done) {
  impl_->run_on_strand([impl = impl_, done = std::move(done)]() mutable {
    v1::ClientMessage message;
    message.mutable_ping();
    impl->send(message, std::move(done));
  });
}

void Client::close(std::function<void()> done) {
  impl_->run_on_strand(
      [impl = impl_, done = std::move(done)]() mutable { impl->close(std::move(done)); });
}

namespace {

// A ResponseHandler that fulfils a promise with the part of the reply that `pick` selects.
template <typename T, typename Pick>
ResponseHandler fulfil(std::shared_ptr<std::promise<T>> promise, Pick pick) {
  return [promise = std::move(promise), pick](Response response) {
    if (response.ok()) {
      promise->set_value(pick(response.reply));
    } else {
      promise->set_exception(std::make_exception_ptr(RequestError(response)));
    }
  };
}

}  // namespace

std::future<v1::ConnectResult> Client::connect() {
  auto promise = std::make_shared<std::promise<v1::ConnectResult>>();
  auto future = promise->get_future();
  connect(fulfil(std::move(promise), [](const v1::Reply& r) { return r.connect(); }));
  return future;
}

std::future<v1::PublishResult> Client::publish(v1::Article article) {
  auto promise = std::make_shared<std::promise<v1::PublishResult>>();
  auto future = promise->get_future();
  publish(std::move(article),
          fulfil(std::move(promise), [](const v1::Reply& r) { return r.publish(); }));
  return future;
}

std::future<v1::SubscribeResult> Client::subscribe(v1::Subscribe request,
                                                   DeliveryHandler on_delivery) {
  auto promise = std::make_shared<std::promise<v1::SubscribeResult>>();
  auto future = promise->get_future();
  subscribe(std::move(request), std::move(on_delivery),
            fulfil(std::move(promise), [](const v1::Reply& r) { return r.subscribe(); }));
  return future;
}

}  // namespace kabar::client
