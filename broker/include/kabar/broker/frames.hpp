#pragma once

#include <google/protobuf/timestamp.pb.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "kabar/broker/ws_opcode.hpp"
#include "kabar/v1/kabar.pb.h"

/// Building the broker's outgoing bytes without re-encoding articles.
namespace kabar::broker {

/// Fields of a Delivery other than the article, which comes pre-encoded.
struct DeliveryHeader {
  std::string_view topic;
  std::uint64_t offset = 0;
  std::string_view epoch;
  const google::protobuf::Timestamp* accepted_at = nullptr;
};

/// Appends one encoded ServerMessage{deliveries: [Delivery]} to `out`, splicing in
/// `article_bytes` (an encoded Article) as Delivery.article: the article is encoded once per
/// publish, whatever the number of topics and subscribers.
void append_delivery(std::string& out, const DeliveryHeader& header,
                     std::string_view article_bytes);

/// A WebSocket frame header as a server sends it (RFC 6455 section 5.2): final, unmasked.
using FrameHeader = std::array<char, 10>;

/// Writes the header of a frame of `frame_opcode` carrying `payload` bytes into `out`; returns
/// its size (2, 4 or 10 bytes).
std::size_t write_frame_header(FrameHeader& out, std::uint64_t payload, std::uint8_t frame_opcode);

/// The same for a message's frame: binary, or text.
inline std::size_t write_frame_header(FrameHeader& out, std::uint64_t payload, bool text = false) {
  return write_frame_header(out, payload, text ? opcode::kText : opcode::kBinary);
}

/// One encoded ServerMessage holding only `reply`.
[[nodiscard]] std::string encode_reply(const v1::Reply& reply);

/// Appends one ServerMessage{deliveries: [Delivery]} in protobuf's JSON mapping to `out`,
/// splicing in `article_json` (the article already in that mapping): one JSON document per
/// delivery, the article converted once whatever the number of topics and subscribers.
void append_json_delivery(std::string& out, const DeliveryHeader& header,
                          std::string_view article_json);

/// One ServerMessage holding only `reply`, in protobuf's JSON mapping.
[[nodiscard]] std::string encode_json_reply(const v1::Reply& reply);

}  // namespace kabar::broker
