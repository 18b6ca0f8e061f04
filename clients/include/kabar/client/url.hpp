#pragma once

#include <string>

namespace kabar::client {

/// A broker URL, ws[s]://HOST[:PORT][/PATH], taken apart.
struct Url {
  bool tls = false;    ///< wss://
  std::string host;    ///< a name or an address; an IPv6 address without its brackets
  std::string port;    ///< 80 or 443 when not given
  std::string target;  ///< the path, "/v1/ws" when not given
};

/// Throws std::invalid_argument naming the URL when it is not ws:// or wss:// with a host.
[[nodiscard]] Url parse_url(const std::string& url);

}  // namespace kabar::client
