#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "kabar/broker/engine.hpp"

namespace kabar::broker {

/// The in-memory engine (--store memory): offsets and epochs only, no history, nothing on disk:
/// for dashboards that need no recovery, and for measuring the fan-out alone. Its epoch is drawn
/// at random on start, since its history dies with the process; resuming is possible only when
/// nothing was missed.
///
/// Publishes are queued under a short lock and sequenced on the engine's own thread, which
/// drains everything queued at that moment as one batch: one fan-out per batch, not per article.
/// @note Thread-safe. Callbacks run on the engine's thread.
class MemoryEngine final : public Engine {
 public:
  explicit MemoryEngine(BatchSink sink);
  ~MemoryEngine() override;
  MemoryEngine(const MemoryEngine&) = delete;
  MemoryEngine& operator=(const MemoryEngine&) = delete;

  void publish(std::vector<PublishRequest> requests) override;
  void read(ReadRequest request, ReadCallback done) override;
  void flush(std::function<void()> done) override;

  [[nodiscard]] const std::string& epoch() const { return epoch_; }

 private:
  void drain();

  const BatchSink sink_;
  const std::string epoch_;

  PublishQueue queue_;

  // Owned by the engine thread.
  std::unordered_map<std::string, std::uint64_t> last_offsets_;
  std::uint64_t next_sequence_ = 1;

  boost::asio::io_context ioc_{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
};

}  // namespace kabar::broker
