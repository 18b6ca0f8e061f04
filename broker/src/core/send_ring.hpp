#pragma once

#include <liburing.h>

#include <array>
#include <memory>
#include <system_error>
#include <vector>

namespace kabar::broker {

/// What a send added to the ring is answered to.
class SendTarget {
 public:
  virtual ~SendTarget() = default;
  /// Bytes sent, or a negated errno (-EAGAIN: the socket is full).
  virtual void on_sent(int result) = 0;
};

/// The sends of a pass's writes, handed to the kernel in one system call (io_uring) instead of
/// one sendmsg each: where a system call is dear (virtual machines, kernels with speculative
/// execution mitigations) its entry and exit are a large share of a small send. Each send is
/// non-blocking (MSG_DONTWAIT): the kernel tries it at once and answers what it sent, or -EAGAIN
/// for a full socket, exactly as sendmsg would, so every send added in a pass has its answer before
/// submit() returns.
/// @note Not thread-safe: one per shard, used from its thread.
class SendRing {
 public:
  /// Null, with the kernel's reason in `error`, where io_uring is refused (too old a kernel,
  /// disabled, or forbidden by a seccomp profile): sendmsg it is, then.
  static std::unique_ptr<SendRing> open(std::error_code& error);
  ~SendRing();
  SendRing(const SendRing&) = delete;
  SendRing& operator=(const SendRing&) = delete;

  /// Queues `message` for `fd`; `from->on_sent(result)` comes in submit(). What its iovecs point
  /// to must stay put until then (`from` holds it); `message` itself is copied. False when the
  /// ring has failed and could not be made again: the caller sends some other way.
  [[nodiscard]] bool add(int fd, const msghdr& message, std::shared_ptr<SendTarget> from);
  /// Sends everything added and answers each sender: bytes sent, or a negated errno.
  void submit();

 private:
  SendRing() = default;
  static constexpr unsigned kEntries = 256;

  io_uring ring_{};
  bool healthy_ = true;
  std::vector<std::shared_ptr<SendTarget>> senders_;  // by user_data: those waiting for answers
  std::array<msghdr, kEntries> messages_{};           // theirs, while the kernel reads them
};

}  // namespace kabar::broker
