#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

/// HTTP/1.1 to the real broker over a plain socket, written as a test wants it (keep-alive,
/// chunked bodies, headers without their body), every read bounded by 5 s.
namespace kabar::test {

struct HttpAnswer {
  int status = 0;                              ///< 0 when no answer came
  std::map<std::string, std::string> headers;  ///< names in lower case
  std::string body;
  [[nodiscard]] std::string header(const std::string& name) const {
    const auto found = headers.find(name);
    return found == headers.end() ? std::string() : found->second;
  }
};

class HttpConnection {
 public:
  explicit HttpConnection(std::uint16_t port);
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  /// A request with a Content-Length body (none when empty), and its answer.
  HttpAnswer request(std::string_view method, std::string_view target, std::string_view body = {},
                     std::string_view headers = {});
  /// POST `body` to `target` as `content_type`.
  HttpAnswer post(std::string_view target, std::string_view content_type, std::string_view body,
                  std::string_view headers = {}) {
    return request(
        "POST", target, body,
        std::string("Content-Type: ").append(content_type).append("\r\n").append(headers));
  }

  void send_raw(std::string_view bytes) const;
  /// The next answer (status line, headers, a Content-Length or chunked body).
  HttpAnswer read_answer();
  /// True when the broker closed the connection (reads end) within 5 s.
  bool closed_by_broker();

 private:
  std::string read_line();
  void fill();

  int fd_;
  std::string buffered_;
  bool eof_ = false;
};

}  // namespace kabar::test
