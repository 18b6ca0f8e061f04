#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "kabar/broker/engine.hpp"
#include "kabar/broker/subscription_index.hpp"
#include "kabar/v1/kabar.pb.h"

namespace kabar::broker {

/// Something that receives deliveries: a WebSocket session, or a fake in tests.
class Subscriber {
 public:
  virtual ~Subscriber() = default;

  /// Queues the bytes [ref.begin, ref.begin + ref.size) of `batch`. Must not touch the Fanout.
  virtual void enqueue(const std::shared_ptr<const DeliveryBatch>& batch,
                       const DeliveryRef& ref) = 0;

  /// Called once per batch after this subscriber's last enqueue: time to write.
  virtual void flush() = 0;

 private:
  friend class Fanout;
  std::uint64_t last_sequence_ = 0;  // the last delivery queued: each delivery at most once
  bool pending_flush_ = false;
};

/// One shard's subscriptions and its half of the fan-out: a batch is handed to each shard once,
/// and the shard walks its own index, so no lock is taken per subscriber.
/// @note Not thread-safe: owned by one shard's thread.
class Fanout {
 public:
  /// Adds or, for a pattern the subscriber has already, replaces (filter included).
  void subscribe(Subscriber& subscriber, const std::string& pattern, v1::Filter filter);

  /// False when `subscriber` has no subscription named exactly `pattern`.
  bool unsubscribe(Subscriber& subscriber, const std::string& pattern);

  /// Removes every subscription of `subscriber`.
  void remove(Subscriber& subscriber);

  /// Queues each delivery of `batch` once to each subscriber with a matching subscription whose
  /// filter accepts it, then flushes each subscriber that received something.
  /// Cost: per delivery, the index walk plus one step per matching subscription.
  void dispatch(const std::shared_ptr<const DeliveryBatch>& batch);

  [[nodiscard]] std::size_t subscription_count() const { return index_.size(); }

 private:
  struct Subscription {
    Subscriber* subscriber = nullptr;
    v1::Filter filter;
    bool filtered = false;  // has a condition: saves the filter walk in the common case
  };

  SubscriptionIndex<Subscription*> index_;
  std::unordered_map<Subscriber*, std::map<std::string, std::unique_ptr<Subscription>>>
      by_subscriber_;
  std::vector<Subscriber*> to_flush_;
};

}  // namespace kabar::broker
