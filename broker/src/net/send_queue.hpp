#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kabar/broker/engine.hpp"

namespace kabar::broker {

/// Bytes to send, kept alive by their owner: a delivery batch, a block of copies or a reply.
struct Chunk {
  std::shared_ptr<const void> owner;
  const char* data = nullptr;
  std::size_t size = 0;
  bool is_reply = false;
  bool is_frame = false;  ///< a whole WebSocket frame (a control frame), sent as it is
};

/// What one connection has to send, waiting for its write turn, and the write in flight.
///
/// Deliveries are not copied: a chunk points into the batch that every subscriber shares, and a
/// run of deliveries from one batch that lie end to end (the usual case: a subscriber's topics
/// in one publish pass) is one chunk. While a write waits on a full socket, a delivery much
/// smaller than its batch is copied out instead (`copy_if_small`): what a stalled reader holds is
/// then about what it counts against its limit, not every other topic's articles.
///
/// Bytes are counted twice: waiting ones against the limit (--send-queue-bytes: a reader that
/// keeps up empties the queue every pass), waiting and in flight ones in the shard's gauge.
/// @note Not thread-safe: a connection's, on its shard's thread. No sockets: the session writes.
class SendQueue {
 public:
  /// `merge_messages`: the wire format lets deliveries and a reply concatenated read as one
  /// message (Codec::merges_messages); without it every chunk is a message of its own, and runs
  /// are not merged.
  SendQueue(std::size_t limit_bytes, std::atomic<std::int64_t>& gauge, bool merge_messages = true)
      : limit_bytes_(limit_bytes), gauge_(gauge), merge_messages_(merge_messages) {}
  SendQueue(const SendQueue&) = delete;
  SendQueue& operator=(const SendQueue&) = delete;
  ~SendQueue() { account(-accounted_bytes_); }

  /// Queues `bytes`, a slice of `batch`'s encoding. Check over_limit() after.
  void add_delivery(const std::shared_ptr<const DeliveryBatch>& batch, std::string_view bytes,
                    bool copy_if_small) {
    if (run_batch_ == batch.get() && run_end_ == bytes.data()) {  // no refcount, no cache miss
      waiting_.back().size += bytes.size();
      run_end_ += bytes.size();
      count(bytes.size());
      return;
    }
    add_new_delivery(batch, bytes, copy_if_small);
  }
  /// Queues one encoded reply, a message of its own or riding with deliveries.
  void add_reply(std::shared_ptr<const std::string> bytes);
  /// Queues a whole WebSocket frame the session built (a pong, a ping, a close), sent in its
  /// place among the messages.
  void add_frame(std::shared_ptr<const std::string> frame);
  /// Queues one delivery encoded for this connection alone (Codec::encode_delivery).
  void add_own_delivery(std::shared_ptr<const std::string> bytes);

  /// More waiting than the limit allows: the connection is a slow consumer.
  [[nodiscard]] bool over_limit() const { return waiting_bytes_ > limit_bytes_; }
  [[nodiscard]] bool empty() const { return waiting_.empty(); }
  [[nodiscard]] bool has_reply() const;
  /// Bytes waiting for a write (not in flight).
  [[nodiscard]] std::size_t waiting_bytes() const { return waiting_bytes_; }

  /// Moves what waits into the write in flight: everything, or (`one_message`) what one
  /// WebSocket message may hold. Returns the write's chunks, kept until end_write().
  const std::vector<Chunk>& begin_write(bool one_message);
  [[nodiscard]] const std::vector<Chunk>& in_flight() const { return in_flight_; }
  /// The write in flight is over (written or failed): its bytes leave the gauge.
  void end_write();
  /// Forgets everything waiting (the connection is closing); the write in flight stays.
  void drop();

  /// Where the message starting at chunks[begin] ends: it holds any number of deliveries and at
  /// most one reply (a ServerMessage has one reply field: two would merge), or with
  /// `merge_messages` false, one chunk. A frame is a message of its own.
  static std::size_t message_end(const std::vector<Chunk>& chunks, std::size_t begin,
                                 bool merge_messages = true);
  [[nodiscard]] bool merges_messages() const { return merge_messages_; }

  /// The size of a block the small deliveries are copied into while a write waits.
  static constexpr std::size_t kCopyBlockBytes = 64 * 1024;
  /// A delivery under 1/kMaxPinRatio of its batch is copied rather than keep the batch alive.
  static constexpr std::size_t kMaxPinRatio = 4;

 private:
  void add_new_delivery(const std::shared_ptr<const DeliveryBatch>& batch, std::string_view bytes,
                        bool copy_if_small);
  void add_copy(std::string_view bytes);
  void push(Chunk chunk);
  void count(std::size_t bytes) {
    waiting_bytes_ += bytes;
    account(static_cast<std::int64_t>(bytes));
  }
  void account(std::int64_t delta) {
    accounted_bytes_ += delta;
    gauge_.fetch_add(delta, std::memory_order_relaxed);
  }

  // Touched for every delivery: together, first.
  std::vector<Chunk> waiting_;
  // When waiting_.back() is a run of deliveries from one batch: that batch and where the run
  // ends. A delivery continuing it is added without reading waiting_'s buffer.
  const DeliveryBatch* run_batch_ = nullptr;
  const char* run_end_ = nullptr;
  std::size_t waiting_bytes_ = 0;
  std::int64_t accounted_bytes_ = 0;  // waiting and in flight: this connection's gauge share
  std::size_t limit_bytes_;
  std::atomic<std::int64_t>& gauge_;
  bool merge_messages_;

  std::vector<Chunk> in_flight_;
  std::shared_ptr<std::string> copy_block_;  // where small deliveries are copied
  std::size_t copy_used_ = 0;
};

}  // namespace kabar::broker
