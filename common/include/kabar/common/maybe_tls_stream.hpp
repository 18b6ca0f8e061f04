#pragma once

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/recycling_allocator.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/teardown.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <type_traits>
#include <utility>
#include <variant>

namespace kabar {

namespace detail {

// `Handler`, whose memory comes from Asio's recycling allocator whatever it names: an empty
// class, so that it costs the erased handler no byte (bind_allocator's binder stores one).
template <class Handler>
struct RecyclingHandler {
  using allocator_type = boost::asio::recycling_allocator<void>;
  [[nodiscard]] allocator_type get_allocator() const noexcept { return {}; }
  void operator()(boost::system::error_code ec, std::size_t bytes) {
    std::move(handler)(ec, bytes);
  }
  Handler handler;
};

}  // namespace detail

/// A read's or a write's completion handler, type-erased and bound to `executor`, for the layers
/// below (see MaybeTlsStream for why).
///
/// Its memory comes from Asio's recycling allocator, never the handler's own: Boost 1.81's
/// any_completion_handler frees its memory through the handler's allocator after destroying the
/// handler, and when that handler holds another erased handler (MaybeTlsStream's, passed down
/// to TcpStream's, or inside a TLS operation) its allocator is the inner one's, freed by then:
/// a use after free whenever an operation is destroyed without running (a shard's io_context
/// going with a dropped connection's read pending).
template <class Executor, class Handler>
auto erase_handler(const Executor& executor, Handler&& handler) {
  using Erased = boost::asio::any_completion_handler<void(boost::system::error_code, std::size_t)>;
  return boost::asio::bind_executor(
      executor,
      Erased(detail::RecyclingHandler<std::decay_t<Handler>>{std::forward<Handler>(handler)}));
}

/// A TCP stream that speaks TLS when it was made with a TLS context, plain TCP otherwise.
///
/// One type for both, so that the WebSocket and HTTP code over it is compiled once, not once per
/// transport; a plain connection carries no TLS state (the memory per idle connection counts).
/// `Tcp` is a beast::basic_stream (or a class derived from one): `next_layer()` reaches it in
/// both modes, so beast::get_lowest_layer() and its timeouts work unchanged.
template <class Tcp>
class MaybeTlsStream {
 public:
  using Tls = boost::beast::ssl_stream<Tcp>;
  using executor_type = typename Tcp::executor_type;

  /// TLS over `tcp` with the context `tls`, or plain `tcp` when `tls` is null.
  MaybeTlsStream(Tcp&& tcp, boost::asio::ssl::context* tls) : stream_(make(std::move(tcp), tls)) {}

  [[nodiscard]] bool is_tls() const { return std::holds_alternative<Tls>(stream_); }
  /// The TLS layer, for the handshake. @pre is_tls()
  Tls& tls() { return std::get<Tls>(stream_); }

  Tcp& next_layer() {
    if (auto* tls = std::get_if<Tls>(&stream_)) return tls->next_layer();
    return std::get<Tcp>(stream_);
  }
  executor_type get_executor() { return next_layer().get_executor(); }

  // Every read and write reaches the layers below with one handler type: the TLS and TCP
  // operations are compiled once, not once per handler of the layers above (Beast's WebSocket and
  // HTTP operations each have their own), which had made the sessions' translation units the
  // slowest of the build by far. The cost is one small allocation per read or write passed down.
  // Bound to the stream's executor, which every handler above runs on: Asio 1.81's
  // any_completion_executor cannot be asked for blocking.never, which Beast's ops need.

  template <class Buffers, class Token>
  auto async_read_some(const Buffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const Buffers& to) {
          auto erased = erase_handler(get_executor(), std::move(handler));
          std::visit([&](auto& stream) { stream.async_read_some(to, std::move(erased)); }, stream_);
        },
        token, buffers);
  }

  template <class Buffers, class Token>
  auto async_write_some(const Buffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const Buffers& from) {
          auto erased = erase_handler(get_executor(), std::move(handler));
          std::visit([&](auto& stream) { stream.async_write_some(from, std::move(erased)); },
                     stream_);
        },
        token, buffers);
  }

  /// The WebSocket closing handshake's last step: TLS close_notify first when there is TLS, then
  /// the transport's own teardown (found by argument-dependent lookup, as Beast does).
  template <class Handler>
  friend void async_teardown(boost::beast::role_type role, MaybeTlsStream& stream,
                             Handler&& handler) {
    using boost::beast::websocket::async_teardown;
    std::visit([&](auto& layer) { async_teardown(role, layer, std::forward<Handler>(handler)); },
               stream.stream_);
  }

 private:
  static std::variant<Tcp, Tls> make(Tcp&& tcp, boost::asio::ssl::context* tls) {
    if (tls == nullptr) return std::variant<Tcp, Tls>(std::in_place_type<Tcp>, std::move(tcp));
    return std::variant<Tcp, Tls>(std::in_place_type<Tls>, std::move(tcp), *tls);
  }

  std::variant<Tcp, Tls> stream_;
};

}  // namespace kabar
