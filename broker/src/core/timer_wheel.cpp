#include "core/timer_wheel.hpp"

namespace kabar::broker {

void TimerWheel::Entry::unlink() {
  if (next == nullptr) return;
  detach(*this);
  if (wheel_ != nullptr) --wheel_->count_;
  wheel_ = nullptr;
}

TimerWheel::TimerWheel(boost::asio::io_context& ioc) : timer_(ioc) {
  for (auto& slot : slots_) slot.prev = slot.next = &slot;
}

TimerWheel::~TimerWheel() {
  for (auto& slot : slots_) {
    while (slot.next != &slot) static_cast<Entry*>(slot.next)->unlink();
  }
}

void TimerWheel::push(Link& list, Link& link) {
  link.prev = list.prev;
  link.next = &list;
  list.prev->next = &link;
  list.prev = &link;
}

void TimerWheel::detach(Link& link) {
  link.prev->next = link.next;
  link.next->prev = link.prev;
  link.prev = link.next = nullptr;
}

void TimerWheel::schedule(Entry& entry, Clock::time_point due) {
  entry.unlink();
  entry.due_ = due;
  entry.wheel_ = this;
  ++count_;
  if (!armed_) {
    cursor_time_ = Clock::now() + kTick;
    arm();
  }
  link(entry);
}

void TimerWheel::link(Entry& entry) {
  std::size_t ahead = 0;
  if (entry.due_ > cursor_time_) {
    const auto ticks = (entry.due_ - cursor_time_ + kTick - Clock::duration(1)) / kTick;
    ahead = static_cast<std::size_t>(std::min<Clock::rep>(ticks, kSlots));
  }
  push(slots_[(cursor_ + ahead) % kSlots], entry);
}

void TimerWheel::arm() {
  armed_ = true;
  timer_.expires_at(cursor_time_);
  timer_.async_wait([this](boost::system::error_code ec) {
    armed_ = false;
    if (!ec) turn();
  });
}

void TimerWheel::turn() {
  const auto now = Clock::now();
  while (cursor_time_ <= now && count_ != 0) {
    // The slot's entries move to a list of their own: one scheduled again in its handler may
    // land in this very slot, for a later turn.
    Link due;
    due.prev = due.next = &due;
    auto& slot = slots_[cursor_];
    if (slot.next != &slot) {
      due.next = slot.next;
      due.prev = slot.prev;
      due.next->prev = &due;
      due.prev->next = &due;
      slot.prev = slot.next = &slot;
    }
    cursor_ = (cursor_ + 1) % kSlots;
    cursor_time_ += kTick;
    while (due.next != &due) {
      auto& entry = static_cast<Entry&>(*due.next);
      if (entry.due_ > now) {  // a later turn's: back in its slot
        detach(entry);
        link(entry);
        continue;
      }
      entry.unlink();
      entry.on_deadline();
    }
  }
  if (count_ == 0) return;
  // Behind by more than a tick (a long pass): catch the cursor up to now, visiting slots on the
  // way.
  arm();
}

}  // namespace kabar::broker
