#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "kabar/broker/ws_opcode.hpp"

namespace kabar::broker {

/// Parses what a WebSocket client sends (RFC 6455 section 5) into messages and control frames.
///
/// Reads in place: a frame that arrived whole is unmasked where it lies (the shard's read buffer)
/// and handed on as a view, never copied. Only what spans two reads is kept here, between them: the
/// start of a frame (pending_) and a message in fragments (message_), each allocated for it and
/// given back with trim(). An idle connection's reader holds no buffer.
///
/// Everything a client could get wrong is an error with the close code to answer it with: an
/// unmasked frame, reserved bits or opcodes, a fragmented or oversized control frame, a
/// continuation out of place (1002), a message over the maximum (1009, as soon as a frame's header
/// says so), text or a close reason that is not UTF-8 (1007), a close code no peer may send (1002).
/// @note Not thread-safe; no sockets.
class FrameReader {
 public:
  struct Event {
    enum class Kind : std::uint8_t { kNeedMore, kMessage, kPing, kPong, kClose, kError };
    Kind kind = Kind::kNeedMore;
    bool text = false;  ///< kMessage: a text message, else binary
    /// kMessage, kPing, kPong: the payload; kClose: the reason; kError: what was wrong.
    /// Valid until the next call to next() or feed().
    std::string_view payload;
    /// kClose: the peer's code (1005 when it gave none); kError: the code to close with.
    std::uint16_t code = 0;
  };

  explicit FrameReader(std::size_t max_message_bytes) : max_message_bytes_(max_message_bytes) {}

  /// Bytes read from the connection, to be parsed by next() until it answers kNeedMore. They are
  /// unmasked in place, and must stay put until then.
  void feed(std::span<char> bytes);
  /// The next message or control frame in what was fed; kNeedMore once all of it is parsed (the
  /// start of a frame is then kept for the next feed). After an error, nothing more.
  Event next();

  /// Bytes kept between reads.
  [[nodiscard]] std::size_t buffered_bytes() const {
    return held_ ? held_->pending.size() + held_->message.size() : 0;
  }
  /// Gives back the buffers' memory beyond `keep_bytes` (a publisher keeps some for its articles).
  void trim(std::size_t keep_bytes);

  /// RFC 6455 section 7.4: a code a peer may send in a close frame.
  [[nodiscard]] static bool valid_close_code(std::uint16_t code);

 private:
  Event error(std::uint16_t code, std::string_view what);
  void keep_rest(std::size_t frame_bytes);

  // What spans reads, allocated only then: an idle connection's reader is a few words.
  struct Held {
    std::string pending;  // a frame's start, from the last feed
    std::string message;  // a fragmented message's parts so far
  };

  std::size_t max_message_bytes_;
  std::span<char> input_;   // what next() parses: fed bytes, or held_->pending with them appended
  std::size_t parsed_ = 0;  // of input_
  std::unique_ptr<Held> held_;
  bool from_pending_ = false;  // input_ is held_->pending
  bool in_message_ = false;    // a message's first fragment came, not its last
  bool message_text_ = false;
  bool message_done_ = false;  // held_->message was handed out: cleared on the next call
  bool failed_ = false;
};

/// Whether `text` is well-formed UTF-8 (RFC 3629: no overlong forms, surrogates or code points
/// past U+10FFFF).
[[nodiscard]] bool valid_utf8(std::string_view text);

}  // namespace kabar::broker
