#include "raw_ws.hpp"

#include <google/protobuf/util/json_util.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <functional>
#include <stdexcept>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace kabar::test {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

namespace {

tcp::endpoint loopback(std::uint16_t port) {
  return {net::ip::make_address("127.0.0.1"), port};
}

}  // namespace

struct RawWebSocket::Impl {
  net::io_context ioc;
  websocket::stream<tcp::socket> ws{ioc};
  beast::flat_buffer buffer;
  std::uint32_t next_id = 1;
  std::string subprotocol;
};

RawWebSocket::RawWebSocket(std::uint16_t port, const std::string& subprotocol)
    : impl_(std::make_unique<Impl>()) {
  impl_->ws.next_layer().connect(loopback(port));
  impl_->ws.set_option(websocket::stream_base::decorator([subprotocol](websocket::request_type& r) {
    if (!subprotocol.empty()) r.set(http::field::sec_websocket_protocol, subprotocol);
  }));
  websocket::response_type response;
  impl_->ws.handshake(response, "127.0.0.1:" + std::to_string(port), "/v1/ws");
  impl_->subprotocol = std::string(response[http::field::sec_websocket_protocol]);
  impl_->ws.auto_fragment(false);
}

RawWebSocket::~RawWebSocket() = default;

const std::string& RawWebSocket::subprotocol() const {
  return impl_->subprotocol;
}

// Write errors are left for read() to report: the broker may close while a bad frame is sent.
void RawWebSocket::send_binary(const std::string& bytes) {
  impl_->ws.binary(true);
  beast::error_code ignored;
  impl_->ws.write(net::buffer(bytes), ignored);
}

void RawWebSocket::send_fragmented(const v1::ClientMessage& message, std::size_t frame_bytes) {
  const auto bytes = message.SerializeAsString();
  impl_->ws.binary(true);
  for (std::size_t at = 0; at < bytes.size(); at += frame_bytes) {
    const auto size = std::min(frame_bytes, bytes.size() - at);
    impl_->ws.write_some(at + size == bytes.size(), net::buffer(bytes.data() + at, size));
  }
}

void RawWebSocket::send_text(const std::string& text) {
  impl_->ws.text(true);
  impl_->ws.write(net::buffer(text));
}

RawFrame RawWebSocket::read(std::chrono::milliseconds timeout) {
  RawFrame frame;
  bool done = false;
  beast::error_code result;
  impl_->ws.async_read(impl_->buffer, [&](beast::error_code ec, std::size_t) {
    result = ec;
    done = true;
  });
  impl_->ioc.restart();
  impl_->ioc.run_for(timeout);
  if (!done) {
    impl_->ws.next_layer().cancel();
    impl_->ioc.restart();
    impl_->ioc.run();
    frame.timed_out = true;
    return frame;
  }
  // A close frame may arrive with an error after it (the broker hangs up while the reply to
  // its close is being written): the close code it sent is what counts.
  if (result == websocket::error::closed || (result && impl_->ws.reason().code != 0)) {
    frame.closed = true;
    frame.close_code = static_cast<std::uint16_t>(impl_->ws.reason().code);
    frame.close_reason = std::string(impl_->ws.reason().reason.c_str());
    return frame;
  }
  if (result) throw std::runtime_error("read failed: " + result.message());
  const auto payload = beast::buffers_to_string(impl_->buffer.data());
  impl_->buffer.consume(impl_->buffer.size());
  if (impl_->ws.got_text()) {
    frame.text = true;
    frame.json = payload;
    google::protobuf::util::JsonParseOptions strict;
    strict.ignore_unknown_fields = false;
    if (!google::protobuf::util::JsonStringToMessage(payload, &frame.message, strict).ok()) {
      throw std::runtime_error("the broker sent a text frame that is not a ServerMessage: " +
                               payload.substr(0, 200));
    }
    return frame;
  }
  if (!frame.message.ParseFromString(payload)) {
    throw std::runtime_error("the broker sent a frame that is not a ServerMessage");
  }
  return frame;
}

RawWebSocket::PingedRead RawWebSocket::read_pinging(std::size_t deliveries,
                                                    std::chrono::milliseconds timeout) {
  auto& ws = impl_->ws;
  auto& ioc = impl_->ioc;
  PingedRead out;
  bool done = false;
  std::size_t messages = 0;
  net::steady_timer pause(ioc);
  net::steady_timer next_ping(ioc);
  std::function<void()> ping = [&] {
    ++out.pings;
    ws.async_ping({}, [](beast::error_code) {});
  };
  // The next ping 1 ms after each pong: one ping in flight at a time.
  ws.control_callback([&](websocket::frame_type kind, beast::string_view) {
    if (kind != websocket::frame_type::pong || done) return;
    ++out.pongs;
    next_ping.expires_after(1ms);
    next_ping.async_wait([&](beast::error_code ec) {
      if (!ec && !done) ping();
    });
  });
  std::function<void()> read_next = [&] {
    ws.async_read(impl_->buffer, [&](beast::error_code ec, std::size_t) {
      if (ec || done) {
        done = true;
        return;
      }
      v1::ServerMessage message;
      const bool parsed = message.ParseFromArray(impl_->buffer.data().data(),
                                                 static_cast<int>(impl_->buffer.size()));
      impl_->buffer.consume(impl_->buffer.size());
      if (!parsed) throw std::runtime_error("a message that is not a ServerMessage");
      for (auto& delivery : *message.mutable_deliveries())
        out.deliveries.push_back(std::move(delivery));
      if (out.deliveries.size() >= deliveries) {
        done = true;
        return;
      }
      if (++messages % 16 != 0) return read_next();
      pause.expires_after(20ms);
      pause.async_wait([&](beast::error_code) {
        if (!done) read_next();
      });
    });
  };
  read_next();
  ping();
  ioc.restart();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done && ioc.run_one_until(deadline) != 0) {
  }
  out.timed_out = !done;
  done = true;
  // Settle what is still pending before the handlers' captures go out of scope.
  pause.cancel();
  next_ping.cancel();
  ws.next_layer().cancel();
  ioc.restart();
  ioc.run();
  ws.control_callback();
  return out;
}

v1::Reply RawWebSocket::connect() {
  v1::ClientMessage message;
  message.set_id(impl_->next_id++);
  message.mutable_connect()->set_client_name("raw-test");
  send(message);
  const auto frame = read();
  if (!frame.message.has_reply()) throw std::runtime_error("no reply to Connect");
  return frame.message.reply();
}

bool RawWebSocket::wait_until_dropped(std::chrono::milliseconds timeout) {
  auto& socket = impl_->ws.next_layer();
  std::array<char, 4096> bytes{};
  bool dropped = false;
  std::function<void(beast::error_code, std::size_t)> on_read;
  on_read = [&](beast::error_code ec, std::size_t) {
    if (ec) {
      dropped = true;
      return;
    }
    socket.async_read_some(net::buffer(bytes), on_read);
  };
  socket.async_read_some(net::buffer(bytes), on_read);
  impl_->ioc.restart();
  impl_->ioc.run_for(timeout);
  if (!dropped) {
    socket.cancel();
    impl_->ioc.restart();
    impl_->ioc.run();
  }
  return dropped;
}

namespace {

HttpResult round_trip(std::uint16_t port, const http::request<http::empty_body>& request) {
  net::io_context ioc;
  tcp::socket socket(ioc);
  socket.connect(loopback(port));
  http::write(socket, request);
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(socket, buffer, response);
  return {static_cast<int>(response.result_int()), response.body(),
          std::string(response[http::field::content_type])};
}

}  // namespace

HttpResult http_get_accepting(std::uint16_t port, const std::string& target,
                              const std::string& accept) {
  http::request<http::empty_body> request{http::verb::get, target, 11};
  request.set(http::field::host, "127.0.0.1");
  request.set(http::field::accept, accept);
  return round_trip(port, request);
}

HttpResult upgrade_from_origin(std::uint16_t port, const std::string& origin) {
  http::request<http::empty_body> request{http::verb::get, "/v1/ws", 11};
  request.set(http::field::host, "127.0.0.1");
  request.set(http::field::connection, "Upgrade");
  request.set(http::field::upgrade, "websocket");
  request.set(http::field::sec_websocket_version, "13");
  request.set(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
  request.set(http::field::sec_websocket_protocol, "kabar.v1.proto");
  if (!origin.empty()) request.set(http::field::origin, origin);
  return round_trip(port, request);
}

double metric_sample(const std::string& exposition, const std::string& series) {
  const auto at = exposition.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(exposition.substr(at + series.size() + 2));
}

HttpResult http_get(std::uint16_t port, const std::string& target,
                    const std::string& upgrade_protocol, bool upgrade) {
  http::request<http::empty_body> request{http::verb::get, target, 11};
  request.set(http::field::host, "127.0.0.1");
  if (upgrade) {
    request.set(http::field::connection, "Upgrade");
    request.set(http::field::upgrade, "websocket");
    request.set(http::field::sec_websocket_version, "13");
    request.set(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
    if (!upgrade_protocol.empty()) {
      request.set(http::field::sec_websocket_protocol, upgrade_protocol);
    }
  }
  return round_trip(port, request);
}

int connect_loopback(std::uint16_t port, std::chrono::seconds timeout) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  const timeval limit{static_cast<time_t>(timeout.count()), 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot connect to 127.0.0.1:" + std::to_string(port));
  }
  return fd;
}

}  // namespace kabar::test
