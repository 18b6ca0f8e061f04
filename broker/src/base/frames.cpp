#include "kabar/broker/frames.hpp"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <cstdio>

namespace kabar::broker {
namespace {

// Protobuf wire format: tag = field number << 3 | wire type.
constexpr std::uint8_t kVarint = 0;
constexpr std::uint8_t kLengthDelimited = 2;

constexpr char tag(std::uint32_t field, std::uint8_t wire_type) {
  return static_cast<char>((field << 3) | wire_type);
}

void append_varint(std::string& out, std::uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

std::size_t varint_size(std::uint64_t value) {
  std::size_t size = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++size;
  }
  return size;
}

std::size_t field_size(std::size_t payload) {
  return 1 + varint_size(payload) + payload;
}

void append_bytes_field(std::string& out, std::uint32_t field, std::string_view bytes) {
  out.push_back(tag(field, kLengthDelimited));
  append_varint(out, bytes.size());
  out.append(bytes);
}

// A JSON string literal of `text` (RFC 8259: quote, backslash and control characters escaped).
void append_json_string(std::string& out, std::string_view text) {
  out.push_back('"');
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
      out.append(escaped);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

}  // namespace

void append_delivery(std::string& out, const DeliveryHeader& header,
                     std::string_view article_bytes) {
  const std::string accepted_at =
      header.accepted_at != nullptr ? header.accepted_at->SerializeAsString() : std::string();
  // Delivery fields: 1 topic, 2 offset, 3 epoch, 4 article, 5 accepted_at.
  std::size_t delivery_size = field_size(header.topic.size()) + 1 + varint_size(header.offset) +
                              field_size(article_bytes.size()) + field_size(accepted_at.size());
  if (!header.epoch.empty()) delivery_size += field_size(header.epoch.size());

  out.reserve(out.size() + field_size(delivery_size));
  out.push_back(tag(2, kLengthDelimited));  // ServerMessage.deliveries
  append_varint(out, delivery_size);
  append_bytes_field(out, 1, header.topic);
  out.push_back(tag(2, kVarint));
  append_varint(out, header.offset);
  if (!header.epoch.empty()) append_bytes_field(out, 3, header.epoch);
  append_bytes_field(out, 4, article_bytes);
  append_bytes_field(out, 5, accepted_at);
}

std::size_t write_frame_header(FrameHeader& out, std::uint64_t payload, std::uint8_t frame_opcode) {
  out[0] = static_cast<char>(0x80U | frame_opcode);  // FIN
  if (payload < 126) {
    out[1] = static_cast<char>(payload);
    return 2;
  }
  std::size_t length_bytes = 8;
  out[1] = 127;
  if (payload <= 0xffff) {
    length_bytes = 2;
    out[1] = 126;
  }
  for (std::size_t i = 0; i < length_bytes; ++i) {  // big-endian
    out[2 + i] = static_cast<char>(payload >> (8 * (length_bytes - 1 - i)));
  }
  return 2 + length_bytes;
}

void append_json_delivery(std::string& out, const DeliveryHeader& header,
                          std::string_view article_json) {
  // As MessageToJsonString writes a ServerMessage{deliveries: [Delivery]}: lowerCamelCase names,
  // a 64-bit integer as a string, a Timestamp in RFC 3339, empty fields left out.
  out.append(R"({"deliveries":[{"topic":)");
  append_json_string(out, header.topic);
  out.append(R"(,"offset":")");
  out.append(std::to_string(header.offset));
  out.push_back('"');
  if (!header.epoch.empty()) {
    out.append(R"(,"epoch":)");
    append_json_string(out, header.epoch);
  }
  out.append(R"(,"article":)");
  out.append(article_json);
  if (header.accepted_at != nullptr) {
    out.append(R"(,"acceptedAt":")");
    out.append(google::protobuf::util::TimeUtil::ToString(*header.accepted_at));
    out.push_back('"');
  }
  out.append("}]}");
}

std::string encode_json_reply(const v1::Reply& reply) {
  v1::ServerMessage message;
  *message.mutable_reply() = reply;
  std::string out;
  // Cannot fail: every field of a Reply has a JSON mapping.
  static_cast<void>(google::protobuf::util::MessageToJsonString(message, &out));
  return out;
}

std::string encode_reply(const v1::Reply& reply) {
  std::string out;
  const std::string body = reply.SerializeAsString();
  out.reserve(field_size(body.size()));
  append_bytes_field(out, 1, body);  // ServerMessage.reply
  return out;
}

}  // namespace kabar::broker
