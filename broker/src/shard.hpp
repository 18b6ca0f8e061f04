#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <string>
#include <unordered_set>

#include "kabar/broker/config.hpp"
#include "kabar/broker/engine.hpp"
#include "kabar/broker/fanout.hpp"

namespace kabar::broker {

/// A connection a shard can close on shutdown.
class Connection {
 public:
  virtual ~Connection() = default;
  /// Starts closing (WebSocket: close 1001 going away). Called on the shard's thread.
  virtual void shut_down() = 0;
};

/// What every connection shares, read-only after start (the counter is atomic).
struct BrokerContext {
  const Config& config;
  Engine& engine;
  std::atomic<std::uint64_t> next_connection_id{1};
};

/// Threading model: the broker runs one Shard per I/O thread. A shard's io_context is run by
/// exactly that one thread, and everything a shard owns (its connections, its Fanout) is touched
/// only from it, so none of it needs a lock or a strand. Other threads reach a shard only by
/// posting to `ioc`: the listener hands accepted sockets round-robin, the engine hands each
/// committed batch to every shard once.
struct Shard {
  Fanout fanout;
  std::unordered_set<Connection*> connections;
  bool stopping = false;
  boost::asio::io_context ioc{1};  // last: its handlers die before what they reference
};

/// "conn 12 127.0.0.1:5555": the prefix of every log line about one connection.
struct ConnectionLabel {
  std::uint64_t id = 0;
  std::string remote;
};

}  // namespace kabar::broker
