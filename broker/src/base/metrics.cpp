#include "kabar/broker/metrics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "kabar/version.hpp"

namespace kabar::broker {

void LatencyHistogram::record(std::chrono::nanoseconds duration) {
  const double seconds = std::chrono::duration<double>(duration).count();
  std::size_t bucket = 0;
  while (bucket < kBounds.size() && seconds > kBounds[bucket]) ++bucket;
  buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<std::uint64_t>(std::max<std::int64_t>(0, duration.count())),
                    std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

void LatencyHistogram::add_to(LatencyHistogram& total) const {
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    total.buckets_[i].fetch_add(buckets_[i].load(std::memory_order_relaxed),
                                std::memory_order_relaxed);
  }
  total.sum_ns_.fetch_add(sum_ns_.load(std::memory_order_relaxed), std::memory_order_relaxed);
  total.count_.fetch_add(count_.load(std::memory_order_relaxed), std::memory_order_relaxed);
}

void LatencyHistogram::render(std::string& out, const std::string& name,
                              const std::string& help) const {
  out += fmt::format("# HELP {} {}\n# TYPE {} histogram\n", name, help, name);
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    const auto bound = i < kBounds.size() ? fmt::format("{}", kBounds[i]) : std::string("+Inf");
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, bound, cumulative);
  }
  out += fmt::format("{}_sum {}\n{}_count {}\n", name,
                     static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9, name,
                     cumulative);
}

Metrics::Metrics(std::size_t shards, std::size_t max_connections)
    : shards_(std::make_unique<ShardCounters[]>(shards)),
      shard_count_(shards),
      max_connections_(max_connections) {}

Rejected Metrics::rejected_for(v1::Error::Code code) {
  switch (code) {
    case v1::Error::UNAUTHORIZED:
      return Rejected::kUnauthorized;
    case v1::Error::FORBIDDEN:
      return Rejected::kForbidden;
    case v1::Error::NOT_FOUND:
      return Rejected::kNotFound;
    case v1::Error::TOO_LARGE:
      return Rejected::kTooLarge;
    case v1::Error::RATE_LIMITED:
      return Rejected::kRateLimited;
    case v1::Error::UNAVAILABLE:
      return Rejected::kUnavailable;
    case v1::Error::INTERNAL:
      return Rejected::kInternal;
    default:
      return Rejected::kBadRequest;
  }
}

void Metrics::subscriptions_changed(const std::string& pattern, int delta) {
  std::lock_guard lock(subscriptions_mutex_);
  auto& count = subscriptions_[pattern];
  count += delta;
  if (count <= 0) subscriptions_.erase(pattern);
}

namespace {

// Prometheus label values escape backslash, quote and newline; topics have none, but be safe.
std::string label(const std::string& value) {
  std::string out;
  for (const char c : value) {
    if (c == '\\' || c == '"') out.push_back('\\');
    out.push_back(c == '\n' ? 'n' : c);
  }
  return out;
}

constexpr std::array<const char*, static_cast<std::size_t>(Rejected::kCount)> kRejectedNames{
    "bad_request",      "unauthorized",          "forbidden",       "not_found",
    "too_large",        "rate_limited",          "unavailable",     "internal",
    "text_frame",       "unparsable_frame",      "message_too_big", "bad_http_request",
    "connection_limit", "forbidden_origin",      "tls_handshake",   "no_descriptors",
    "binary_frame",     "unsupported_media_type"};

}  // namespace

std::string Metrics::render() const {
  std::uint64_t deliveries = 0, bytes_in = 0, bytes_out = 0;
  std::int64_t queued = 0;
  for (std::size_t i = 0; i < shard_count_; ++i) {
    deliveries += shards_[i].deliveries.load(std::memory_order_relaxed);
    bytes_in += shards_[i].bytes_in.load(std::memory_order_relaxed);
    bytes_out += shards_[i].bytes_out.load(std::memory_order_relaxed);
    queued += shards_[i].send_queue_bytes.load(std::memory_order_relaxed);
  }
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help, auto value) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, value);
  };
  out += fmt::format(
      "# HELP kabar_build_info The broker's version and commit (always 1).\n"
      "# TYPE kabar_build_info gauge\n"
      "kabar_build_info{{version=\"{}\",commit=\"{}\"}} 1\n",
      kVersion, build_commit());
  metric("kabar_connections", "gauge", "Open WebSocket connections.",
         connections_.load(std::memory_order_relaxed));
  metric("kabar_connections_max", "gauge",
         "The --max-connections limit: more are answered 503 (0: unlimited).", max_connections_);
  metric("kabar_publishes_total", "counter", "Articles accepted and stored (duplicates included).",
         publishes_.load(std::memory_order_relaxed));
  metric("kabar_deliveries_total", "counter", "Deliveries queued to subscribers.", deliveries);
  metric("kabar_received_bytes_total", "counter", "WebSocket message bytes read.", bytes_in);
  metric("kabar_sent_bytes_total", "counter", "WebSocket message bytes written.", bytes_out);
  metric("kabar_send_queue_bytes", "gauge",
         "Bytes queued for subscribers and not yet written, over all connections.", queued);
  metric("kabar_slow_consumer_disconnects_total", "counter",
         "Connections closed with 4001 for passing their send-queue limit.",
         slow_consumers_.load(std::memory_order_relaxed));
  out +=
      "# HELP kabar_rejected_total Inputs refused, by reason.\n"
      "# TYPE kabar_rejected_total counter\n";
  for (std::size_t i = 0; i < rejected_.size(); ++i) {
    out += fmt::format("kabar_rejected_total{{reason=\"{}\"}} {}\n", kRejectedNames[i],
                       rejected_[i].load(std::memory_order_relaxed));
  }
  out +=
      "# HELP kabar_subscriptions Subscriptions, by topic or pattern as subscribed.\n"
      "# TYPE kabar_subscriptions gauge\n";
  {
    // Bounded: clients choose patterns, and thousands of distinct ones once made a 4 MiB scrape.
    // The most subscribed get a series each, the rest are summed under topic="_other".
    std::lock_guard lock(subscriptions_mutex_);
    std::vector<std::pair<std::int64_t, const std::string*>> by_count;
    by_count.reserve(subscriptions_.size());
    for (const auto& [pattern, count] : subscriptions_) by_count.emplace_back(count, &pattern);
    const auto shown = std::min(by_count.size(), kMaxSubscriptionSeries);
    std::partial_sort(by_count.begin(), by_count.begin() + static_cast<std::ptrdiff_t>(shown),
                      by_count.end(), [](const auto& a, const auto& b) {
                        return a.first != b.first ? a.first > b.first : *a.second < *b.second;
                      });
    std::int64_t other = 0;
    for (std::size_t i = 0; i < by_count.size(); ++i) {
      if (i >= shown) {
        other += by_count[i].first;
        continue;
      }
      out += fmt::format("kabar_subscriptions{{topic=\"{}\"}} {}\n", label(*by_count[i].second),
                         by_count[i].first);
    }
    if (by_count.size() > shown) {
      out += fmt::format("kabar_subscriptions{{topic=\"_other\"}} {}\n", other);
    }
  }
  commit_latency_.render(out, "kabar_store_commit_seconds",
                         "Time to commit one group of publishes (SQLite: fsync included; NATS: "
                         "until a quorum acknowledged it, retries included).");
  if (log_.used.load(std::memory_order_relaxed)) {
    const auto applied = log_.applied_seq.load(std::memory_order_relaxed);
    const auto last = log_.stream_seq.load(std::memory_order_relaxed);
    metric("kabar_store_log_applied_sequence", "gauge",
           "The last shared-log (NATS stream) entry this broker applied.", applied);
    metric("kabar_store_log_behind_entries", "gauge",
           "Entries of the shared log this broker has not applied yet, as last seen.",
           last > applied ? last - applied : 0);
    metric("kabar_store_log_conflicts_total", "counter",
           "Writes to the shared log refused because another broker wrote first (then retried).",
           log_.conflicts.load(std::memory_order_relaxed));
    metric("kabar_store_log_unavailable_total", "counter",
           "Publishes answered UNAVAILABLE: the shared log did not store them in time.",
           log_.unavailable.load(std::memory_order_relaxed));
  }
  // Recorded by each shard in its own counters (no cache line shared on the hot path), summed
  // here.
  auto over_shards = [&](LatencyHistogram ShardCounters::*histogram, const char* name,
                         const char* help) {
    LatencyHistogram total;
    for (std::size_t i = 0; i < shard_count_; ++i) (shards_[i].*histogram).add_to(total);
    total.render(out, name, help);
  };
  over_shards(&ShardCounters::publish_wait, "kabar_publish_wait_seconds",
              "From a publish read to its hand-over to the engine, with the rest of its pass's "
              "publishes.");
  over_shards(&ShardCounters::fanout, "kabar_fanout_seconds",
              "From a stored batch handed to the fan-out to its deliveries queued on a shard.");
  over_shards(&ShardCounters::write_wait, "kabar_write_wait_seconds",
              "From a connection asking for its write turn (deliveries or a reply queued) to its "
              "write.");
  return out;
}

}  // namespace kabar::broker
