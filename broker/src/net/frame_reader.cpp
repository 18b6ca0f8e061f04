#include "net/frame_reader.hpp"

#include <array>
#include <cstring>
#include <memory>
#include <string>

namespace kabar::broker {
namespace {

using opcode::kBinary;
using opcode::kClose;
using opcode::kContinuation;
using opcode::kMaxControlPayload;
using opcode::kPing;
using opcode::kPong;
using opcode::kText;

constexpr std::uint16_t kProtocolError = 1002;
constexpr std::uint16_t kInvalidPayload = 1007;
constexpr std::uint16_t kMessageTooBig = 1009;
constexpr std::uint16_t kNoCodeGiven = 1005;

std::uint64_t big_endian(const unsigned char* bytes, std::size_t size) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < size; ++i) value = (value << 8) | bytes[i];
  return value;
}

// XORs the payload with the client's key, a word at a time where it can.
void unmask(char* payload, std::size_t size, const unsigned char* key) {
  std::uint64_t word_key = 0;
  std::array<unsigned char, 8> repeated{};
  for (std::size_t i = 0; i < repeated.size(); ++i) repeated[i] = key[i % 4];
  std::memcpy(&word_key, repeated.data(), sizeof word_key);
  std::size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    std::uint64_t word = 0;
    std::memcpy(&word, payload + i, sizeof word);
    word ^= word_key;
    std::memcpy(payload + i, &word, sizeof word);
  }
  for (; i < size; ++i) payload[i] = static_cast<char>(payload[i] ^ key[i % 4]);
}

}  // namespace

void FrameReader::feed(std::span<char> bytes) {
  parsed_ = 0;
  if (!held_ || held_->pending.empty()) {
    input_ = bytes;
    from_pending_ = false;
    return;
  }
  auto& pending = held_->pending;
  pending.append(bytes.data(), bytes.size());
  input_ = {pending.data(), pending.size()};
  from_pending_ = true;
}

FrameReader::Event FrameReader::next() {
  if (failed_) return {};
  if (message_done_) {
    held_->message.clear();
    message_done_ = false;
  }
  while (true) {
    const auto rest = input_.subspan(parsed_);
    if (rest.size() < 2) {
      keep_rest(0);
      return {};
    }
    const auto* bytes = reinterpret_cast<const unsigned char*>(rest.data());
    const bool fin = (bytes[0] & 0x80) != 0;
    const unsigned opcode = bytes[0] & 0x0fU;
    if ((bytes[0] & 0x70) != 0) return error(kProtocolError, "reserved bits set in a frame");
    if ((bytes[1] & 0x80) == 0) return error(kProtocolError, "an unmasked frame from a client");
    const bool control = (opcode & 0x8) != 0;
    if (control && opcode != kClose && opcode != kPing && opcode != kPong) {
      return error(kProtocolError, "a reserved control opcode");
    }
    if (!control && opcode != kContinuation && opcode != kText && opcode != kBinary) {
      return error(kProtocolError, "a reserved data opcode");
    }
    if (control && !fin) return error(kProtocolError, "a fragmented control frame");
    if (opcode == kContinuation && !in_message_) {
      return error(kProtocolError, "a continuation frame with no message to continue");
    }
    if (!control && opcode != kContinuation && in_message_) {
      return error(kProtocolError, "a new message before the last one's final frame");
    }
    std::uint64_t length = bytes[1] & 0x7fU;
    const std::size_t length_bytes = length == 126 ? 2 : length == 127 ? 8 : 0;
    const std::size_t header = 2 + length_bytes + 4;
    if (rest.size() < header) {
      keep_rest(0);
      return {};
    }
    if (length_bytes != 0) {
      length = big_endian(bytes + 2, length_bytes);
      if (length >> 63 != 0) return error(kProtocolError, "a frame length with its top bit set");
      if (length < (length_bytes == 2 ? 126U : 65536U)) {
        return error(kProtocolError, "a frame length not in its shortest form");
      }
    }
    if (control && length > kMaxControlPayload) {
      return error(kProtocolError, "a control frame over 125 bytes");
    }
    const std::size_t so_far = opcode == kContinuation ? held_->message.size() : 0;
    if (!control && so_far + length > max_message_bytes_) {
      return error(kMessageTooBig, "a message over the maximum size");
    }
    if (rest.size() - header < length) {
      keep_rest(header + length);
      return {};
    }
    char* payload = rest.data() + header;
    unmask(payload, length, bytes + header - 4);
    parsed_ += header + length;
    const std::string_view data(payload, length);

    switch (opcode) {
      case kPing:
        return {.kind = Event::Kind::kPing, .payload = data};
      case kPong:
        return {.kind = Event::Kind::kPong, .payload = data};
      case kClose: {
        if (data.empty()) return {.kind = Event::Kind::kClose, .payload = {}, .code = kNoCodeGiven};
        if (data.size() == 1) return error(kProtocolError, "a close frame of one byte");
        const auto code = static_cast<std::uint16_t>(
            big_endian(reinterpret_cast<const unsigned char*>(data.data()), 2));
        if (!valid_close_code(code)) return error(kProtocolError, "a close code no peer may send");
        const auto reason = data.substr(2);
        if (!valid_utf8(reason)) return error(kInvalidPayload, "a close reason that is not UTF-8");
        return {.kind = Event::Kind::kClose, .payload = reason, .code = code};
      }
      default:
        break;
    }
    if (opcode != kContinuation) message_text_ = opcode == kText;
    if (fin && !in_message_) {  // the usual case: a message in one frame, read in place
      if (message_text_ && !valid_utf8(data)) {
        return error(kInvalidPayload, "a text message that is not UTF-8");
      }
      return {.kind = Event::Kind::kMessage, .text = message_text_, .payload = data};
    }
    if (!held_) held_ = std::make_unique<Held>();
    auto& message = held_->message;
    message.append(data);
    in_message_ = !fin;
    if (in_message_) continue;
    if (message_text_ && !valid_utf8(message)) {
      return error(kInvalidPayload, "a text message that is not UTF-8");
    }
    message_done_ = true;
    return {.kind = Event::Kind::kMessage, .text = message_text_, .payload = message};
  }
}

void FrameReader::keep_rest(std::size_t frame_bytes) {
  const auto rest = input_.subspan(parsed_);
  if (from_pending_) {
    held_->pending.erase(0, parsed_);
  } else if (!rest.empty()) {
    if (!held_) held_ = std::make_unique<Held>();
    held_->pending.assign(rest.data(), rest.size());
  }
  // A frame coming in parts is reserved for whole (its size is checked against the maximum).
  if (held_ && held_->pending.capacity() < frame_bytes) held_->pending.reserve(frame_bytes);
  input_ = {};
  parsed_ = 0;
  from_pending_ = false;
}

FrameReader::Event FrameReader::error(std::uint16_t code, std::string_view what) {
  failed_ = true;
  return {.kind = Event::Kind::kError, .payload = what, .code = code};
}

void FrameReader::trim(std::size_t keep_bytes) {
  if (!held_ || !held_->pending.empty() || !held_->message.empty() || in_message_) return;
  if (held_->pending.capacity() + held_->message.capacity() > keep_bytes) held_.reset();
}

bool FrameReader::valid_close_code(std::uint16_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

bool valid_utf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  while (p != end) {
    // ASCII, eight bytes at a time.
    while (end - p >= 8) {
      std::uint64_t word = 0;
      std::memcpy(&word, p, sizeof word);
      if ((word & 0x8080808080808080ULL) != 0) break;
      p += 8;
    }
    if (p == end) break;
    const unsigned char lead = *p;
    if (lead < 0x80) {
      ++p;
      continue;
    }
    std::size_t size = 0;
    unsigned char low = 0x80;  // the second byte's range, narrowed where RFC 3629 says
    unsigned char high = 0xbf;
    if (lead >= 0xc2 && lead <= 0xdf) {
      size = 2;
    } else if (lead >= 0xe0 && lead <= 0xef) {
      size = 3;
      if (lead == 0xe0) low = 0xa0;   // overlong
      if (lead == 0xed) high = 0x9f;  // surrogates
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      size = 4;
      if (lead == 0xf0) low = 0x90;   // overlong
      if (lead == 0xf4) high = 0x8f;  // past U+10FFFF
    } else {
      return false;
    }
    if (static_cast<std::size_t>(end - p) < size) return false;
    if (p[1] < low || p[1] > high) return false;
    for (std::size_t i = 2; i < size; ++i) {
      if (p[i] < 0x80 || p[i] > 0xbf) return false;
    }
    p += size;
  }
  return true;
}

}  // namespace kabar::broker
