#pragma once

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>

namespace kabar::broker {

/// The deadlines of a shard's connections (idle pings, the wait for Connect, a token's expiry,
/// the closing handshake), in one timer: a hashed wheel of kSlots lists, turned a slot every
/// kTick while anything waits (Varghese and Lauck's scheme, as the Linux kernel's timers).
///
/// A connection is one Entry, linked into the slot of its nearest deadline: no allocation, no
/// timer object and no pending operation per connection, and scheduling again is O(1). Deadlines
/// fire up to one tick late; one further away than a turn stays in its slot for the turns between.
/// @note Not thread-safe: the shard's, on its thread.
class TimerWheel {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr Clock::duration kTick = std::chrono::milliseconds(50);
  static constexpr std::size_t kSlots = 1024;  // a turn: 51.2 s

  // A place in a slot's circular list; a slot itself is one, heading its list.
  struct Link {
    Link* prev = nullptr;
    Link* next = nullptr;
  };

 public:
  /// What waits for a deadline. Leaves the wheel when destroyed.
  class Entry : private Link {
   public:
    Entry() = default;
    Entry(const Entry&) = delete;
    Entry& operator=(const Entry&) = delete;
    [[nodiscard]] bool scheduled() const { return next != nullptr; }

   protected:
    virtual ~Entry() { unlink(); }
    /// Its deadline has come (it is no longer scheduled): schedule again if there is another.
    virtual void on_deadline() = 0;

   private:
    friend class TimerWheel;
    void unlink();

    Clock::time_point due_{};
    TimerWheel* wheel_ = nullptr;
  };

  explicit TimerWheel(boost::asio::io_context& ioc);
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;
  /// Entries still scheduled are let go (a shard's connections outlive it in its io_context).
  ~TimerWheel();

  /// `entry`'s deadline is `due` (replacing any it had): on_deadline() then, within a tick.
  void schedule(Entry& entry, Clock::time_point due);
  /// No deadline for `entry` any more.
  static void cancel(Entry& entry) { entry.unlink(); }

 private:
  static void push(Link& list, Link& link);
  static void detach(Link& link);
  void link(Entry& entry);
  void turn();
  void arm();

  boost::asio::steady_timer timer_;
  std::array<Link, kSlots> slots_;  // circular lists, each headed by its slot
  std::size_t cursor_ = 0;          // the slot turn() visits next
  Clock::time_point cursor_time_;   // when it is due
  std::size_t count_ = 0;           // entries scheduled
  bool armed_ = false;
};

}  // namespace kabar::broker
