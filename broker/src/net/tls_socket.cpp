#include "net/tls_socket.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstring>

namespace kabar::broker {

std::unique_ptr<TlsSocket> TlsSocket::take_over(SSL* ssl, int fd, std::string& early,
                                                std::string& refusal) {
  // Ciphertext in the stream's BIO pair cannot move to the socket's BIO: what came in is read
  // out through OpenSSL now (a record cut short stays in OpenSSL's own buffer, its rest comes from
  // the socket). What Asio read from the socket beyond the pair's 17 KiB would be lost, but only
  // a client sending that much before the upgrade's answer, against RFC 6455 section 4.1, has any.
  std::array<char, 4096> plain{};
  for (int got = 0; (got = SSL_read(ssl, plain.data(), plain.size())) > 0;) {
    early.append(plain.data(), static_cast<std::size_t>(got));
  }
  ERR_clear_error();
  if (BIO_ctrl_pending(SSL_get_rbio(ssl)) != 0 || BIO_ctrl_wpending(SSL_get_wbio(ssl)) != 0) {
    refusal = "TLS records were still in transit at the upgrade";
    return nullptr;
  }
  // The stream frees its reference when the HTTP session goes; this one is the connection's.
  SSL_up_ref(ssl);
  std::unique_ptr<TlsSocket> socket(new TlsSocket(ssl));
  // One BIO each way: encrypt() puts its sink in place of the writing one for a while. The pair's
  // BIO is freed.
  BIO* in = BIO_new_socket(fd, BIO_NOCLOSE);
  BIO* out = BIO_new_socket(fd, BIO_NOCLOSE);
  if (in == nullptr || out == nullptr) {
    BIO_free(in);
    BIO_free(out);
    refusal = "OpenSSL could not take the socket";
    return nullptr;
  }
  SSL_set_bio(ssl, in, out);
  SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                        SSL_MODE_RELEASE_BUFFERS);
  return socket;
}

TlsSocket::Status TlsSocket::status_of(int result) {
  const int error = SSL_get_error(ssl_.get(), result);
  switch (error) {
    case SSL_ERROR_WANT_READ:
      return Status::kWantRead;
    case SSL_ERROR_WANT_WRITE:
      return Status::kWantWrite;
    case SSL_ERROR_ZERO_RETURN:  // close_notify
      return Status::kClosed;
    case SSL_ERROR_SYSCALL:
      if (errno == 0 || errno == ECONNRESET || errno == EPIPE) {
        // The connection ended without close_notify: the end, as far as the WebSocket goes.
        ERR_clear_error();
        return Status::kClosed;
      }
      error_ = std::string("TLS: ") + std::strerror(errno);
      ERR_clear_error();
      return Status::kFailed;
    default: {
      char text[256];
      ERR_error_string_n(ERR_get_error(), text, sizeof text);
      error_ = std::string("TLS: ") + text;
      ERR_clear_error();
      return Status::kFailed;
    }
  }
}

TlsSocket::Result TlsSocket::read(std::span<char> into) {
  errno = 0;
  const int size = static_cast<int>(std::min<std::size_t>(into.size(), INT_MAX));
  const int got = SSL_read(ssl_.get(), into.data(), size);
  if (got > 0) return {static_cast<std::size_t>(got), Status::kDone};
  return {0, status_of(got)};
}

namespace {

// Where encrypt() has OpenSSL write its records: a span of the shard's SendArena, through a BIO
// of its own (one per I/O thread), rather than a memory BIO copied out after.
struct SpanSink {
  char* data = nullptr;
  std::size_t size = 0;
  std::size_t used = 0;
};

int sink_write(BIO* bio, const char* bytes, int size) {
  auto& sink = *static_cast<SpanSink*>(BIO_get_data(bio));
  const auto count = static_cast<std::size_t>(size);
  if (sink.size - sink.used < count) return -1;  // past encrypted_size_bound(): a failure
  std::memcpy(sink.data + sink.used, bytes, count);
  sink.used += count;
  return size;
}

long sink_ctrl(BIO*, int command, long, void*) {
  return command == BIO_CTRL_FLUSH ? 1 : 0;
}

BIO* span_sink() {
  static BIO_METHOD* const method = [] {
    auto* made = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "kabar span sink");
    BIO_meth_set_write(made, sink_write);
    BIO_meth_set_ctrl(made, sink_ctrl);
    return made;
  }();
  struct Free {
    void operator()(BIO* bio) const { BIO_free(bio); }
  };
  thread_local const std::unique_ptr<BIO, Free> sink = [] {
    std::unique_ptr<BIO, Free> made(BIO_new(method));
    BIO_set_init(made.get(), 1);
    return made;
  }();
  return sink.get();
}

}  // namespace

std::size_t TlsSocket::encrypt(std::string_view data, std::span<char> out) {
  SpanSink target{out.data(), out.size(), 0};
  BIO* sink = span_sink();
  BIO_set_data(sink, &target);
  BIO* socket = SSL_get_wbio(ssl_.get());
  BIO_up_ref(socket);  // kept while the sink takes its place
  BIO_up_ref(sink);
  SSL_set0_wbio(ssl_.get(), sink);
  bool ok = true;
  for (std::size_t done = 0; done < data.size();) {
    const auto size = static_cast<int>(std::min<std::size_t>(data.size() - done, INT_MAX));
    const int written = SSL_write(ssl_.get(), data.data() + done, size);
    if (written <= 0) {
      if (status_of(written) != Status::kFailed) error_ = "TLS: the records outgrew their room";
      ok = false;
      break;
    }
    done += static_cast<std::size_t>(written);
  }
  SSL_set0_wbio(ssl_.get(), socket);
  BIO_set_data(sink, nullptr);
  return ok ? target.used : 0;
}

void TlsSocket::shut_down() {
  SSL_shutdown(ssl_.get());  // non-blocking: close_notify goes out, or does not; no wait either way
  ERR_clear_error();
}

}  // namespace kabar::broker
