#pragma once

#include <cstdint>
#include <string_view>

namespace kabar {

/// WebSocket close codes the broker sends (RFC 6455 section 7.4, SPEC section 3), and the
/// kabar-specific ones in 4000-4099.
enum class CloseCode : std::uint16_t {
  kNormal = 1000,
  kGoingAway = 1001,        ///< the broker is shutting down
  kProtocolError = 1002,    ///< a binary frame that is not a ClientMessage
  kUnsupportedData = 1003,  ///< a text frame on kabar.v1.proto, a binary one on kabar.v1.json
  kInvalidPayload = 1007,   ///< a text frame on kabar.v1.json that is not a ClientMessage
  kPolicyViolation = 1008,  ///< authentication or authorisation
  kMessageTooBig = 1009,    ///< a message over the configured maximum
  kSlowConsumer = 4001,     ///< the send queue passed its byte limit: resume from history
  kShuttingDown = 4002,     ///< reconnect now, elsewhere if you can
  kTokenExpired = 4003,     ///< the token expired while connected
  kRecoveryLost = 4004,     ///< retention trimmed what a recovery still had to replay: resume again
};

/// A short English description, for logs and CLI messages.
[[nodiscard]] constexpr std::string_view describe(CloseCode code) {
  switch (code) {
    case CloseCode::kNormal:
      return "normal closure";
    case CloseCode::kGoingAway:
      return "going away";
    case CloseCode::kProtocolError:
      return "protocol error";
    case CloseCode::kUnsupportedData:
      return "unsupported data";
    case CloseCode::kInvalidPayload:
      return "invalid payload";
    case CloseCode::kPolicyViolation:
      return "policy violation";
    case CloseCode::kMessageTooBig:
      return "message too big";
    case CloseCode::kSlowConsumer:
      return "slow consumer";
    case CloseCode::kShuttingDown:
      return "broker shutting down";
    case CloseCode::kTokenExpired:
      return "token expired";
    case CloseCode::kRecoveryLost:
      return "recovery lost its place";
  }
  return "unknown close code";
}

}  // namespace kabar
