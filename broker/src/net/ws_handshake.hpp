#pragma once

#include <string>
#include <string_view>

/// The WebSocket opening handshake's server side (RFC 6455 section 4.2): what HttpSession checks
/// of an upgrade and what WsSession answers it with.
namespace kabar::broker::ws_handshake {

/// The only version of the protocol there is (RFC 6455 section 4.4): other values get 426.
inline constexpr std::string_view kVersion = "13";

/// RFC 6455 section 4.1: the key is the base64 of 16 random bytes, 24 characters ending in "==".
[[nodiscard]] bool valid_key(std::string_view key);

/// Sec-WebSocket-Accept for `key`: base64(SHA-1(key + the protocol's GUID)).
[[nodiscard]] std::string accept_value(std::string_view key);

/// The whole "101 Switching Protocols" response to an upgrade with `key`, agreeing on
/// `subprotocol`. @pre valid_key(key)
[[nodiscard]] std::string response(std::string_view key, std::string_view subprotocol,
                                   std::string_view server);

}  // namespace kabar::broker::ws_handshake
