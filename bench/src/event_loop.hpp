#pragma once

#include <liburing.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

namespace kabar::bench {

/// The bench's one loop: epoll, edge-triggered, every socket registered once for its whole life.
/// A readable socket then costs one recv() and nothing else, where Asio re-arms a descriptor
/// with an epoll_ctl() per wait: one more system call per delivery, and the bench must cost less
/// than what it measures. For the same reason
/// the sockets that became readable in a pass are read with one system call for all of them
/// (io_uring, each a non-blocking recv), where the kernel allows io_uring; else a recv() each.
/// @note Single-threaded: everything runs on the thread that calls run_for().
class EventLoop {
 public:
  /// What a registered descriptor hears: the epoll event bits that became ready.
  class Handler {
   public:
    virtual void on_events(std::uint32_t events) = 0;
    /// The answer to read_soon(): `result` bytes read into `data` (which holds `capacity`), 0
    /// at end of stream, or a negated errno (-EAGAIN: nothing to read).
    virtual void on_read(long result, const char* data, std::size_t capacity) = 0;

   protected:
    ~Handler() = default;
  };

  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  /// Watches `fd` for input, output and hang-up, edge-triggered, until it is closed. `handler`
  /// must outlive the registration (events already fetched may still arrive after close()).
  void add(int fd, Handler& handler);
  /// Reads `fd` once at the end of the pass's events, into a buffer of the loop's, together with
  /// every other socket read in this pass; then `handler.on_read(...)`. Once per pass per socket.
  void read_soon(int fd, Handler& handler);
  /// Runs `task` once, after the events of the current pass (writes queued in a pass coalesce).
  void defer(std::function<void()> task);
  /// Calls `tick` every `period` (a timerfd in the same epoll set).
  void every(std::chrono::nanoseconds period, std::function<void()> tick);
  /// Runs until stop() or until `limit` has passed.
  void run_for(std::chrono::nanoseconds limit);
  void stop() { stopped_ = true; }

 private:
  void read_pending();

  static constexpr std::size_t kEventsPerPass = 128;   // short passes: publishes go out sooner
  static constexpr std::size_t kReadSize = 64 * 1024;  // per socket per pass: more, read on

  struct Read {
    int fd;
    Handler* handler;
  };

  int epoll_ = -1;
  io_uring ring_{};
  bool has_ring_ = false;
  std::vector<Read> reads_;    // asked for in this pass
  std::vector<Read> reading_;  // being answered
  std::vector<char> buffers_;  // kReadSize for each read of a pass
  int timer_ = -1;
  std::function<void()> tick_;
  std::vector<std::function<void()>> deferred_;
  bool stopped_ = false;
};

}  // namespace kabar::bench
