#pragma once

#include <cstdint>
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
/// A codec's deliveries are slices of one encoding of the batch (made once per batch by the
/// engine, never per subscriber). Where messages merge (protobuf: any deliveries and at most one
/// reply concatenated read as one ServerMessage), a subscriber's run of them is one chunk and
/// one frame; where they do not (JSON documents), each delivery and reply is a frame of its own.
/// @note Thread-safe: one instance of each, shared by every session.
class Codec {
 public:
  virtual ~Codec() = default;
  /// The Sec-WebSocket-Protocol it is chosen by.
  [[nodiscard]] virtual std::string_view subprotocol() const = 0;
  /// Its frames are text frames (else binary).
  [[nodiscard]] virtual bool text() const = 0;
  /// Deliveries and a reply concatenated read as one message (see above).
  [[nodiscard]] virtual bool merges_messages() const = 0;
  /// Reads one client message from a whole WebSocket message (`binary`: its frames' opcode).
  [[nodiscard]] virtual std::optional<DecodeError> decode(std::string_view payload, bool binary,
                                                          v1::ClientMessage& out) const = 0;
  /// One reply as the bytes of a message.
  [[nodiscard]] virtual std::string encode(const v1::Reply& reply) const = 0;
  /// Which of a DeliveryBatch's encodings its deliveries are.
  enum class Encoding : std::uint8_t { kProtobuf, kJson };
  [[nodiscard]] Encoding encoding() const { return encoding_; }

  /// One delivery's bytes, a slice of the batch's encoding in this format; empty when the batch
  /// was built without it (it was on its way when the first connection of this format came).
  /// Called per delivery and subscriber: no indirect call.
  [[nodiscard]] std::string_view delivery(const DeliveryBatch& batch,
                                          const DeliveryRef& ref) const {
    if (encoding_ == Encoding::kProtobuf) return {batch.bytes.data() + ref.begin, ref.size};
    if (ref.json_size == 0) return {};
    return {batch.json.data() + ref.json_begin, ref.json_size};
  }
  /// One delivery encoded on its own, where delivery() was empty.
  [[nodiscard]] virtual std::string encode_delivery(const DeliveryBatch& batch,
                                                    const DeliveryRef& ref) const = 0;

 protected:
  explicit Codec(Encoding encoding) : encoding_(encoding) {}

 private:
  Encoding encoding_;
};

/// kabar.v1.proto: protobuf in binary frames; deliveries are the batch's own bytes.
[[nodiscard]] const Codec& proto_codec();

/// kabar.v1.json: the same messages in protobuf's JSON mapping, one per text frame; deliveries
/// are slices of DeliveryBatch::json.
[[nodiscard]] const Codec& json_codec();

/// The codec of the first subprotocol in a Sec-WebSocket-Protocol list (comma-separated, in the
/// client's order of preference) that the broker speaks; null when it speaks none of them.
[[nodiscard]] const Codec* choose_codec(std::string_view offered);

}  // namespace kabar::broker
