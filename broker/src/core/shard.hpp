#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "core/send_ring.hpp"
#include "kabar/broker/config.hpp"
#include "kabar/broker/engine.hpp"
#include "kabar/broker/fanout.hpp"
#include "kabar/broker/metrics.hpp"
#include "kabar/common/jwt.hpp"

namespace boost::asio::ssl {
class context;
}

namespace kabar::broker {

/// A connection a shard can close on shutdown.
class Connection {
 public:
  virtual ~Connection() = default;
  /// Starts closing (WebSocket: 4002 after what is queued is written). Called on the shard's
  /// thread.
  virtual void shut_down() = 0;
  /// Writes what is queued (Shard::schedule_write asked for it).
  virtual void flush_writes() {}
};

/// What every connection shares, read-only after start (the counter is atomic).
struct BrokerContext {
  const Config& config;
  Engine& engine;
  Metrics& metrics;
  const jwt::Verifier* verifier;   ///< null when no authentication is configured
  bool anonymous_allowed;          ///< a connection without a token may do anything
  boost::asio::ssl::context* tls;  ///< null when the listener is plain TCP
  std::atomic<std::uint64_t> next_connection_id{1};
  std::atomic<int> history_reads{0};  ///< HTTP history reads under way, over all shards
};

/// Threading model: the broker runs one Shard per I/O thread. A shard's io_context is run by
/// exactly that one thread, and everything a shard owns (its connections, its Fanout) is touched
/// only from it, so none of it needs a lock or a strand. Other threads reach a shard only by
/// posting to `ioc`: the listener hands accepted sockets round-robin, the engine hands each
/// committed batch to every shard once.
///
/// The loop (run()) works in passes, as uWebSockets does: run every handler that is ready, then
/// at the end of the pass hand all publishes read in it to the engine as one batch, and write
/// connections that have something queued. Batching before fanning out is what turns one send
/// per delivery into one send per connection per batch.
///
/// A pass writes every connection with a reply queued, then at most kMaxWritesPerPass of the
/// others, oldest first; the rest wait for the next pass. So a pass stays short however many
/// subscribers a batch reaches: a publish arriving meanwhile is read, sequenced and acknowledged
/// within a slice of writes, not behind all of them, and a subscriber whose turn is a few passes
/// away takes the batches that arrive meanwhile in the same write.
struct Shard {
  /// Runs the loop until the io_context is stopped or runs out of work.
  void run(Engine& engine);
  /// Queues a publish for the engine; hands the batch over early once it holds kMaxBatchBytes,
  /// so that one batch stays well below any connection's send-queue limit.
  void publish(Engine& engine, PublishRequest request);
  static constexpr std::size_t kMaxBatchBytes = 512 * 1024;
  /// Gives the engine every publish queued so far, as one batch.
  void hand_over_publishes(Engine& engine);
  /// Asks for `connection`'s queued writes at the end of a pass; those with a reply queued first.
  void schedule_write(std::shared_ptr<Connection> connection, bool reply);
  static constexpr std::size_t kMaxWritesPerPass = 64;
  /// This shard's share of a stored batch (on its thread): queued to every matching subscriber
  /// of this shard, counted, and its fan-out latency recorded.
  void dispatch(const std::shared_ptr<const DeliveryBatch>& batch, Metrics& metrics);

  Fanout fanout;
  ShardCounters* counters = nullptr;  // this shard's, in the broker's Metrics
  std::unordered_set<Connection*> connections;
  std::vector<PublishRequest> publishes;                      // read in this pass
  std::size_t publish_bytes = 0;                              // their articles' encoded size
  std::vector<std::shared_ptr<Connection>> replies_to_write;  // all written in the next pass
  std::deque<std::shared_ptr<Connection>> to_write;           // oldest first, a slice per pass
  std::unique_ptr<SendRing> sends;  // the pass's sends in one system call; null: sendmsg each
  bool stopping = false;
  boost::asio::io_context ioc{1};  // last: its handlers die before what they reference
};

/// "conn 12 127.0.0.1:5555": the prefix of every log line about one connection.
struct ConnectionLabel {
  std::uint64_t id = 0;
  std::string remote;
};

}  // namespace kabar::broker
