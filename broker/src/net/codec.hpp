#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "kabar/broker/engine.hpp"
#include "kabar/broker/metrics.hpp"
#include "kabar/common/close_code.hpp"
#include "kabar/v1/kabar.pb.h"

namespace kabar::broker {

/// Why a client's message could not be read, and how the connection ends for it.
struct DecodeError {
  CloseCode close;
  Rejected rejected;
  std::string reason;
};

/// How one WebSocket subprotocol puts kabar's messages on the wire. A session asks its codec
/// for the bytes of each reply and delivery and to read each client message, and nothing else
/// knows the format: a second subprotocol (JSON text for browsers) is a second Codec, with no
/// change to the fan-out or the send queue.
///
/// A codec's deliveries are slices of one encoding of the batch (made once per batch, never
/// per subscriber), in batch order and end to end, so that a subscriber's run of them is one
/// chunk; any deliveries and at most one reply concatenated must read as one message
/// (SendQueue::message_end).
/// @note Thread-safe: one instance of each, shared by every session.
class Codec {
 public:
  virtual ~Codec() = default;
  /// The Sec-WebSocket-Protocol it is chosen by.
  [[nodiscard]] virtual std::string_view subprotocol() const = 0;
  /// Its frames are text frames (else binary).
  [[nodiscard]] virtual bool text() const = 0;
  /// Reads one client message from a whole WebSocket message (`binary`: its frames' opcode).
  [[nodiscard]] virtual std::optional<DecodeError> decode(std::string_view payload, bool binary,
                                                          v1::ClientMessage& out) const = 0;
  /// One reply as the bytes of a message.
  [[nodiscard]] virtual std::string encode(const v1::Reply& reply) const = 0;
  /// One delivery's bytes, a slice of the batch's encoding in this format. Called per delivery
  /// and subscriber: the batch's own bytes (protobuf) are taken without an indirect call.
  [[nodiscard]] std::string_view delivery(const DeliveryBatch& batch,
                                          const DeliveryRef& ref) const {
    if (uses_batch_bytes_) return {batch.bytes.data() + ref.begin, ref.size};
    return encoded_delivery(batch, ref);
  }

 protected:
  /// `uses_batch_bytes`: deliveries are DeliveryBatch::bytes as they are (protobuf).
  explicit Codec(bool uses_batch_bytes) : uses_batch_bytes_(uses_batch_bytes) {}
  /// A codec with an encoding of its own: the delivery's slice of it.
  [[nodiscard]] virtual std::string_view encoded_delivery(const DeliveryBatch& batch,
                                                          const DeliveryRef& ref) const = 0;

 private:
  bool uses_batch_bytes_;
};

/// kabar.v1.proto: protobuf in binary frames; deliveries are the batch's own bytes.
[[nodiscard]] const Codec& proto_codec();

/// The codec of the first subprotocol in a Sec-WebSocket-Protocol list (comma-separated, in the
/// client's order of preference) that the broker speaks; null when it speaks none of them.
[[nodiscard]] const Codec* choose_codec(std::string_view offered);

}  // namespace kabar::broker
