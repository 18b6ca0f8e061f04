#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <boost/asio/buffer.hpp>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "kabar/broker/frames.hpp"
#include "net/send_queue.hpp"

namespace kabar::broker {

/// Lays out a write's chunks as WebSocket frames for one sendmsg (direct or through the shard's
/// SendRing), or one copy for TLS: a frame per message (SendQueue::message_end), its header
/// built here, its payload the chunks themselves, never copied; a frame the session built whole
/// (a control frame) as it is. What a partial send leaves is handed
/// over as buffers for an asynchronous write.
/// @note No sockets: the session sends. Not thread-safe.
class FrameWriter {
 public:
  /// The frames of `chunks` (kept alive by the caller until the write is over), as a message for
  /// sendmsg: at most IOV_MAX iovecs, the rest going out after a partial send. `text`: text
  /// frames (a JSON subprotocol), else binary; `merge_messages` as in SendQueue.
  [[nodiscard]] msghdr lay_out(const std::vector<Chunk>& chunks, bool text = false,
                               bool merge_messages = true);
  /// `bytes` (a write's frames, encrypted) as the message to send, in place of frames laid out:
  /// total() and rest() then count them.
  [[nodiscard]] msghdr lay_out_bytes(std::string_view bytes);
  /// Bytes in the frames laid out: headers and payloads.
  [[nodiscard]] std::size_t total() const;
  /// What is left of the frames once `sent` bytes of them are sent.
  [[nodiscard]] const std::vector<boost::asio::const_buffer>& rest(std::size_t sent);
  /// The frames laid out, copied end to end into `out`: one buffer for TLS to encrypt in
  /// records of 16 KiB, rather than a record per frame.
  void copy_to(std::string& out) const;

 private:
  std::vector<FrameHeader> headers_;  // of the frames in iovecs_: never reallocated once laid out
  std::vector<iovec> iovecs_;
  std::vector<boost::asio::const_buffer> buffers_;
};

}  // namespace kabar::broker
