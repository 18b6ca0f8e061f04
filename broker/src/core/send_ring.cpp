#include "core/send_ring.hpp"

#include <cerrno>
#include <cstdint>
#include <utility>

namespace kabar::broker {

std::unique_ptr<SendRing> SendRing::open(std::error_code& error) {
  std::unique_ptr<SendRing> ring(new SendRing);
  if (const int result = io_uring_queue_init(kEntries, &ring->ring_, 0); result < 0) {
    error.assign(-result, std::system_category());
    return nullptr;
  }
  ring->senders_.reserve(kEntries);
  return ring;
}

SendRing::~SendRing() {
  if (healthy_) io_uring_queue_exit(&ring_);
}

bool SendRing::add(int fd, const msghdr& message, std::shared_ptr<SendTarget> from) {
  if (!healthy_) return false;
  auto* entry = io_uring_get_sqe(&ring_);
  if (entry == nullptr) {  // full: send what is there first
    submit();
    entry = healthy_ ? io_uring_get_sqe(&ring_) : nullptr;
    if (entry == nullptr) return false;
  }
  // In the ring, at most kEntries added since the last submit: their slots are free.
  auto& kept = messages_[senders_.size() % kEntries];
  kept = message;
  io_uring_prep_sendmsg(entry, fd, &kept, MSG_DONTWAIT | MSG_NOSIGNAL);
  io_uring_sqe_set_data64(entry, senders_.size());
  senders_.push_back(std::move(from));
  return true;
}

void SendRing::submit() {
  if (senders_.empty()) return;
  const auto waiting = std::exchange(senders_, {});
  senders_.reserve(kEntries);
  // Non-blocking sends complete while being submitted: every answer is there when this returns.
  int submitted = 0;
  do {
    submitted = io_uring_submit_and_wait(&ring_, static_cast<unsigned>(waiting.size()));
  } while (submitted == -EINTR);
  if (submitted < 0) {
    // The ring itself failed (out of memory, say) and sent nothing: each connection's write goes
    // on as an asynchronous one (as for a full socket), and a fresh ring drops what was queued.
    for (const auto& sender : waiting) sender->on_sent(-EAGAIN);
    io_uring_queue_exit(&ring_);
    healthy_ = io_uring_queue_init(kEntries, &ring_, 0) == 0;
    return;
  }
  unsigned seen = 0;
  io_uring_cqe* cqe = nullptr;
  unsigned head = 0;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    ++seen;
    waiting[cqe->user_data]->on_sent(cqe->res);
  }
  io_uring_cq_advance(&ring_, seen);
}

}  // namespace kabar::broker
