#pragma once

#include <string_view>

namespace kabar {

inline constexpr std::string_view kVersion = "0.1.0";
inline constexpr std::string_view kServerHeader = "kabar/0.1.0";
/// The WebSocket subprotocol of kabar.v1 in protobuf: binary frames, one message each.
inline constexpr std::string_view kSubprotocol = "kabar.v1.proto";

}  // namespace kabar
