#pragma once

#include <array>
#include <boost/asio/compose.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <chrono>
#include <memory>

#include "kabar/common/maybe_tls_stream.hpp"

namespace kabar::broker {

/// beast::tcp_stream with a WebSocket teardown that drains the peer before closing.
///
/// Beast 1.81's own server teardown reads at most one chunk of what the peer still sends and
/// then closes: with more unread bytes (the rest of an oversized message, say) the kernel
/// answers with a reset, and the peer never sees the close frame (1009) sent just before.
/// This one shuts down the send side, reads until the peer closes or kDrainLimit passes, then
/// closes. Found by argument-dependent lookup from websocket::stream<TcpStream>.
class TcpStream : public boost::beast::tcp_stream {
 public:
  using boost::beast::tcp_stream::tcp_stream;
  explicit TcpStream(boost::beast::tcp_stream&& stream)
      : boost::beast::tcp_stream(std::move(stream)) {}

  static constexpr std::chrono::seconds kDrainLimit{2};
};

namespace detail {

// The composed operation behind async_teardown(role, TcpStream&, handler).
struct DrainThenClose {
  TcpStream& stream;
  std::unique_ptr<std::array<char, 4096>> buffer = std::make_unique<std::array<char, 4096>>();
  bool started = false;

  template <class Self>
  void operator()(Self& self, boost::beast::error_code ec = {}, std::size_t = 0) {
    if (!started) {
      started = true;
      stream.socket().shutdown(boost::asio::socket_base::shutdown_send, ec);
      stream.expires_after(TcpStream::kDrainLimit);
    } else if (ec) {
      boost::beast::error_code ignored;
      stream.socket().close(ignored);
      return self.complete(ec == boost::asio::error::eof ? boost::beast::error_code{} : ec);
    }
    stream.async_read_some(boost::asio::buffer(*buffer), std::move(self));
  }
};

}  // namespace detail

template <class TeardownHandler>
void async_teardown(boost::beast::role_type, TcpStream& stream, TeardownHandler&& handler) {
  boost::asio::async_compose<TeardownHandler, void(boost::beast::error_code)>(
      detail::DrainThenClose{stream}, handler, stream);
}

/// What HTTP and WebSocket sessions talk over: TCP, with TLS when the listener has a
/// certificate.
using SessionStream = MaybeTlsStream<TcpStream>;

}  // namespace kabar::broker
