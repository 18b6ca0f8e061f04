#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "broker_metrics.hpp"
#include "histogram.hpp"
#include "scenario.hpp"

/// What a run measured, printed as a table for people or as one JSON object (--json).
namespace kabar::bench {

/// A latency distribution's summary, nanoseconds.
struct Latency {
  std::uint64_t p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;
  static Latency of(const Histogram& histogram);
};

/// What every run counts as a failure: the exit status is 1 unless all are zero.
struct Failures {
  std::uint64_t errors = 0, disconnects = 0, gaps = 0, duplicates = 0;
  double lost = 0;
  bool timed_out = false;
  [[nodiscard]] bool any() const {
    return errors + disconnects + gaps + duplicates != 0 || lost > 0 || timed_out;
  }
};

/// fanout, topics, connections, ingest.
struct TrafficReport {
  Scenario scenario = Scenario::kFanout;
  bool json_subscribers = false;  // --format json
  bool http_publishers = false;   // ingest --http
  std::uint32_t subscribers = 0, publishers = 0, topics = 0;
  std::size_t payload_bytes = 0;
  double deliveries_per_s = 0, publishes_per_s = 0, acks_per_s = 0;
  Latency latency, ack_latency;
  Failures failures;
  bool broker_measured = false;  // --broker-pid given
  double bench_cpu = 0, broker_cpu = 0, bench_cpu_waited = 0, broker_cpu_waited = 0;  // cores
  double deliveries_per_message = 0;
  double setup_s = 0;
  double broker_rss_kib_per_connection = 0;
  bool flash = false;
  double flash_last_ms = 0;
  /// Where articles waited inside the broker (its /metrics; plain ws:// runs).
  std::vector<Stage> stages;
};

/// recovery.
struct RecoveryReport {
  bool json_subscribers = false;
  std::uint32_t subscribers = 0;
  std::uint64_t missed = 0;
  std::size_t payload_bytes = 0;
  double store_s = 0, catch_up_s = 0, catch_up_articles_per_s = 0;
  Failures failures;
};

void print_table(const TrafficReport& report);
void print_json(const TrafficReport& report);
void print_table(const RecoveryReport& report);
void print_json(const RecoveryReport& report);

/// 1.23M, 45.6k, 789: a rate for people.
[[nodiscard]] std::string si(double value);
/// "1.234 ms".
[[nodiscard]] std::string ms(std::uint64_t ns);

}  // namespace kabar::bench
