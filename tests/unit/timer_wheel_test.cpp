// The shard's deadlines (broker/src/core/timer_wheel.hpp): on time within a tick, rescheduled,
// cancelled, past a turn of the wheel, and let go by a wheel destroyed first.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>

#include "core/timer_wheel.hpp"

namespace kabar::broker {
namespace {

using namespace std::chrono_literals;
using Clock = TimerWheel::Clock;

struct Deadline final : TimerWheel::Entry {
  std::function<void()> fired;
  int count = 0;
  Clock::time_point at;
  void on_deadline() override {
    ++count;
    at = Clock::now();
    if (fired) fired();
  }
};

TEST(TimerWheel, FiresEachDeadlineWithinATickInOrder) {
  boost::asio::io_context ioc;
  TimerWheel wheel(ioc);
  Deadline soon;
  Deadline later;
  Deadline cancelled;
  const auto start = Clock::now();
  wheel.schedule(later, start + 300ms);
  wheel.schedule(soon, start + 120ms);
  wheel.schedule(cancelled, start + 200ms);
  TimerWheel::cancel(cancelled);
  EXPECT_FALSE(cancelled.scheduled());
  ioc.run();  // returns once nothing is scheduled
  EXPECT_EQ(soon.count, 1);
  EXPECT_EQ(later.count, 1);
  EXPECT_EQ(cancelled.count, 0);
  EXPECT_GE(soon.at - start, 120ms);
  EXPECT_LT(soon.at - start, 120ms + TimerWheel::kTick + 100ms);
  EXPECT_GE(later.at, soon.at);
  EXPECT_GE(later.at - start, 300ms);
}

TEST(TimerWheel, AnEntryScheduledAgainInItsHandlerAndPastATurn) {
  boost::asio::io_context ioc;
  TimerWheel wheel(ioc);
  Deadline again;
  again.fired = [&] {
    if (again.count < 3) wheel.schedule(again, Clock::now() + 10ms);
  };
  wheel.schedule(again, Clock::now());
  // Past a turn: stays in its slot for the turns between, fires once at its time.
  Deadline far;
  wheel.schedule(far, Clock::now() + TimerWheel::kTick * (TimerWheel::kSlots + 3));
  boost::asio::steady_timer stop(ioc, 500ms);
  stop.async_wait([&](boost::system::error_code) { TimerWheel::cancel(far); });
  ioc.run();
  EXPECT_EQ(again.count, 3);
  EXPECT_EQ(far.count, 0);
}

TEST(TimerWheel, EntriesOutliveAWheelDestroyedBeforeThem) {
  auto far = std::make_unique<Deadline>();
  {
    boost::asio::io_context ioc;
    auto wheel = std::make_unique<TimerWheel>(ioc);
    wheel->schedule(*far, Clock::now() + 1h);
    wheel.reset();
    EXPECT_FALSE(far->scheduled());
  }
  far.reset();  // no use of the wheel
}

}  // namespace
}  // namespace kabar::broker
