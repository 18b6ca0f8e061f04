#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include "kabar/common/maybe_tls_stream.hpp"

namespace kabar::broker {

/// beast::tcp_stream whose reads and writes reach the socket with one handler type: the TLS
/// layer's and Beast's HTTP operations above it each have their own, and the socket's operations
/// are then compiled once, not once per operation above (see MaybeTlsStream).
/// @note Not thread-safe: used from its connection's shard only.
class TcpStream : public boost::beast::tcp_stream {
 public:
  using boost::beast::tcp_stream::tcp_stream;
  explicit TcpStream(boost::beast::tcp_stream&& stream)
      : boost::beast::tcp_stream(std::move(stream)) {}

  template <class Buffers, class Token>
  auto async_write_some(const Buffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::beast::error_code, std::size_t)>(
        [this](auto handler, const Buffers& from) {
          tcp().async_write_some(from, erase_handler(get_executor(), std::move(handler)));
        },
        token, buffers);
  }

  template <class Buffers, class Token>
  auto async_read_some(const Buffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::beast::error_code, std::size_t)>(
        [this](auto handler, const Buffers& to) {
          tcp().async_read_some(to, erase_handler(get_executor(), std::move(handler)));
        },
        token, buffers);
  }

 private:
  boost::beast::tcp_stream& tcp() { return *this; }
};

/// What HTTP and WebSocket sessions talk over: TCP, with TLS when the listener has a
/// certificate.
using SessionStream = MaybeTlsStream<TcpStream>;

}  // namespace kabar::broker
