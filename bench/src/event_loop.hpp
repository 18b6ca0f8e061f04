#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

namespace kabar::bench {

/// The bench's one loop: epoll, edge-triggered, every socket registered once for its whole life.
/// A readable socket then costs one recv() and nothing else; Asio re-arms a descriptor with an
/// epoll_ctl() per wait, which was measured as one extra system call per delivery (~20 % of
/// the bench's CPU), and the bench must cost less than what it measures.
/// @note Single-threaded: everything runs on the thread that calls run_for().
class EventLoop {
 public:
  /// What a registered descriptor hears: the epoll event bits that became ready.
  class Handler {
   public:
    virtual void on_events(std::uint32_t events) = 0;

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
  /// Runs `task` once, after the events of the current pass (writes queued in a pass coalesce).
  void defer(std::function<void()> task);
  /// Calls `tick` every `period` (a timerfd in the same epoll set).
  void every(std::chrono::nanoseconds period, std::function<void()> tick);
  /// Runs until stop() or until `limit` has passed.
  void run_for(std::chrono::nanoseconds limit);
  void stop() { stopped_ = true; }

 private:
  int epoll_ = -1;
  int timer_ = -1;
  std::function<void()> tick_;
  std::vector<std::function<void()>> deferred_;
  bool stopped_ = false;
};

}  // namespace kabar::bench
