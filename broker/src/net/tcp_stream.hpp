#pragma once

#include <sys/socket.h>

#include <array>
#include <boost/asio/async_result.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <cerrno>
#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include "kabar/common/maybe_tls_stream.hpp"

namespace kabar::broker {

/// beast::tcp_stream with a WebSocket teardown that drains the peer before closing.
///
/// Beast 1.81's own server teardown reads at most one chunk of what the peer still sends and
/// then closes: with more unread bytes (the rest of an oversized message, say) the kernel
/// answers with a reset, and the peer never sees the close frame (1009) sent just before.
/// This one shuts down the send side, reads until the peer closes or kDrainLimit passes, then
/// closes. Found by argument-dependent lookup from websocket::stream<TcpStream>.
///
/// It also lets the WebSocket session write whole frames it built itself straight to the socket
/// (write_now, write_rest), next to Beast's own writes: a send that completes at once costs one
/// system call, without Beast's write operation, its allocation and its posted completion. The
/// two never interleave: a direct write starts only when no write of Beast's is in flight
/// (can_write_now), and a write of Beast's (a control frame: pong, ping, close) that comes while
/// a direct write is unfinished waits for it.
/// @note Not thread-safe: used from its connection's shard only.
class TcpStream : public boost::beast::tcp_stream {
 public:
  using boost::beast::tcp_stream::tcp_stream;
  explicit TcpStream(boost::beast::tcp_stream&& stream)
      : boost::beast::tcp_stream(std::move(stream)) {}

  static constexpr std::chrono::seconds kDrainLimit{2};

  /// Every write of the layers above (Beast's WebSocket and HTTP writes, TLS records).
  template <class Buffers, class Token>
  auto async_write_some(const Buffers& buffers, Token&& token) {
    using Signature = void(boost::beast::error_code, std::size_t);
    return boost::asio::async_initiate<Token, Signature>(
        [this](auto handler, const Buffers& from) {
          auto erased = erase(std::move(handler));
          auto slot = waiting_.lock();
          if (!slot) return start_write_some(from, std::move(erased));
          // Beast writes one thing at a time: at most one waits.
          auto waiting = std::make_shared<decltype(erased)>(std::move(erased));
          *slot = [this, waiting, from] { start_write_some(from, std::move(*waiting)); };
        },
        token, buffers);
  }

  /// Every read of the layers above, as for writes: one handler type below.
  template <class Buffers, class Token>
  auto async_read_some(const Buffers& buffers, Token&& token) {
    using Signature = void(boost::beast::error_code, std::size_t);
    return boost::asio::async_initiate<Token, Signature>(
        [this](auto handler, const Buffers& to) {
          auto& tcp = static_cast<boost::beast::tcp_stream&>(*this);
          tcp.async_read_some(to, erase(std::move(handler)));
        },
        token, buffers);
  }

  /// No write in flight, Beast's or direct: a direct write may start.
  [[nodiscard]] bool can_write_now() const { return beast_writes_ == 0 && waiting_.expired(); }

  /// Sends what the socket takes now, without blocking, in one sendmsg: the number of bytes
  /// sent (fewer than asked when the socket is full, or past IOV_MAX buffers).
  /// @pre can_write_now()
  std::size_t write_now(const msghdr& message, boost::beast::error_code& ec) {
    const auto sent = ::sendmsg(socket().native_handle(), &message, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent >= 0) return static_cast<std::size_t>(sent);
    if (errno != EAGAIN && errno != EINTR) ec.assign(errno, boost::system::system_category());
    return 0;
  }

  /// Sends `rest` asynchronously; Beast's writes wait until it is done. `done(ec, bytes)` as
  /// for an asynchronous write.
  template <class Handler>
  void write_rest(const std::vector<boost::asio::const_buffer>& rest, Handler&& done) {
    // The slot for a write of Beast's belongs to this operation, not to the stream: were the
    // operation dropped unrun (its io_context destroyed), the waiting handler, which may hold its
    // session, goes with it instead of keeping the session alive in a cycle.
    auto slot = std::make_shared<std::function<void()>>();
    waiting_ = slot;
    boost::asio::async_write(socket(), rest,
                             [slot, done = std::forward<Handler>(done)](boost::beast::error_code ec,
                                                                        std::size_t bytes) mutable {
                               const auto waiting = std::move(*slot);
                               slot.reset();  // the stream is free for Beast's writes again
                               if (waiting) waiting();
                               std::move(done)(ec, bytes);
                             });
  }

 private:
  template <class Buffers, class Handler>
  void start_write_some(const Buffers& buffers, Handler&& handler) {
    ++beast_writes_;
    boost::beast::tcp_stream::async_write_some(
        buffers, [this, handler = std::forward<Handler>(handler)](boost::beast::error_code ec,
                                                                  std::size_t bytes) mutable {
          --beast_writes_;
          std::move(handler)(ec, bytes);
        });
  }

  // The TLS layer's and Beast's operations reach the socket's with one handler type, so that
  // those are compiled once, not once per operation above (see MaybeTlsStream).
  template <class Handler>
  auto erase(Handler&& handler) {
    return erase_handler(get_executor(), std::forward<Handler>(handler));
  }

  int beast_writes_ = 0;  // Beast's write_some calls in flight (zero or one)
  // While a write_rest is in flight: where a write of Beast's that comes meanwhile waits.
  std::weak_ptr<std::function<void()>> waiting_;
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
