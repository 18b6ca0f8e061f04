#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

/// The broker's own view of a run: its /metrics before and after, the latency histograms of the
/// stages an article waits in (kabar_publish_wait_seconds, kabar_store_commit_seconds,
/// kabar_fanout_seconds, kabar_write_wait_seconds) over the measured seconds.
namespace kabar::bench {

/// GET /metrics from a plain-HTTP broker at `host`:`port`, within 2 s; nothing when it fails.
[[nodiscard]] std::optional<std::string> scrape_metrics(const std::string& host,
                                                        std::uint16_t port);

/// One histogram's samples between two scrapes.
struct Stage {
  std::string name;  ///< the metric's name without kabar_ and _seconds
  std::uint64_t count = 0;
  double p50_ms = 0, p99_ms = 0;  ///< interpolated within the buckets, as Prometheus does
};

/// The stages found in both scrapes, in the order an article meets them.
[[nodiscard]] std::vector<Stage> stages_between(std::string_view before, std::string_view after);

}  // namespace kabar::bench
