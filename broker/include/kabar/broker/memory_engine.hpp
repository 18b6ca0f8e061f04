#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "kabar/broker/engine.hpp"

namespace kabar::broker {

/// The in-memory engine (--store memory): offsets and epochs only, no history, nothing on disk:
/// for dashboards that need no recovery, and for measuring the fan-out alone. Its epoch is drawn
/// at random on start, since its history dies with the process; resuming is possible only when
/// nothing was missed.
///
/// A publish is sequenced on the publishing I/O thread, under a short lock (per batch, never
/// per subscriber): no hand-over to another thread between a publish and its fan-out.
/// @note Thread-safe. Callbacks run on the calling thread, before the call returns.
class MemoryEngine final : public Engine {
 public:
  explicit MemoryEngine(BatchSink sink);

  void publish(std::vector<PublishRequest> publishes) override;
  void read(ReadRequest request, ReadCallback done) override;
  void flush(std::function<void()> done) override;

  [[nodiscard]] const std::string& epoch() const { return epoch_; }

 private:
  const BatchSink sink_;
  const std::string epoch_;

  std::mutex mutex_;  // guards what follows; held while the sink is called, to keep batch order
  struct TopicPosition {
    std::uint64_t last_offset = 0;
    std::int64_t last_at_ns = 0;  // when last_offset was sequenced
  };
  std::unordered_map<std::string, TopicPosition> topics_;
  std::uint64_t next_sequence_ = 1;
};

}  // namespace kabar::broker
