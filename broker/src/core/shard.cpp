#include "core/shard.hpp"

#include <algorithm>
#include <chrono>
#include <utility>

namespace kabar::broker {

void Shard::run(Engine& engine) {
  // A pass handles at most this many ready handlers before its end-of-pass work, so that a
  // flood of input cannot postpone the writes indefinitely.
  constexpr int kMaxHandlersPerPass = 4096;
  const auto run_ready = [this] {
    for (int i = 0; i < kMaxHandlersPerPass && ioc.poll_one() != 0; ++i) {
    }
  };
  // Wait for events only when no writes are left over from the last pass.
  const auto next_pass = [this] {
    return replies_to_write.empty() && to_write.empty() ? ioc.run_one() != 0 : !ioc.stopped();
  };
  while (next_pass()) {
    run_ready();
    if (!publishes.empty()) {
      hand_over_publishes(engine);
      // An engine that sequences at once (memory) has posted the batch to this shard already:
      // its deliveries go out with this pass's writes rather than a pass later.
      run_ready();
      // Read meanwhile: handed over now, or nothing may wake the loop for them.
      if (!publishes.empty()) hand_over_publishes(engine);
    }
    // flush_writes may schedule more: what it adds waits for the next pass.
    for (auto& connection : std::exchange(replies_to_write, {})) connection->flush_writes();
    for (auto n = std::min(to_write.size(), kMaxWritesPerPass); n != 0; --n) {
      const auto connection = std::move(to_write.front());
      to_write.pop_front();
      connection->flush_writes();
    }
    if (sends) sends->submit();
  }
  // Stopped with writes left (the grace period ran out): let go of their connections while the
  // io_context their sockets belong to is still here.
  replies_to_write.clear();
  to_write.clear();
}

void Shard::schedule_write(std::shared_ptr<Connection> connection, bool reply) {
  if (reply) {
    replies_to_write.push_back(std::move(connection));
  } else {
    to_write.push_back(std::move(connection));
  }
}

void Shard::publish(Engine& engine, PublishRequest request) {
  publish_bytes += static_cast<std::size_t>(request.article.GetCachedSize());  // validated: sized
  publishes.push_back(std::move(request));
  if (publish_bytes >= kMaxBatchBytes) hand_over_publishes(engine);
}

void Shard::hand_over_publishes(Engine& engine) {
  engine.publish(std::exchange(publishes, {}));
  publish_bytes = 0;
}

void Shard::dispatch(const std::shared_ptr<const DeliveryBatch>& batch, Metrics& metrics) {
  // The sessions' queues hold the batch through a handle of this shard's own: counting their
  // references then never moves a cache line between the shards' cores.
  const std::shared_ptr<const DeliveryBatch> local(
      std::make_shared<std::shared_ptr<const DeliveryBatch>>(batch), batch.get());
  const auto queued = fanout.dispatch(local);
  counters->deliveries.fetch_add(queued, std::memory_order_relaxed);
  metrics.fanout_latency().record(std::chrono::steady_clock::now() - batch->stored_at);
}

}  // namespace kabar::broker
