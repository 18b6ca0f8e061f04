#include "kabar/broker/fanout.hpp"

#include <algorithm>

#include "kabar/common/article.hpp"

namespace kabar::broker {

bool Catchup::admit(const DeliveryRef& ref) {
  if (replaying) {
    auto& seen = live_seen[ref.topic];
    seen = std::max(seen, ref.offset);
    return false;
  }
  const auto it = replayed.find(ref.topic);
  if (it == replayed.end()) return true;
  if (ref.offset <= it->second) return false;
  replayed.erase(it);  // live has passed the replay in this topic
  return true;
}

bool Catchup::caught_up() const {
  return std::all_of(live_seen.begin(), live_seen.end(), [this](const auto& seen) {
    const auto it = replayed.find(seen.first);
    return it != replayed.end() && it->second >= seen.second;
  });
}

std::uint64_t Fanout::subscribe(Subscriber& subscriber, const std::string& pattern,
                                v1::Filter filter, bool catch_up) {
  auto& subscriptions = by_subscriber_[&subscriber];
  auto& slot = subscriptions[pattern];
  if (slot) {
    index_.remove(pattern, slot.get());
  } else if (observer_) {
    observer_(pattern, 1);
  }
  const bool filtered = filter.max_urgency() != 0 || !filter.languages().empty();
  slot = std::make_unique<Subscription>(
      Subscription{&subscriber, std::move(filter), filtered, next_id_++, nullptr});
  if (catch_up) slot->catchup = std::make_unique<Catchup>();
  index_.add(pattern, slot.get());
  return slot->id;
}

std::size_t Fanout::subscription_count(Subscriber& subscriber) const {
  const auto it = by_subscriber_.find(&subscriber);
  return it == by_subscriber_.end() ? 0 : it->second.size();
}

std::size_t Fanout::cost(const std::string& pattern, const v1::Filter& filter) {
  constexpr std::size_t kEntries = sizeof(Subscription) + 128;  // index and map nodes
  return kEntries + pattern.size() + filter.ByteSizeLong();
}

std::size_t Fanout::subscription_bytes(Subscriber& subscriber, const std::string& replaced) const {
  std::size_t bytes = 0;
  if (const auto it = by_subscriber_.find(&subscriber); it != by_subscriber_.end()) {
    for (const auto& [pattern, subscription] : it->second) {
      if (pattern != replaced) bytes += cost(pattern, subscription->filter);
    }
  }
  return bytes;
}

std::vector<std::string> Fanout::patterns(Subscriber& subscriber) const {
  std::vector<std::string> out;
  if (const auto it = by_subscriber_.find(&subscriber); it != by_subscriber_.end()) {
    for (const auto& [pattern, subscription] : it->second) out.push_back(pattern);
  }
  return out;
}

bool Fanout::has_subscription(Subscriber& subscriber, const std::string& pattern) const {
  const auto it = by_subscriber_.find(&subscriber);
  return it != by_subscriber_.end() && it->second.contains(pattern);
}

Catchup* Fanout::catchup(Subscriber& subscriber, const std::string& pattern, std::uint64_t id) {
  const auto it = by_subscriber_.find(&subscriber);
  if (it == by_subscriber_.end()) return nullptr;
  const auto found = it->second.find(pattern);
  if (found == it->second.end() || found->second->id != id) return nullptr;
  return found->second->catchup.get();
}

bool Fanout::unsubscribe(Subscriber& subscriber, const std::string& pattern) {
  const auto it = by_subscriber_.find(&subscriber);
  if (it == by_subscriber_.end()) return false;
  const auto found = it->second.find(pattern);
  if (found == it->second.end()) return false;
  index_.remove(pattern, found->second.get());
  if (observer_) observer_(pattern, -1);
  it->second.erase(found);
  if (it->second.empty()) by_subscriber_.erase(it);
  return true;
}

void Fanout::remove(Subscriber& subscriber) {
  const auto it = by_subscriber_.find(&subscriber);
  if (it == by_subscriber_.end()) return;
  for (const auto& [pattern, subscription] : it->second) {
    index_.remove(pattern, subscription.get());
    if (observer_) observer_(pattern, -1);
  }
  by_subscriber_.erase(it);
}

namespace {

// What a delivery touches of a subscriber (a session) spans the object's first two cache lines
// and, for shared_from_this, its control block just before it (make_shared).
void prefetch_subscriber(const Subscriber* subscriber) {
  const auto* bytes = reinterpret_cast<const char*>(subscriber);
  __builtin_prefetch(bytes - 16);
  __builtin_prefetch(bytes);
  __builtin_prefetch(bytes + 64);
}

}  // namespace

std::size_t Fanout::dispatch(const std::shared_ptr<const DeliveryBatch>& batch) {
  std::size_t queued = 0;
  const auto deliver = [&](const DeliveryRef& ref, Subscription& subscription) {
    if (subscription.catchup && !subscription.catchup->admit(ref)) return;
    if (subscription.filtered && !filter_accepts(subscription.filter, ref.urgency, ref.language)) {
      return;
    }
    auto& subscriber = *subscription.subscriber;
    if (subscriber.last_sequence_ == ref.sequence) return;
    subscriber.last_sequence_ = ref.sequence;
    if (!subscriber.end_of_batch_pending_) {
      subscriber.end_of_batch_pending_ = true;
      reached_.push_back(&subscriber);
    }
    subscriber.enqueue(batch, ref);
    ++queued;
  };
  // With thousands of subscribers, each visit would wait on two cache misses (the subscription,
  // then its subscriber): fetch the subscriptions kAhead visits early and their subscribers
  // half-way, so that the misses overlap.
  constexpr std::size_t kAhead = 8;
  for (const auto& ref : batch->deliveries) {
    index_.match_spans(ref.topic, [&](std::span<Subscription* const> subscriptions) {
      const auto count = subscriptions.size();
      for (std::size_t i = 0; i < count; ++i) {
        if (i + kAhead < count) __builtin_prefetch(subscriptions[i + kAhead]);
        if (i + kAhead / 2 < count) prefetch_subscriber(subscriptions[i + kAhead / 2]->subscriber);
        deliver(ref, *subscriptions[i]);
      }
    });
  }
  for (std::size_t i = 0; i < reached_.size(); ++i) {  // thousands: fetched ahead again
    if (i + kAhead < reached_.size()) prefetch_subscriber(reached_[i + kAhead]);
    reached_[i]->end_of_batch_pending_ = false;
    reached_[i]->end_of_batch();
  }
  reached_.clear();
  return queued;
}

std::size_t Fanout::receivers(std::string_view topic) {
  // A fresh mark per count; after 2^32 counts a subscriber's stale mark could equal the new one
  // and go uncounted once, unless every mark is cleared on the wrap, as here.
  if (++census_ == 0) {
    for (auto& [subscriber, subscriptions] : by_subscriber_) subscriber->census_mark_ = 0;
    census_ = 1;
  }
  std::size_t count = 0;
  index_.match(topic, [&](const Subscription* subscription) {
    auto& subscriber = *subscription->subscriber;
    if (subscriber.census_mark_ == census_) return;
    subscriber.census_mark_ = census_;
    ++count;
  });
  return count;
}

}  // namespace kabar::broker
