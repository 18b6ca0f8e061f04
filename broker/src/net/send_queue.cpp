#include "net/send_queue.hpp"

#include <algorithm>
#include <cstring>
#include <iterator>
#include <utility>

namespace kabar::broker {

void SendQueue::add_new_delivery(const std::shared_ptr<const DeliveryBatch>& batch,
                                 std::string_view bytes, bool copy_if_small) {
  // Waiting on a full socket, the session could hold a batch for a long time: a small slice is
  // copied out rather than pinning the whole batch (a reader of a tiny topic once kept 75 MiB of
  // other topics' articles alive with 51 KB counted against its limit).
  if (copy_if_small && bytes.size() * kMaxPinRatio < batch->bytes.size()) return add_copy(bytes);
  push({.owner = batch, .data = bytes.data(), .size = bytes.size(), .is_reply = false});
  if (!merge_messages_) return;  // a chunk per message
  run_batch_ = batch.get();
  run_end_ = bytes.data() + bytes.size();
}

void SendQueue::add_copy(std::string_view bytes) {
  const auto size = bytes.size();
  if (merge_messages_ && copy_block_ && copy_used_ + size <= copy_block_->size() &&
      !waiting_.empty() && waiting_.back().owner.get() == copy_block_.get() &&
      waiting_.back().data + waiting_.back().size == copy_block_->data() + copy_used_) {
    std::memcpy(copy_block_->data() + copy_used_, bytes.data(), size);  // extends the last chunk
    copy_used_ += size;
    waiting_.back().size += size;
    return count(size);
  }
  if (!copy_block_ || copy_used_ + size > copy_block_->size()) {
    // Bytes already handed to a write stay where they are: a full block is replaced, not reused.
    copy_block_ = std::make_shared<std::string>(std::max(kCopyBlockBytes, size), '\0');
    copy_used_ = 0;
  }
  char* copy = copy_block_->data() + copy_used_;
  std::memcpy(copy, bytes.data(), size);
  copy_used_ += size;
  push({.owner = copy_block_, .data = copy, .size = size, .is_reply = false});
}

void SendQueue::add_reply(std::shared_ptr<const std::string> bytes) {
  const auto* data = bytes->data();
  const auto size = bytes->size();
  push({.owner = std::move(bytes), .data = data, .size = size, .is_reply = true});
}

void SendQueue::add_frame(std::shared_ptr<const std::string> frame) {
  const auto* data = frame->data();
  const auto size = frame->size();
  push({.owner = std::move(frame), .data = data, .size = size, .is_frame = true});
}

void SendQueue::add_own_delivery(std::shared_ptr<const std::string> bytes) {
  const auto* data = bytes->data();
  const auto size = bytes->size();
  push({.owner = std::move(bytes), .data = data, .size = size, .is_reply = false});
}

void SendQueue::push(Chunk chunk) {
  run_batch_ = nullptr;
  count(chunk.size);
  waiting_.push_back(std::move(chunk));
}

bool SendQueue::has_reply() const {
  return std::any_of(waiting_.begin(), waiting_.end(),
                     [](const Chunk& chunk) { return chunk.is_reply; });
}

const std::vector<Chunk>& SendQueue::begin_write(bool one_message) {
  run_batch_ = nullptr;  // the run's chunk moves: a delivery continuing it starts a new one
  const auto cut = one_message ? message_end(waiting_, 0, merge_messages_) : waiting_.size();
  if (cut == waiting_.size()) {
    in_flight_.swap(waiting_);
  } else {
    const auto end = waiting_.begin() + static_cast<std::ptrdiff_t>(cut);
    in_flight_.assign(std::make_move_iterator(waiting_.begin()), std::make_move_iterator(end));
    waiting_.erase(waiting_.begin(), end);
  }
  for (const auto& chunk : in_flight_) waiting_bytes_ -= chunk.size;
  return in_flight_;
}

void SendQueue::end_write() {
  std::int64_t written = 0;
  for (const auto& chunk : in_flight_) written += static_cast<std::int64_t>(chunk.size);
  account(-written);
  in_flight_.clear();
  if (waiting_.empty()) copy_block_.reset();  // caught up: nothing is copied while writes are quick
}

void SendQueue::drop() {
  std::int64_t dropped = 0;
  for (const auto& chunk : waiting_) dropped += static_cast<std::int64_t>(chunk.size);
  account(-dropped);
  waiting_.clear();
  waiting_bytes_ = 0;
  run_batch_ = nullptr;
}

std::size_t SendQueue::message_end(const std::vector<Chunk>& chunks, std::size_t begin,
                                   bool merge_messages) {
  if (!merge_messages || chunks[begin].is_frame) return std::min(begin + 1, chunks.size());
  bool has_reply = false;
  for (auto end = begin; end < chunks.size(); ++end) {
    if (chunks[end].is_frame) return end;
    if (chunks[end].is_reply) {
      if (has_reply) return end;
      has_reply = true;
    }
  }
  return chunks.size();
}

}  // namespace kabar::broker
