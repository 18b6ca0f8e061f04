#include "kabar/client/client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket.hpp>
#include <deque>
#include <unordered_map>
#include <vector>

#include "kabar/common/article.hpp"
#include "kabar/common/topic.hpp"
#include "kabar/version.hpp"

namespace kabar::client {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

std::string Response::error_text() const {
  if (!failure.empty()) return failure;
  if (!reply.has_error()) return {};
  return v1::Error::Code_Name(reply.error().code()) + ": " + reply.error().message();
}

namespace {

struct Url {
  std::string host;
  std::string port;
  std::string target;
};

Url parse_url(const std::string& url) {
  constexpr std::string_view scheme = "ws://";
  if (url.rfind("wss://", 0) == 0) throw std::invalid_argument("wss:// is not supported yet");
  if (url.rfind(scheme, 0) != 0) {
    throw std::invalid_argument("URL '" + url + "' must start with ws://");
  }
  const auto rest = std::string_view(url).substr(scheme.size());
  const auto slash = rest.find('/');
  const auto authority = rest.substr(0, slash);
  Url parsed;
  parsed.target = slash == std::string_view::npos ? "/v1/ws" : std::string(rest.substr(slash));
  const auto colon = authority.rfind(':');
  if (!authority.empty() && authority.front() == '[') {  // [v6]:port
    const auto close = authority.find(']');
    if (close == std::string_view::npos) throw std::invalid_argument("bad IPv6 host in " + url);
    parsed.host = std::string(authority.substr(1, close - 1));
    parsed.port = close + 1 < authority.size() && authority[close + 1] == ':'
                      ? std::string(authority.substr(close + 2))
                      : "80";
  } else {
    parsed.host = std::string(authority.substr(0, colon));
    parsed.port = colon == std::string_view::npos ? "80" : std::string(authority.substr(colon + 1));
  }
  if (parsed.host.empty()) throw std::invalid_argument("URL '" + url + "' has no host");
  return parsed;
}

}  // namespace

class Client::Impl : public std::enable_shared_from_this<Client::Impl> {
 public:
  Impl(net::io_context& ioc, Options options)
      : options_(std::move(options)),
        url_(parse_url(options_.url)),
        resolver_(net::make_strand(ioc)),
        ws_(resolver_.get_executor()) {}

  template <typename F>
  void run_on_strand(F&& f) {
    net::post(ws_.get_executor(), std::forward<F>(f));
  }

  void connect(ResponseHandler done) {
    if (state_ != State::kIdle) return fail_now(std::move(done), "connect() was already called");
    state_ = State::kConnecting;
    v1::ClientMessage message;
    message.mutable_connect()->set_token(options_.token);
    message.mutable_connect()->set_client_name(options_.client_name);
    send(message, std::move(done), true);
    resolver_.async_resolve(url_.host, url_.port,
                            beast::bind_front_handler(&Impl::on_resolve, shared_from_this()));
  }

  void send(v1::ClientMessage& message, ResponseHandler done, bool first = false) {
    if (state_ == State::kClosed) return fail_now(std::move(done), "connection is closed");
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
    routes_.push_back({request.topic(), request.filter(), std::move(on_delivery)});
    v1::ClientMessage message;
    *message.mutable_subscribe() = std::move(request);
    send(message, [this, self = shared_from_this(), topic = message.subscribe().topic(),
                   done = std::move(done)](Response response) {
      if (!response.ok()) remove_route(topic);
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
    if (state_ != State::kOpen) {
      closed_by_client_ = true;
      beast::get_lowest_layer(ws_).cancel();
      resolver_.cancel();
      return end("closed before the connection was open");
    }
    if (closing_) return;
    closing_ = true;
    closed_by_client_ = true;
    ws_.async_close(websocket::close_code::normal,
                    beast::bind_front_handler(&Impl::on_close, shared_from_this()));
  }

  void set_close_handler(CloseHandler handler) { close_handler_ = std::move(handler); }

  void abort() {
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }

 private:
  enum class State { kIdle, kConnecting, kOpen, kClosed };

  struct Route {
    std::string topic;
    v1::Filter filter;
    DeliveryHandler handler;
  };

  void on_resolve(beast::error_code ec, tcp::resolver::results_type results) {
    if (ec) return end("cannot resolve " + url_.host + ": " + ec.message());
    beast::get_lowest_layer(ws_).expires_after(options_.connect_timeout);
    beast::get_lowest_layer(ws_).async_connect(
        results, beast::bind_front_handler(&Impl::on_connect, shared_from_this()));
  }

  void on_connect(beast::error_code ec, const tcp::endpoint&) {
    if (ec) return end("cannot connect to " + url_.host + ":" + url_.port + ": " + ec.message());
    beast::get_lowest_layer(ws_).socket().set_option(tcp::no_delay(true), ec);
    ws_.set_option(websocket::stream_base::decorator([](websocket::request_type& request) {
      request.set(http::field::sec_websocket_protocol, kSubprotocol);
      request.set(http::field::user_agent, kServerHeader);
    }));
    ws_.read_message_max(options_.max_message_bytes);
    ws_.auto_fragment(false);
    ws_.binary(true);
    ws_.async_handshake(handshake_response_, url_.host + ":" + url_.port, url_.target,
                        beast::bind_front_handler(&Impl::on_handshake, shared_from_this()));
  }

  void on_handshake(beast::error_code ec) {
    if (ec) {
      std::string detail = ec.message();
      if (!handshake_response_.body().empty()) {
        detail += " (" + std::to_string(handshake_response_.result_int()) + ": " +
                  handshake_response_.body().substr(0, 300) + ")";
        while (!detail.empty() && detail.back() == '\n') detail.pop_back();
      }
      return end("WebSocket handshake with " + options_.url + " failed: " + detail);
    }
    beast::get_lowest_layer(ws_).expires_never();
    websocket::stream_base::timeout timeout{};
    timeout.handshake_timeout = options_.connect_timeout;
    timeout.idle_timeout = options_.idle_timeout;
    timeout.keep_alive_pings = true;
    ws_.set_option(timeout);
    handshake_response_ = {};
    state_ = State::kOpen;
    do_read();
    do_write();
  }

  void do_read() {
    ws_.async_read(read_buffer_, beast::bind_front_handler(&Impl::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t bytes) {
    if (ec == websocket::error::closed) return end_with(ws_.reason());
    if (ec) return end("connection lost: " + ec.message());
    v1::ServerMessage message;
    const bool parsed = ws_.got_binary() &&
                        message.ParseFromArray(read_buffer_.data().data(),
                                               static_cast<int>(read_buffer_.size()));
    read_buffer_.consume(bytes);
    if (!parsed) {
      return end("the broker sent a frame that is not a kabar.v1.ServerMessage");
    }
    for (const auto& delivery : message.deliveries()) route(delivery);
    if (message.has_reply()) {
      const auto it = pending_.find(message.reply().id());
      if (it != pending_.end()) {
        auto done = std::move(it->second);
        pending_.erase(it);
        if (done) done(Response{std::move(*message.mutable_reply()), {}});
      }
    }
    if (state_ == State::kOpen) do_read();
  }

  void route(const v1::Delivery& delivery) {
    const auto& article = delivery.article();
    for (const auto& r : routes_) {
      if (topic_matches(r.topic, delivery.topic()) &&
          filter_accepts(r.filter, article.urgency(), article.language())) {
        if (r.handler) r.handler(delivery);
        return;
      }
    }
  }

  void remove_route(const std::string& topic) {
    std::erase_if(routes_, [&](const Route& r) { return r.topic == topic; });
  }

  void do_write() {
    if (state_ != State::kOpen || writing_ || closing_ || outbox_.empty()) return;
    writing_ = true;
    ws_.async_write(net::buffer(outbox_.front()),
                    beast::bind_front_handler(&Impl::on_write, shared_from_this()));
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
    finish(std::move(info));
  }

  void end(std::string why) { finish(CloseInfo{0, std::move(why), closed_by_client_}); }

  void finish(CloseInfo info) {
    if (state_ == State::kClosed) return;
    state_ = State::kClosed;
    auto pending = std::move(pending_);
    pending_.clear();
    outbox_.clear();
    const std::string failure =
        info.code != 0 ? "connection closed (" + std::to_string(info.code) + " " + info.reason + ")"
                       : info.reason;
    for (auto& [id, done] : pending) {
      if (done) done(Response{{}, failure});
    }
    if (close_handler_) {
      auto handler = std::move(close_handler_);
      handler(info);
    }
    notify_close_waiters();
  }

  void notify_close_waiters() {
    auto waiters = std::move(close_waiters_);
    close_waiters_.clear();
    for (auto& waiter : waiters) waiter();
  }

  void fail_now(ResponseHandler done, std::string why) {
    if (done) done(Response{{}, std::move(why)});
  }

  const Options options_;
  const Url url_;
  tcp::resolver resolver_;
  websocket::stream<beast::tcp_stream> ws_;
  websocket::response_type handshake_response_;
  beast::flat_buffer read_buffer_;
  std::deque<std::string> outbox_;  // encoded ClientMessages; the front one may be in flight
  std::unordered_map<std::uint32_t, ResponseHandler> pending_;
  std::vector<Route> routes_;
  CloseHandler close_handler_;
  std::vector<std::function<void()>> close_waiters_;
  std::uint32_t next_id_ = 1;
  State state_ = State::kIdle;
  bool writing_ = false;
  bool closing_ = false;
  bool closed_by_client_ = false;
};

Client::Client(net::io_context& ioc, Options options)
    : impl_(std::make_shared<Impl>(ioc, std::move(options))) {}

Client::~Client() {
  impl_->run_on_strand([impl = impl_] { impl->abort(); });
}

void Client::connect(ResponseHandler done) {
  impl_->run_on_strand([impl = impl_, done = std::move(done)]() mutable {
    impl->connect(std::move(done));
  });
}

void Client::on_close(CloseHandler handler) {
  impl_->run_on_strand([impl = impl_, handler = std::move(handler)]() mutable {
    impl->set_close_handler(std::move(handler));
  });
}

void Client::publish(v1::Article article, ResponseHandler done) {
  impl_->run_on_strand([impl = impl_, article = std::move(article),
                        done = std::move(done)]() mutable {
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
  impl_->run_on_strand([impl = impl_, done = std::move(done)]() mutable {
    impl->close(std::move(done));
  });
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
