#include "net/ws_handshake.hpp"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <array>

namespace kabar::broker::ws_handshake {

bool valid_key(std::string_view key) {
  constexpr std::string_view kBase64 =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  if (key.size() != 24 || !key.ends_with("==")) return false;
  for (const char c : key.substr(0, 22)) {
    if (kBase64.find(c) == std::string_view::npos) return false;
  }
  // The 22nd character carries the last 2 bits of the 16th byte and 4 zero bits.
  return std::string_view("AQgw").find(key[21]) != std::string_view::npos;
}

std::string accept_value(std::string_view key) {
  constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  std::string input(key);
  input.append(kGuid);
  std::array<unsigned char, SHA_DIGEST_LENGTH> digest{};
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest.data());
  std::array<unsigned char, 4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1> encoded{};
  const auto size = EVP_EncodeBlock(encoded.data(), digest.data(), SHA_DIGEST_LENGTH);
  return {reinterpret_cast<const char*>(encoded.data()), static_cast<std::size_t>(size)};
}

std::string response(std::string_view key, std::string_view subprotocol, std::string_view server) {
  std::string out =
      "HTTP/1.1 101 Switching Protocols\r\n"
      "Upgrade: websocket\r\n"
      "Connection: Upgrade\r\n"
      "Sec-WebSocket-Accept: ";
  out += accept_value(key);
  out += "\r\nSec-WebSocket-Protocol: ";
  out += subprotocol;
  out += "\r\nServer: ";
  out += server;
  out += "\r\n\r\n";
  return out;
}

}  // namespace kabar::broker::ws_handshake
