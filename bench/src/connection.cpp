#include "connection.hpp"

#include <netinet/in.h>

#include <boost/asio/detail/socket_option.hpp>
#include <boost/asio/write.hpp>
#include <vector>

namespace kabar::bench {

namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

constexpr std::string_view kUpgrade =
    "GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Protocol: kabar.v1.proto\r\n\r\n";

constexpr std::uint8_t kBinary = 0x2, kClose = 0x8, kPing = 0x9, kPong = 0xA;

std::vector<char>& shared_read_buffer() {
  thread_local std::vector<char> buffer(1 << 20);
  return buffer;
}

}  // namespace

Connection::Connection(net::io_context& ioc, ConnectionEvents& events, std::uint32_t index)
    : socket_(ioc), events_(events), index_(index) {}

void Connection::start(const tcp::endpoint& broker, const net::ip::address& local) {
  boost::system::error_code ec;
  socket_.open(broker.protocol(), ec);
  // Let connect() pick the port for the whole 4-tuple: bind(port 0) alone scans for a port
  // free of any destination, which grows slow past a few thousand connections per address.
  using bind_no_port = net::detail::socket_option::boolean<IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT>;
  if (!ec) socket_.set_option(bind_no_port(true), ec);
  if (!ec) socket_.bind({local, 0}, ec);
  if (ec) return fail("bind " + local.to_string() + ": " + ec.message());
  socket_.async_connect(broker, [this](boost::system::error_code error) {
    if (error) return fail("connect: " + error.message());
    boost::system::error_code ignored;
    socket_.set_option(tcp::no_delay(true), ignored);
    socket_.non_blocking(true, ignored);
    out_.append(kUpgrade);
    flush();
    wait_readable();
  });
}

// Frames queued in one pass of the loop go out in one write.
void Connection::send(std::string_view payload) {
  if (closed_) return;
  append_frame(kBinary, payload);
  if (flush_posted_) return;
  flush_posted_ = true;
  net::post(socket_.get_executor(), [this] {
    flush_posted_ = false;
    flush();
  });
}

void Connection::close() {
  if (closed_) return;
  closed_ = true;
  open_ = false;
  boost::system::error_code ignored;
  socket_.close(ignored);
}

void Connection::fail(std::string_view why) {
  if (closed_) return;
  close();
  events_.on_closed(*this, why);
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
  if (!writing_.empty() || out_.empty() || closed_) return;
  writing_.swap(out_);
  net::async_write(socket_, net::buffer(writing_), [this](boost::system::error_code ec, std::size_t) {
    writing_.clear();
    if (ec) return fail("write: " + ec.message());
    flush();
  });
}

void Connection::wait_readable() {
  socket_.async_wait(tcp::socket::wait_read, [this](boost::system::error_code ec) {
    if (ec) return fail("read: " + ec.message());
    on_readable();
  });
}

void Connection::on_readable() {
  auto& buffer = shared_read_buffer();
  while (!closed_) {
    boost::system::error_code ec;
    const auto n = socket_.read_some(net::buffer(buffer), ec);
    if (ec == net::error::would_block) break;
    if (ec) return fail(ec == net::error::eof ? "closed by broker" : "read: " + ec.message());
    std::string_view data(buffer.data(), n);
    if (!carry_.empty()) {
      carry_.append(data);
      std::string_view all(carry_);
      if (!consume(all)) return;
      carry_.erase(0, carry_.size() - all.size());
    } else {
      if (!consume(data)) return;
      carry_.assign(data);
    }
    if (n < buffer.size()) break;
  }
  if (!closed_) wait_readable();
}

bool Connection::consume(std::string_view& data) {
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

void Connection::frame(std::uint8_t opcode, std::string_view payload) {
  switch (opcode) {
    case kBinary:
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
      return;  // pong, text: ignored
  }
}

}  // namespace kabar::bench
