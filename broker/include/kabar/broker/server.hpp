#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <cstddef>
#include <memory>

#include "kabar/broker/config.hpp"

namespace kabar::broker {

/// The broker: a listener, one shard per I/O thread, and the engine.
class Server {
 public:
  /// Binds the listening socket and starts the engine.
  /// @throws std::system_error when the address cannot be bound, std::invalid_argument for a
  /// configuration that check_config refuses.
  explicit Server(Config config);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  [[nodiscard]] boost::asio::ip::tcp::endpoint local_endpoint() const;
  /// The I/O threads (shards) it runs: --threads, or one per core.
  [[nodiscard]] std::size_t io_threads() const;

  /// Serves until SIGINT or SIGTERM, then drains: stops accepting, commits and acknowledges
  /// the publishes already read, closes every connection with 4002 (reconnect now), waits for
  /// the closing handshakes up to Config::shutdown_grace, and returns.
  void run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kabar::broker
