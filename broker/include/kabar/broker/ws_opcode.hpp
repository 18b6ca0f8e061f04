#pragma once

#include <cstddef>
#include <cstdint>

/// WebSocket's opcodes (RFC 6455 section 5.2), for the frames the broker reads and writes.
namespace kabar::broker::opcode {

inline constexpr std::uint8_t kContinuation = 0x0;
inline constexpr std::uint8_t kText = 0x1;
inline constexpr std::uint8_t kBinary = 0x2;
inline constexpr std::uint8_t kClose = 0x8;
inline constexpr std::uint8_t kPing = 0x9;
inline constexpr std::uint8_t kPong = 0xa;

/// The largest payload of a control frame (close, ping, pong).
inline constexpr std::size_t kMaxControlPayload = 125;

}  // namespace kabar::broker::opcode
