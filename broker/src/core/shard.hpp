#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

#include "core/routes.hpp"
#include "core/send_arena.hpp"
#include "core/send_ring.hpp"
#include "core/timer_wheel.hpp"
#include "kabar/broker/config.hpp"
#include "kabar/broker/engine.hpp"
#include "kabar/broker/fanout.hpp"
#include "kabar/broker/metrics.hpp"
#include "kabar/common/jwt.hpp"

namespace boost::asio::ssl {
class context;
}

namespace kabar::broker {

/// What a shard asks of a connection it owns: a write turn, and closing at shutdown.
class Connection {
 public:
  virtual ~Connection() = default;
  /// Starts closing (WebSocket: 4002 after what is queued is written). Called on the shard's
  /// thread.
  virtual void shut_down() = 0;
  /// Its turn to write what it has queued (it asked with Shard::schedule_write).
  virtual void write_turn() {}
};

class ReceiverCensus;

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
  ReceiverCensus* census = nullptr;   ///< counts a topic's receivers over every shard
};

/// One I/O thread's share of the broker: its connections, its subscriptions (Fanout) and the
/// loop that serves them.
///
/// Threading model: the broker runs one Shard per I/O thread. A shard's io_context is run by
/// exactly that one thread, and everything a shard owns is touched only from it, so none of it
/// needs a lock or a strand. Other threads reach a shard only by posting to its io_context: the
/// listener hands accepted sockets round-robin, the engine hands each committed batch to every
/// shard once (dispatch).
///
/// The loop (run()) works in passes, as uWebSockets does: run every handler that is ready, then
/// at the end of the pass hand all publishes read in it to the engine as one batch, and give
/// connections with something queued their write turn. Batching before fanning out is what turns
/// one send per delivery into one send per connection per batch.
///
/// A pass gives a turn to every connection with a reply queued, then to at most
/// kMaxWritesPerPass of the others, oldest first; the rest wait for the next pass. So a pass
/// stays short however many subscribers a batch reaches: a publish arriving meanwhile is read,
/// sequenced and acknowledged within a slice of writes, not behind all of them, and a subscriber
/// whose turn is a few passes away takes the batches that arrive meanwhile in the same write.
/// @note Not thread-safe, except io_context(): everything else is called on the shard's thread.
class Shard {
 public:
  /// `index`: this shard's counters in `metrics`. `sends`: null to send with sendmsg.
  Shard(Metrics& metrics, std::size_t index, std::unique_ptr<SendRing> sends = nullptr);
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  /// Runs the loop until the io_context is stopped or runs out of work.
  void run(Engine& engine);
  /// Queues a publish for the engine; hands the batch over early once it holds kMaxBatchBytes,
  /// so that one batch stays well below any connection's send-queue limit.
  void publish(Engine& engine, PublishRequest request);
  static constexpr std::size_t kMaxBatchBytes = 512 * 1024;
  /// Asks for `connection`'s write turn at the end of a pass; those with a reply queued first.
  void schedule_write(std::shared_ptr<Connection> connection, bool reply);
  static constexpr std::size_t kMaxWritesPerPass = 64;
  /// This shard's share of a stored batch: queued to every matching subscriber of this shard,
  /// counted, and its fan-out latency recorded.
  void dispatch(const std::shared_ptr<const DeliveryBatch>& batch);

  /// Shutdown, first step: no new requests are handled; what was read goes to the engine.
  void stop_requests(Engine& engine);
  /// Shutdown, second step: every connection starts closing.
  void shut_down_connections();
  [[nodiscard]] bool stopping() const { return stopping_; }

  /// Connections register for the whole of their life, to be closed at shutdown.
  void add(Connection& connection) { connections_.insert(&connection); }
  void remove(Connection& connection) { connections_.erase(&connection); }

  boost::asio::io_context& io_context() { return ioc_; }
  /// The deadlines of this shard's connections.
  TimerWheel& timers() { return timers_; }
  /// Where a connection reads what its socket holds, to handle it at once: one buffer for all of
  /// them (the shard's thread reads one at a time).
  std::span<char> read_buffer();
  static constexpr std::size_t kReadBufferBytes = 64 * 1024;
  /// Where a TLS connection lays out a write to encrypt it into send_arena().
  std::string& write_buffer() { return write_buffer_; }
  /// Bytes this pass's sends read from; free again once the pass's sends are answered.
  SendArena& send_arena() { return send_arena_; }
  Fanout& fanout() { return fanout_; }
  ShardCounters& counters() { return counters_; }
  /// Where a write turn adds its send: null when each connection sends on its own.
  SendRing* sends() { return sends_.get(); }
  /// The routing table publishes go through; replaced whole (SIGHUP), never changed in place.
  [[nodiscard]] const Routes& routes() const { return *routes_; }
  void set_routes(std::shared_ptr<const Routes> routes) { routes_ = std::move(routes); }

 private:
  void hand_over_publishes(Engine& engine);

  Fanout fanout_;
  ShardCounters& counters_;  // this shard's, in the broker's Metrics
  std::unordered_set<Connection*> connections_;
  std::vector<PublishRequest> publishes_;  // read in this pass
  std::size_t publish_bytes_ = 0;          // their articles' encoded size
  // Who asked for a write turn, and when (the write-wait metric).
  struct WriteTurn {
    std::shared_ptr<Connection> connection;
    std::chrono::steady_clock::time_point asked_at;
  };
  void give_write_turn(const WriteTurn& turn, std::chrono::steady_clock::time_point now);
  std::vector<WriteTurn> replies_to_write_;  // all written in the next pass
  std::deque<WriteTurn> to_write_;           // oldest first, a slice per pass
  std::unique_ptr<SendRing> sends_;  // the pass's sends in one system call; null: sendmsg each
  std::shared_ptr<const Routes> routes_ = std::make_shared<const Routes>();
  bool stopping_ = false;
  std::unique_ptr<char[]> read_buffer_;
  std::string write_buffer_;
  SendArena send_arena_;
  boost::asio::io_context ioc_{1};  // its handlers die before what they reference...
  TimerWheel timers_{ioc_};         // ...but this, whose timer is one of the io_context's
};

/// "conn 12 127.0.0.1:5555": the prefix of every log line about one connection.
struct ConnectionLabel {
  std::uint64_t id = 0;
  std::string remote;
};

}  // namespace kabar::broker
