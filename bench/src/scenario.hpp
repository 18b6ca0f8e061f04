#pragma once

#include <cstdint>
#include <string>

/// The load kabar-bench puts on a broker: one scenario per run (SPEC section 6).
namespace kabar::bench {

enum class Scenario : std::uint8_t {
  kFanout,       ///< P publishers -> 1 topic -> N subscribers: deliveries/s, latency
  kTopics,       ///< N subscribers each on k of T topics
  kConnections,  ///< N idle subscribers: memory per connection, setup rate, one flash
  kIngest,       ///< P publishers, no subscriber: acknowledged (stored) publishes/s
  kRecovery,     ///< store M articles, then N subscribers recover them all: catch-up rate
};

/// Its name on the command line and in reports.
[[nodiscard]] constexpr const char* name(Scenario scenario) {
  switch (scenario) {
    case Scenario::kFanout:
      return "fanout";
    case Scenario::kTopics:
      return "topics";
    case Scenario::kConnections:
      return "connections";
    case Scenario::kIngest:
      return "ingest";
    case Scenario::kRecovery:
      return "recovery";
  }
  return "?";
}

/// Publishing is paced by acknowledgements (stored articles), not by deliveries.
[[nodiscard]] constexpr bool paced_by_acks(Scenario scenario) {
  return scenario == Scenario::kIngest || scenario == Scenario::kRecovery;
}

/// The name of topic `index` (of the run `run_id`) in this scenario.
[[nodiscard]] inline std::string topic_name(Scenario scenario, std::uint32_t index,
                                            const std::string& run_id) {
  switch (scenario) {
    case Scenario::kConnections:
      return "bench.idle";
    case Scenario::kIngest:
      return "bench.ingest";  // no subscriber's: runs beside a fanout stay apart
    case Scenario::kRecovery:
      return "bench.recovery." + run_id;  // a fresh topic: offsets from 1
    case Scenario::kFanout:
    case Scenario::kTopics:
      break;
  }
  return "bench.t" + std::to_string(index);
}

}  // namespace kabar::bench
