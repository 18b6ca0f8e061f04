#pragma once

#include <memory>

#include "kabar/broker/config.hpp"
#include "kabar/broker/engine.hpp"
#include "kabar/broker/metrics.hpp"

namespace kabar::broker {

/// --store nats: several brokers share one history in a NATS JetStream stream (R3 on a
/// three-node cluster).
///
/// The stream is one log. Each message is one entry: a group of article versions one broker
/// stored at once, each with its offsets on every one of its topics. A broker writes an entry
/// only on condition that the stream's last sequence is the last one it has applied
/// (ExpectLastSeq, checked by the stream when it applies the write, so safe on a 2.9 cluster): it
/// decided duplicates, corrections and the next offsets on a complete view, or the stream refuses
/// the write and the broker catches up and decides again. Every broker follows the whole log with
/// an ordered consumer and delivers each entry to its own connections in log order, so every
/// topic is in offset order everywhere. A publish is acknowledged after the stream's
/// acknowledgement, i.e. once the entry is on a quorum.
///
/// The epoch of every topic is the stream's: a random id the creating broker puts in the
/// stream's description, cross-checked with its creation time. A stream deleted and created
/// again is a new epoch, and resuming readers are told their history is gone.
///
/// NATS unreachable is not an error at startup: the broker serves, publishes answer UNAVAILABLE
/// after NatsOptions::publish_timeout, and it attaches by itself when NATS comes back.
/// @note Thread-safe. Callbacks run on the engine's writer or reader thread.
class NatsEngine final : public Engine {
 public:
  /// Records each group's quorum write in `commit_latency`, and where it stands in the log in
  /// `metrics`; both outlive the engine.
  NatsEngine(NatsOptions nats, StoreOptions store, BatchSink sink, LatencyHistogram& commit_latency,
             LogMetrics& metrics);
  ~NatsEngine() override;
  NatsEngine(const NatsEngine&) = delete;
  NatsEngine& operator=(const NatsEngine&) = delete;

  void publish(std::vector<PublishRequest> requests) override;
  void read(ReadRequest request, ReadCallback done) override;
  void flush(std::function<void()> done) override;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kabar::broker
