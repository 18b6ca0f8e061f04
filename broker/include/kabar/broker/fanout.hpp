#pragma once

#include <cstdint>
#include <functional>
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
  virtual void end_of_batch() = 0;

 private:
  friend class Fanout;
  std::uint64_t last_sequence_ = 0;  // the last delivery queued: each delivery at most once
  bool end_of_batch_pending_ = false;
  std::uint32_t census_mark_ = 0;  // Fanout::receivers counts each subscriber once (no padding)
};

/// A recovering subscription's bridge between history and the live stream: while the history
/// is replayed, live deliveries are held back and only their offsets noted; once the replay has
/// reached every offset noted, the subscription goes live and skips what the replay delivered.
/// No gap (anything live during the replay is read from history) and no duplicate.
struct Catchup {
  bool replaying = true;
  std::unordered_map<std::string, std::uint64_t>
      live_seen;                                            ///< topic -> last live offset held back
  std::unordered_map<std::string, std::uint64_t> replayed;  ///< topic -> last offset replayed

  /// Whether a live delivery goes through.
  bool admit(const DeliveryRef& ref);
  /// True when the replay covers every live delivery held back: time to go live.
  [[nodiscard]] bool caught_up() const;
};

/// One shard's subscriptions and its half of the fan-out: a batch is handed to each shard once,
/// and the shard walks its own index, so no lock is taken per subscriber.
/// @note Not thread-safe: owned by one shard's thread.
class Fanout {
 public:
  /// Adds or, for a pattern the subscriber has already, replaces (filter included). With
  /// `catch_up`, the subscription starts replaying (see Catchup). Returns the subscription's id.
  std::uint64_t subscribe(Subscriber& subscriber, const std::string& pattern, v1::Filter filter,
                          bool catch_up = false);

  /// The catch-up state of subscription `id`, or null when it is gone or was replaced.
  Catchup* catchup(Subscriber& subscriber, const std::string& pattern, std::uint64_t id);

  /// False when `subscriber` has no subscription named exactly `pattern`.
  bool unsubscribe(Subscriber& subscriber, const std::string& pattern);

  /// Removes every subscription of `subscriber`.
  void remove(Subscriber& subscriber);

  /// Queues each delivery of `batch` once to each subscriber with a matching subscription whose
  /// filter accepts it, then flushes each subscriber that received something. Returns the
  /// number queued. Cost: per delivery, the index walk plus one step per matching subscription.
  std::size_t dispatch(const std::shared_ptr<const DeliveryBatch>& batch);

  /// Told of each subscription added (+1) or removed (-1), by pattern: for metrics.
  void on_change(std::function<void(const std::string& pattern, int delta)> observer) {
    observer_ = std::move(observer);
  }

  /// How many subscribers have a subscription matching the valid topic `topic`, each counted
  /// once however many of its subscriptions match (filters aside: a filtered subscription still
  /// receives the topic). Cost: the index walk plus one step per matching subscription.
  [[nodiscard]] std::size_t receivers(std::string_view topic);

  [[nodiscard]] std::size_t subscription_count() const { return index_.size(); }
  [[nodiscard]] std::size_t subscription_count(Subscriber& subscriber) const;
  [[nodiscard]] bool has_subscription(Subscriber& subscriber, const std::string& pattern) const;
  /// What a subscription keeps, in bytes, roughly: its pattern, its filter and its entries.
  [[nodiscard]] static std::size_t cost(const std::string& pattern, const v1::Filter& filter);
  /// The cost of `subscriber`'s subscriptions but the one to `replaced` (about to be replaced).
  [[nodiscard]] std::size_t subscription_bytes(Subscriber& subscriber,
                                               const std::string& replaced) const;
  /// The topics and patterns `subscriber` is subscribed to, in order.
  [[nodiscard]] std::vector<std::string> patterns(Subscriber& subscriber) const;

 private:
  struct Subscription {
    Subscriber* subscriber = nullptr;
    v1::Filter filter;
    bool filtered = false;  // has a condition: saves the filter walk in the common case
    std::uint64_t id = 0;
    std::unique_ptr<Catchup> catchup;  // only for a subscription that recovered
  };

  SubscriptionIndex<Subscription*> index_;
  std::unordered_map<Subscriber*, std::map<std::string, std::unique_ptr<Subscription>>>
      by_subscriber_;
  std::vector<Subscriber*> reached_;
  std::uint64_t next_id_ = 1;
  std::uint32_t census_ = 0;  // receivers()'s mark: one per count
  std::function<void(const std::string&, int)> observer_;
};

}  // namespace kabar::broker
