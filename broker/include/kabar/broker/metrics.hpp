#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "kabar/v1/kabar.pb.h"

/// What GET /metrics reports, in the Prometheus text format.
///
/// Counters that the fan-out path touches live per shard, each on its own cache line and only
/// ever added to by that shard's thread (relaxed atomics: no lock, no contention); a scrape sums
/// them. Everything else is rare enough for shared atomics or a short lock.
namespace kabar::broker {

/// Durations in fixed buckets, safe to record from any thread.
class LatencyHistogram {
 public:
  static constexpr std::array<double, 17> kBounds{
      0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
      0.01,    0.025,    0.05,    0.1,    0.25,    0.5,    1.0,   2.5};
  void record(std::chrono::nanoseconds duration);
  /// Adds this one's counts into `total` (a scrape summing the shards' histograms).
  void add_to(LatencyHistogram& total) const;
  /// Appends the _bucket, _sum and _count lines of `name`.
  void render(std::string& out, const std::string& name, const std::string& help) const;

 private:
  std::array<std::atomic<std::uint64_t>, kBounds.size() + 1> buckets_{};  // the last one: +Inf
  std::atomic<std::uint64_t> sum_ns_{0};
  std::atomic<std::uint64_t> count_{0};
};

/// Where a broker on --store nats stands in the shared log, written by its engine's threads.
/// Rendered only on that store: the other engines have no log to follow.
struct LogMetrics {
  std::atomic<bool> used{false};
  std::atomic<std::uint64_t> applied_seq{0};  ///< the last entry this broker applied
  std::atomic<std::uint64_t> stream_seq{0};   ///< the stream's last entry, as last seen
  std::atomic<std::uint64_t> conflicts{0};    ///< writes refused: another broker wrote first
  std::atomic<std::uint64_t> unavailable{0};  ///< publishes answered UNAVAILABLE
};

/// One shard's counters: written by that shard's thread only.
struct alignas(64) ShardCounters {
  std::atomic<std::uint64_t> deliveries{0};
  std::atomic<std::uint64_t> bytes_in{0};
  std::atomic<std::uint64_t> bytes_out{0};
  std::atomic<std::int64_t> send_queue_bytes{0};
  // Where an article waits on this shard (with the engine's commit): from its read to its
  // hand-over to the engine, from a stored batch handed to the fan-out to its deliveries queued,
  // and from a connection's deliveries or reply queued to its write turn.
  LatencyHistogram publish_wait;
  LatencyHistogram fanout;
  LatencyHistogram write_wait;
};

/// Why an input was refused: each has its own series.
/// kabar_subscriptions series at most per scrape; the rest are summed under topic="_other".
inline constexpr std::size_t kMaxSubscriptionSeries = 200;

enum class Rejected {
  kBadRequest,
  kUnauthorized,
  kForbidden,
  kNotFound,
  kTooLarge,
  kRateLimited,
  kUnavailable,
  kInternal,
  kTextFrame,
  kUnparsableFrame,
  kMessageTooBig,
  kBadHttpRequest,
  kConnectionLimit,
  kForbiddenOrigin,
  kTlsHandshake,
  kNoDescriptors,         ///< accept failed: out of file descriptors (EMFILE, ENFILE)
  kBinaryFrame,           ///< a binary frame on kabar.v1.json
  kUnsupportedMediaType,  ///< a POST body in a Content-Type the broker does not read
  kCount,
};

class Metrics {
 public:
  /// `max_connections`: the --max-connections limit (0: unlimited), exported beside the count.
  Metrics(std::size_t shards, std::size_t max_connections);

  ShardCounters& shard(std::size_t index) { return shards_[index]; }

  void connection_opened() { connections_.fetch_add(1, std::memory_order_relaxed); }
  void connection_closed() { connections_.fetch_sub(1, std::memory_order_relaxed); }
  void published() { publishes_.fetch_add(1, std::memory_order_relaxed); }
  void slow_consumer() { slow_consumers_.fetch_add(1, std::memory_order_relaxed); }
  void rejected(Rejected why) {
    rejected_[static_cast<std::size_t>(why)].fetch_add(1, std::memory_order_relaxed);
  }
  static Rejected rejected_for(v1::Error::Code code);
  /// A subscription to `pattern` was added (+1) or removed (-1).
  void subscriptions_changed(const std::string& pattern, int delta);

  LatencyHistogram& commit_latency() { return commit_latency_; }
  LogMetrics& log() { return log_; }

  /// The whole exposition, text format 0.0.4.
  [[nodiscard]] std::string render() const;

 private:
  std::unique_ptr<ShardCounters[]> shards_;
  std::size_t shard_count_;
  std::size_t max_connections_;
  std::atomic<std::int64_t> connections_{0};
  std::atomic<std::uint64_t> publishes_{0};
  std::atomic<std::uint64_t> slow_consumers_{0};
  std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(Rejected::kCount)> rejected_{};
  mutable std::mutex subscriptions_mutex_;
  std::map<std::string, std::int64_t> subscriptions_;  // guarded by subscriptions_mutex_
  LatencyHistogram commit_latency_;
  LogMetrics log_;
};

}  // namespace kabar::broker
