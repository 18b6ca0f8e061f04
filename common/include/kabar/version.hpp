#pragma once

#include <string_view>

namespace kabar {

// KABAR_VERSION comes from project(VERSION) in the top CMakeLists.txt, its one source.
inline constexpr std::string_view kVersion = KABAR_VERSION;
inline constexpr std::string_view kServerHeader = "kabar/" KABAR_VERSION;
/// The WebSocket subprotocol of kabar.v1 in protobuf: binary frames, one message each.
inline constexpr std::string_view kSubprotocol = "kabar.v1.proto";
/// The same messages in protobuf's JSON mapping, one per text frame: for browsers.
inline constexpr std::string_view kJsonSubprotocol = "kabar.v1.json";

}  // namespace kabar
