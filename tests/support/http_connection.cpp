#include "http_connection.hpp"

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "raw_ws.hpp"

namespace kabar::test {

HttpConnection::HttpConnection(std::uint16_t port) : fd_(connect_loopback(port)) {
  const timeval timeout{.tv_sec = 5, .tv_usec = 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
}

HttpConnection::~HttpConnection() {
  ::close(fd_);
}

void HttpConnection::send_raw(std::string_view bytes) const {
  while (!bytes.empty()) {
    const auto sent = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent <= 0) return;  // the broker closed: what it answered is still readable
    bytes.remove_prefix(static_cast<std::size_t>(sent));
  }
}

HttpAnswer HttpConnection::request(std::string_view method, std::string_view target,
                                   std::string_view body, std::string_view headers) {
  std::string request;
  request.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: 127.0.0.1\r\n");
  request.append(headers);
  if (!body.empty() || method == "POST") {
    request.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  }
  request.append("\r\n").append(body);
  send_raw(request);
  return read_answer();
}

void HttpConnection::fill() {
  char chunk[16384];
  const auto n = ::recv(fd_, chunk, sizeof chunk, 0);
  if (n <= 0) {
    eof_ = true;
    return;
  }
  buffered_.append(chunk, static_cast<std::size_t>(n));
}

std::string HttpConnection::read_line() {
  for (;;) {
    const auto end = buffered_.find("\r\n");
    if (end != std::string::npos) {
      auto line = buffered_.substr(0, end);
      buffered_.erase(0, end + 2);
      return line;
    }
    if (eof_) throw std::runtime_error("the connection ended mid-answer");
    fill();
  }
}

HttpAnswer HttpConnection::read_answer() {
  HttpAnswer answer;
  std::string status_line;
  try {
    status_line = read_line();
  } catch (const std::runtime_error&) {
    return answer;
  }
  answer.status = std::stoi(status_line.substr(9, 3));
  for (auto line = read_line(); !line.empty(); line = read_line()) {
    const auto colon = line.find(':');
    auto name = line.substr(0, colon);
    std::ranges::transform(name, name.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    auto value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    answer.headers[name] = value;
  }
  if (answer.status == 100 || answer.status == 304) return answer;
  const auto read_bytes = [this](std::size_t size) {
    while (buffered_.size() < size && !eof_) fill();
    const auto take = std::min(size, buffered_.size());
    auto bytes = buffered_.substr(0, take);
    buffered_.erase(0, take);
    return bytes;
  };
  if (answer.header("transfer-encoding") == "chunked") {
    for (;;) {
      const auto size = std::stoul(read_line(), nullptr, 16);
      answer.body += read_bytes(size);
      read_line();
      if (size == 0) break;
    }
  } else if (const auto length = answer.header("content-length"); !length.empty()) {
    answer.body = read_bytes(std::stoul(length));
  }
  return answer;
}

bool HttpConnection::closed_by_broker() {
  while (!eof_) fill();
  return buffered_.empty();
}

}  // namespace kabar::test
