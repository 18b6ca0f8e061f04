#include "connection.hpp"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <vector>

namespace kabar::bench {

namespace {

constexpr std::string_view kUpgrade =
    "GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Protocol: ";

constexpr std::uint8_t kText = 0x1, kBinary = 0x2, kClose = 0x8, kPing = 0x9, kPong = 0xA;

std::vector<char>& shared_read_buffer() {
  thread_local std::vector<char> buffer(1 << 20);
  return buffer;
}

void set_flag(int fd, int level, int option) {
  const int on = 1;
  setsockopt(fd, level, option, &on, sizeof on);
}

}  // namespace

Connection::Connection(EventLoop& loop, ConnectionEvents& events, std::uint32_t index, Wire wire,
                       SSL_CTX* tls)
    : loop_(loop), events_(events), index_(index), wire_(wire), tls_(tls) {}

Connection::~Connection() {
  if (fd_ >= 0) ::close(fd_);
}

void Connection::start(const sockaddr_in& broker, in_addr local) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return fail_errno("socket");
  // Let connect() pick the port for the whole 4-tuple: bind(port 0) alone scans for a port
  // free of any destination, which grows slow past a few thousand connections per address.
  set_flag(fd_, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT);
  set_flag(fd_, IPPROTO_TCP, TCP_NODELAY);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  from.sin_addr = local;
  if (::bind(fd_, reinterpret_cast<const sockaddr*>(&from), sizeof from) != 0) {
    const int error = errno;
    char text[INET_ADDRSTRLEN] = "?";
    inet_ntop(AF_INET, &local, text, sizeof text);
    return fail(std::string("bind ") + text + ": " + std::strerror(error));
  }
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&broker), sizeof broker) != 0 &&
      errno != EINPROGRESS) {
    return fail_errno("connect");
  }
  loop_.add(fd_, *this);  // the first EPOLLOUT says the connect finished
}

void Connection::on_events(std::uint32_t events) {
  if (closed_) return;  // fetched in the same pass as the close
  if (!connected_) {
    int error = 0;
    socklen_t size = sizeof error;
    getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &size);
    if (error != 0) return fail(std::string("connect: ") + std::strerror(error));
    if ((events & EPOLLOUT) == 0) return;
    on_connected();
    if (ssl_ && !tls_ready_) return;
  } else if (ssl_ && !tls_ready_) {
    return continue_handshake();
  } else if ((events & EPOLLOUT) != 0 && !out_.empty()) {
    flush();  // the rest of a write the socket could not take at once
  }
  if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) {
    on_readable((events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0);
  }
}

void Connection::on_connected() {
  connected_ = true;
  if (tls_ == nullptr) return start_talking();
  ssl_.reset(SSL_new(tls_));
  if (!ssl_ || SSL_set_fd(ssl_.get(), fd_) != 1) return fail("TLS: cannot make a session");
  SSL_set_mode(ssl_.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_set_connect_state(ssl_.get());
  continue_handshake();
}

// Verified against --tls-ca by the context, the broker's address by the session's parameters
// (set by the run: loopback addresses only).
void Connection::continue_handshake() {
  const int result = SSL_do_handshake(ssl_.get());
  if (result == 1) {
    tls_ready_ = true;
    return start_talking();
  }
  const int error = SSL_get_error(ssl_.get(), result);
  if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) return;  // the next event
  char text[256] = "the broker closed the connection";
  if (const auto code = ERR_get_error(); code != 0) ERR_error_string_n(code, text, sizeof text);
  ERR_clear_error();
  fail(std::string("TLS handshake: ") + text);
}

void Connection::start_talking() {
  if (http()) {  // no upgrade: requests go out from now on
    handshaken_ = true;
    open_ = true;
    return events_.on_open(*this);
  }
  out_.append(kUpgrade);
  out_.append(json() ? "kabar.v1.json\r\n\r\n" : "kabar.v1.proto\r\n\r\n");
  flush();
}

void Connection::send(std::string_view payload) {
  if (closed_) return;
  if (http()) {
    out_.append(
        "POST /v1/articles HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/x-protobuf\r\nContent-Length: ");
    out_.append(std::to_string(payload.size())).append("\r\n\r\n").append(payload);
  } else {
    append_frame(json() ? kText : kBinary, payload);
  }
  if (flush_deferred_) return;
  flush_deferred_ = true;
  loop_.defer([this] {
    flush_deferred_ = false;
    flush();
  });
}

void Connection::close() {
  if (closed_) return;
  closed_ = true;
  open_ = false;
  ssl_.reset();
  if (fd_ >= 0) ::close(fd_);  // leaves the epoll set with it
  fd_ = -1;
}

void Connection::fail(std::string_view why) {
  if (closed_) return;
  close();
  events_.on_closed(*this, why);
}

void Connection::fail_errno(std::string_view what) {
  fail(std::string(what) + ": " + std::strerror(errno));
}

void Connection::append_frame(std::uint8_t opcode, std::string_view payload) {
  char header[14];
  std::size_t size = 0;
  header[size++] = static_cast<char>(0x80 | opcode);
  if (payload.size() < 126) {
    header[size++] = static_cast<char>(0x80 | payload.size());
  } else if (payload.size() <= 0xffff) {
    header[size++] = static_cast<char>(0x80 | 126);
    header[size++] = static_cast<char>(payload.size() >> 8);
    header[size++] = static_cast<char>(payload.size() & 0xff);
  } else {
    header[size++] = static_cast<char>(0x80 | 127);
    for (int shift = 56; shift >= 0; shift -= 8) {
      header[size++] = static_cast<char>((payload.size() >> shift) & 0xff);
    }
  }
  for (int i = 0; i < 4; ++i) header[size++] = 0;  // zero masking key: payload unchanged
  out_.append(header, size);
  out_.append(payload);
}

void Connection::flush() {
  if (ssl_) {
    while (!closed_ && tls_ready_ && out_sent_ < out_.size()) {
      const auto size = static_cast<int>(std::min<std::size_t>(out_.size() - out_sent_, 1 << 30));
      const int n = SSL_write(ssl_.get(), out_.data() + out_sent_, size);
      if (n > 0) {
        out_sent_ += static_cast<std::size_t>(n);
        continue;
      }
      const int error = SSL_get_error(ssl_.get(), n);
      if (error == SSL_ERROR_WANT_WRITE || error == SSL_ERROR_WANT_READ) return;  // EPOLLOUT
      ERR_clear_error();
      return fail("TLS write failed");
    }
    if (out_sent_ == out_.size()) {
      out_.clear();
      out_sent_ = 0;
    }
    return;
  }
  while (!closed_ && connected_ && out_sent_ < out_.size()) {
    const auto n = ::send(fd_, out_.data() + out_sent_, out_.size() - out_sent_, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return;  // EPOLLOUT comes when there is room
      return fail_errno("write");
    }
    out_sent_ += static_cast<std::size_t>(n);
  }
  out_.clear();
  out_sent_ = 0;
}

// Edge-triggered: the socket must be read until empty. The first read comes with the pass's
// others (EventLoop::read_soon); one that fills its buffer, or a hang-up, is read on here.
void Connection::on_readable(bool hung_up) {
  hung_up_ = hung_up_ || hung_up;
  if (ssl_) return read_tls();
  loop_.read_soon(fd_, *this);
}

// Through OpenSSL until it needs the socket again (it read the socket until empty).
void Connection::read_tls() {
  auto& buffer = shared_read_buffer();
  while (!closed_) {
    const int size = static_cast<int>(buffer.size());
    const int n = SSL_read(ssl_.get(), buffer.data(), size);
    if (n > 0) {
      if (!take({buffer.data(), static_cast<std::size_t>(n)})) return;
      continue;
    }
    const int error = SSL_get_error(ssl_.get(), n);
    if (error == SSL_ERROR_WANT_READ) return;
    if (error == SSL_ERROR_WANT_WRITE) return flush();
    ERR_clear_error();
    return fail(error == SSL_ERROR_ZERO_RETURN || error == SSL_ERROR_SYSCALL ? "closed by broker"
                                                                             : "TLS read failed");
  }
}

void Connection::on_read(long result, const char* data, std::size_t capacity) {
  if (closed_) return;
  if (result < 0) {
    if (result == -EAGAIN) return;
    if (result == -EINTR) return read_rest(0);
    return fail(std::string("read: ") + std::strerror(static_cast<int>(-result)));
  }
  if (result == 0) return fail("closed by broker");
  const auto size = static_cast<std::size_t>(result);
  if (size == capacity) {
    // More may wait: read on into the large buffer after these bytes and take it all at once,
    // so that frames larger than a pass's buffer are not gathered piecemeal in carry_.
    std::memcpy(shared_read_buffer().data(), data, size);
    return read_rest(size);
  }
  if (!take({data, size})) return;
  if (hung_up_) read_rest(0);
}

// Reads into the large buffer, whose first `have` bytes are read already, until the socket is
// empty. A read shorter than the buffer has emptied it (data arriving later raises a new edge),
// unless the peer hung up, when reading goes on to the end of the stream.
void Connection::read_rest(std::size_t have) {
  auto& buffer = shared_read_buffer();
  while (!closed_) {
    const auto n = ::recv(fd_, buffer.data() + have, buffer.size() - have, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) return fail_errno("read");
    const auto size = have + static_cast<std::size_t>(std::max<ssize_t>(n, 0));
    have = 0;
    if (size != 0 && !take({buffer.data(), size})) return;
    if (n == 0) return fail("closed by broker");
    if (n < 0 || (size < buffer.size() && !hung_up_)) return;  // EAGAIN: empty
  }
}

bool Connection::take(std::string_view data) {
  if (carry_.empty()) {
    if (!consume(data)) return false;
    carry_.assign(data);  // an incomplete frame, if any
    return true;
  }
  carry_.append(data);
  std::string_view all(carry_);
  if (!consume(all)) return false;
  carry_.erase(0, carry_.size() - all.size());
  return true;
}

bool Connection::consume(std::string_view& data) {
  if (http()) return consume_http(data);
  if (!handshaken_) {
    const auto end = data.find("\r\n\r\n");
    if (end == std::string_view::npos) return true;
    if (data.substr(0, 12) != "HTTP/1.1 101") {
      fail("upgrade refused: " + std::string(data.substr(0, data.find("\r\n"))));
      return false;
    }
    handshaken_ = true;
    open_ = true;
    data.remove_prefix(end + 4);
    events_.on_open(*this);
  }
  while (data.size() >= 2 && !closed_) {
    const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
    std::uint64_t length = bytes[1] & 0x7fU;
    std::size_t header = 2;
    if (length == 126) {
      if (data.size() < 4) return true;
      length = (std::uint64_t{bytes[2]} << 8) | bytes[3];
      header = 4;
    } else if (length == 127) {
      if (data.size() < 10) return true;
      length = 0;
      for (int i = 2; i < 10; ++i) length = (length << 8) | bytes[i];
      header = 10;
    }
    if (data.size() - header < length) return true;
    if ((bytes[0] & 0x80U) == 0) {
      fail("fragmented message from the broker");
      return false;
    }
    frame(static_cast<std::uint8_t>(bytes[0] & 0x0fU),
          data.substr(header, static_cast<std::size_t>(length)));
    data.remove_prefix(header + static_cast<std::size_t>(length));
  }
  return !closed_;
}

// Answers with a Content-Length body (the broker's are), each whole before it is reported.
bool Connection::consume_http(std::string_view& data) {
  while (!closed_) {
    const auto end = data.find("\r\n\r\n");
    if (end == std::string_view::npos) return true;
    if (data.substr(0, 9) != "HTTP/1.1 " || data.size() < 12) {
      fail("not an HTTP answer: " + std::string(data.substr(0, data.find("\r\n"))));
      return false;
    }
    const auto head = data.substr(0, end);
    constexpr std::string_view kLength = "\r\nContent-Length: ";
    const auto at = head.find(kLength);
    std::size_t length = 0;
    if (at != std::string_view::npos) {
      const auto digits = head.substr(at + kLength.size());
      std::from_chars(digits.data(), digits.data() + digits.size(), length);
    }
    if (data.size() - end - 4 < length) return true;
    int status = 0;
    std::from_chars(data.data() + 9, data.data() + 12, status);
    const auto body = data.substr(end + 4, length);
    data.remove_prefix(end + 4 + length);
    events_.on_http_answer(*this, status, body);
  }
  return false;
}

void Connection::frame(std::uint8_t opcode, std::string_view payload) {
  switch (opcode) {
    case kBinary:
    case kText:
      return events_.on_message(*this, payload);
    case kPing:
      append_frame(kPong, payload);
      return flush();
    case kClose: {
      const auto byte = [&](std::size_t i) {
        return static_cast<unsigned>(static_cast<unsigned char>(payload[i]));
      };
      const unsigned code = payload.size() >= 2 ? (byte(0) << 8U) | byte(1) : 1005U;
      return fail("closed by broker with " + std::to_string(code) + " " +
                  std::string(payload.size() > 2 ? payload.substr(2) : ""));
    }
    default:
      return;  // pong: ignored
  }
}

}  // namespace kabar::bench
