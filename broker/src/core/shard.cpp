#include "core/shard.hpp"

#include <algorithm>
#include <chrono>
#include <utility>

namespace kabar::broker {

Shard::Shard(Metrics& metrics, std::size_t index, std::unique_ptr<SendRing> sends)
    : counters_(metrics.shard(index)), sends_(std::move(sends)) {
  fanout_.on_change([&metrics](const std::string& pattern, int delta) {
    metrics.subscriptions_changed(pattern, delta);
  });
}

void Shard::run(Engine& engine) {
  // A pass handles at most this many ready handlers before its end-of-pass work, so that a
  // flood of input cannot postpone the writes indefinitely.
  constexpr int kMaxHandlersPerPass = 4096;
  const auto run_ready = [this] {
    for (int i = 0; i < kMaxHandlersPerPass && ioc_.poll_one() != 0; ++i) {
    }
  };
  // Wait for events only when no writes are left over from the last pass.
  const auto next_pass = [this] {
    return replies_to_write_.empty() && to_write_.empty() ? ioc_.run_one() != 0 : !ioc_.stopped();
  };
  while (next_pass()) {
    run_ready();
    if (!publishes_.empty()) {
      hand_over_publishes(engine);
      // An engine that sequences at once (memory) has posted the batch to this shard already:
      // its deliveries go out with this pass's writes rather than a pass later.
      run_ready();
      // Read meanwhile: handed over now, or nothing may wake the loop for them.
      if (!publishes_.empty()) hand_over_publishes(engine);
    }
    // A write turn may ask for another: what it adds waits for the next pass.
    const auto now = std::chrono::steady_clock::now();
    for (const auto& turn : std::exchange(replies_to_write_, {})) give_write_turn(turn, now);
    for (auto n = std::min(to_write_.size(), kMaxWritesPerPass); n != 0; --n) {
      const auto turn = std::move(to_write_.front());
      to_write_.pop_front();
      give_write_turn(turn, now);
    }
    if (sends_) sends_->submit();
    send_arena_.reset();  // every send of the pass is answered
  }
  // Stopped with writes left (the grace period ran out): let go of their connections while the
  // io_context their sockets belong to is still here.
  replies_to_write_.clear();
  to_write_.clear();
}

std::span<char> Shard::read_buffer() {
  if (!read_buffer_) read_buffer_ = std::make_unique_for_overwrite<char[]>(kReadBufferBytes);
  return {read_buffer_.get(), kReadBufferBytes};
}

void Shard::schedule_write(std::shared_ptr<Connection> connection, bool reply) {
  WriteTurn turn{std::move(connection), std::chrono::steady_clock::now()};
  if (reply) {
    replies_to_write_.push_back(std::move(turn));
  } else {
    to_write_.push_back(std::move(turn));
  }
}

void Shard::give_write_turn(const WriteTurn& turn, std::chrono::steady_clock::time_point now) {
  counters_.write_wait.record(now - turn.asked_at);
  turn.connection->write_turn();
}

void Shard::publish(Engine& engine, PublishRequest request) {
  publish_bytes_ += static_cast<std::size_t>(request.article.GetCachedSize());  // validated: sized
  publishes_.push_back(std::move(request));
  if (publish_bytes_ >= kMaxBatchBytes) hand_over_publishes(engine);
}

void Shard::hand_over_publishes(Engine& engine) {
  const auto now = std::chrono::steady_clock::now();
  for (const auto& request : publishes_) counters_.publish_wait.record(now - request.read_at);
  engine.publish(std::exchange(publishes_, {}));
  publish_bytes_ = 0;
}

void Shard::dispatch(const std::shared_ptr<const DeliveryBatch>& batch) {
  // The sessions' queues hold the batch through a handle of this shard's own: counting their
  // references then never moves a cache line between the shards' cores.
  const std::shared_ptr<const DeliveryBatch> local(
      std::make_shared<std::shared_ptr<const DeliveryBatch>>(batch), batch.get());
  const auto queued = fanout_.dispatch(local);
  counters_.deliveries.fetch_add(queued, std::memory_order_relaxed);
  counters_.fanout.record(std::chrono::steady_clock::now() - batch->stored_at);
}

void Shard::stop_requests(Engine& engine) {
  stopping_ = true;
  if (!publishes_.empty()) hand_over_publishes(engine);
}

void Shard::shut_down_connections() {
  stopping_ = true;
  // Copied: a connection closing at once leaves the set while it is walked.
  const std::vector<Connection*> connections(connections_.begin(), connections_.end());
  for (auto* connection : connections) connection->shut_down();
}

}  // namespace kabar::broker
