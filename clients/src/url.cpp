#include "kabar/client/url.hpp"

#include <stdexcept>
#include <string_view>

namespace kabar::client {

Url parse_url(const std::string& url) {
  Url parsed;
  std::string_view rest = url;
  if (rest.starts_with("wss://")) {
    parsed.tls = true;
    rest.remove_prefix(6);
  } else if (rest.starts_with("ws://")) {
    rest.remove_prefix(5);
  } else {
    throw std::invalid_argument("URL '" + url + "' must start with ws:// or wss://");
  }
  const std::string default_port = parsed.tls ? "443" : "80";
  const auto slash = rest.find('/');
  const auto authority = rest.substr(0, slash);
  parsed.target = slash == std::string_view::npos ? "/v1/ws" : std::string(rest.substr(slash));
  const auto colon = authority.rfind(':');
  if (!authority.empty() && authority.front() == '[') {  // [v6]:port
    const auto close = authority.find(']');
    if (close == std::string_view::npos) throw std::invalid_argument("bad IPv6 host in " + url);
    parsed.host = std::string(authority.substr(1, close - 1));
    parsed.port = close + 1 < authority.size() && authority[close + 1] == ':'
                      ? std::string(authority.substr(close + 2))
                      : default_port;
  } else {
    parsed.host = std::string(authority.substr(0, colon));
    parsed.port =
        colon == std::string_view::npos ? default_port : std::string(authority.substr(colon + 1));
  }
  if (parsed.host.empty()) throw std::invalid_argument("URL '" + url + "' has no host");
  return parsed;
}

}  // namespace kabar::client
