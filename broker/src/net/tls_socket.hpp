#pragma once

#include <openssl/ssl.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace kabar::broker {

/// TLS on a WebSocket connection's bare socket, once upgraded: OpenSSL reads the non-blocking
/// socket itself, and asks to wait when it would block; a write is encrypted whole into memory
/// (the shard's SendArena) and sent like a plain connection's frames, in one system call or
/// through the shard's io_uring; OpenSSL's record buffers are given back while the connection is
/// idle (SSL_MODE_RELEASE_BUFFERS).
///
/// The TLS session is taken over from the HTTP session's stream (Asio's ssl::stream, which did
/// the handshake and read the upgrade through its own pair of 17 KiB transfer buffers for as long
/// as it lives): an idle wss:// connection then holds OpenSSL's session state and nothing else.
/// @note Not thread-safe; the socket is its owner's, which waits for readiness.
class TlsSocket {
 public:
  /// Continues the session `ssl` (a completed handshake, over a pair of memory BIOs) on `fd`.
  /// What the client sent that the pair still holds (records sent before the upgrade was
  /// answered) is decrypted onto `early`. Null, and why in `refusal`, when OpenSSL still has bytes
  /// to send through the pair.
  static std::unique_ptr<TlsSocket> take_over(SSL* ssl, int fd, std::string& early,
                                              std::string& refusal);

  enum class Status : std::uint8_t { kDone, kWantRead, kWantWrite, kClosed, kFailed };
  struct Result {
    std::size_t bytes = 0;  ///< read into the span
    Status status = Status::kDone;
  };

  /// Decrypted bytes into `into`: some (kDone), none yet (kWantRead/kWantWrite: wait for that,
  /// then call again), the peer's end (kClosed), or a failure (kFailed, error() says what).
  Result read(std::span<char> into);
  /// Room enough for `size` bytes once encrypted: theirs and each record's header, tag and
  /// padding.
  [[nodiscard]] static std::size_t encrypted_size_bound(std::size_t size) {
    return size + (size / kMaxRecord + 1) * kRecordOverheadBound;
  }
  /// Encrypts all of `data` into `out` (at least encrypted_size_bound() bytes), in records of
  /// 16 KiB: the bytes written, or 0 on a failure (error() says what).
  std::size_t encrypt(std::string_view data, std::span<char> out);
  /// Sends close_notify, without waiting for the peer's.
  void shut_down();
  /// What the last kFailed was.
  [[nodiscard]] const std::string& error() const { return error_; }

  /// Encrypted bytes of a write that wait for the socket (kept here, not by the session, so that
  /// a plain connection does not carry the string).
  std::string rest;

 private:
  struct Free {
    void operator()(SSL* ssl) const { SSL_free(ssl); }
  };
  explicit TlsSocket(SSL* ssl) : ssl_(ssl) {}
  static constexpr std::size_t kMaxRecord = 16 * 1024;
  static constexpr std::size_t kRecordOverheadBound = 256;
  Status status_of(int result);

  std::unique_ptr<SSL, Free> ssl_;
  std::string error_;
};

}  // namespace kabar::broker
