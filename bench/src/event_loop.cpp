#include "event_loop.hpp"

#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

namespace kabar::bench {

namespace {

[[noreturn]] void fail(const char* what) {
  throw std::runtime_error(std::string(what) + ": " + std::strerror(errno));
}

// Stands for the timer in epoll's data: no Handler has this address.
constexpr std::uintptr_t kTimerTag = 1;

}  // namespace

EventLoop::EventLoop()
    : epoll_(epoll_create1(EPOLL_CLOEXEC)), buffers_(kEventsPerPass * kReadSize) {
  if (epoll_ < 0) fail("epoll_create1");
  has_ring_ = io_uring_queue_init(kEventsPerPass, &ring_, 0) == 0;  // else: a recv() each
  reads_.reserve(kEventsPerPass);
  reading_.reserve(kEventsPerPass);
}

EventLoop::~EventLoop() {
  if (has_ring_) io_uring_queue_exit(&ring_);
  if (timer_ >= 0) ::close(timer_);
  ::close(epoll_);
}

void EventLoop::read_soon(int fd, Handler& handler) {
  reads_.push_back({fd, &handler});
}

void EventLoop::read_pending() {
  reading_.swap(reads_);  // a handler may ask again: for the next pass
  std::size_t queued = 0;
  for (; has_ring_ && queued < reading_.size(); ++queued) {
    auto* entry = io_uring_get_sqe(&ring_);
    if (entry == nullptr) break;  // cannot be (a read per event, a pass's events fit): recv()
    io_uring_prep_recv(entry, reading_[queued].fd, buffers_.data() + queued * kReadSize, kReadSize,
                       MSG_DONTWAIT);
    io_uring_sqe_set_data64(entry, queued);
  }
  if (queued != 0) {
    // MSG_DONTWAIT: the kernel answers every recv while submitting, -EAGAIN rather than wait.
    int submitted = 0;
    do {
      submitted = io_uring_submit_and_wait(&ring_, static_cast<unsigned>(queued));
    } while (submitted == -EINTR);
    if (submitted < 0) {
      errno = -submitted;
      fail("io_uring_submit");
    }
    unsigned seen = 0;
    unsigned head = 0;
    io_uring_cqe* answer = nullptr;
    io_uring_for_each_cqe(&ring_, head, answer) {
      ++seen;
      const auto i = static_cast<std::size_t>(answer->user_data);
      reading_[i].handler->on_read(answer->res, buffers_.data() + i * kReadSize, kReadSize);
    }
    io_uring_cq_advance(&ring_, seen);
  }
  for (auto i = queued; i < reading_.size(); ++i) {
    const auto n = ::recv(reading_[i].fd, buffers_.data(), kReadSize, MSG_DONTWAIT);
    reading_[i].handler->on_read(n < 0 ? -errno : n, buffers_.data(), kReadSize);
  }
  reading_.clear();
}

// Not const, though it changes no member: it registers `fd` in the loop's epoll set.
void EventLoop::add(int fd, Handler& handler) {  // NOLINT(readability-make-member-function-const)
  epoll_event event{};
  event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  event.data.ptr = &handler;
  if (epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &event) != 0) fail("epoll_ctl");
}

void EventLoop::defer(std::function<void()> task) {
  deferred_.push_back(std::move(task));
}

void EventLoop::every(std::chrono::nanoseconds period, std::function<void()> tick) {
  if (timer_ < 0) {
    timer_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (timer_ < 0) fail("timerfd_create");
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = kTimerTag;
    if (epoll_ctl(epoll_, EPOLL_CTL_ADD, timer_, &event) != 0) fail("epoll_ctl");
  }
  tick_ = std::move(tick);
  itimerspec spec{};
  spec.it_interval.tv_sec = static_cast<time_t>(period.count() / 1'000'000'000);
  spec.it_interval.tv_nsec = static_cast<long>(period.count() % 1'000'000'000);
  spec.it_value = spec.it_interval;
  if (timerfd_settime(timer_, 0, &spec, nullptr) != 0) fail("timerfd_settime");
}

void EventLoop::run_for(std::chrono::nanoseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  // A short pass: what it queues (publishes above all) goes out with less delay.
  std::array<epoll_event, kEventsPerPass> events{};
  while (!stopped_) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return;
    const auto timeout = deferred_.empty() ? std::min<long>(left.count(), 1000) : 0;
    const int ready = epoll_wait(epoll_, events.data(), static_cast<int>(events.size()),
                                 static_cast<int>(timeout));
    if (ready < 0 && errno != EINTR) fail("epoll_wait");
    for (std::size_t i = 0; i < static_cast<std::size_t>(std::max(ready, 0)) && !stopped_; ++i) {
      if (events[i].data.u64 == kTimerTag) {
        std::uint64_t expirations = 0;
        if (::read(timer_, &expirations, sizeof expirations) > 0 && tick_) tick_();
        continue;
      }
      static_cast<Handler*>(events[i].data.ptr)->on_events(events[i].events);
    }
    read_pending();
    // Tasks may defer more: those run after the next pass's events.
    for (auto& task : std::exchange(deferred_, {})) {
      if (!stopped_) task();
    }
  }
}

}  // namespace kabar::bench
