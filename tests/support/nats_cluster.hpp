#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "broker.hpp"
#include "process.hpp"

namespace kabar::test {

/// What clients of a secured cluster need: TLS both ways and a user with a password.
struct NatsSecurity {
  std::filesystem::path certificate;  ///< the nodes' (for 127.0.0.1)
  std::filesystem::path key;
  std::filesystem::path client_certificate;  ///< the only one the nodes accept from clients
  std::string user;
  std::string password;
};

/// A JetStream cluster of real nats-server processes (Debian's nats-server) on free loopback
/// ports, never 4222, each node with its own data directory; killed on destruction.
class NatsCluster {
 public:
  explicit NatsCluster(int nodes = 3, std::optional<NatsSecurity> security = std::nullopt);
  NatsCluster(const NatsCluster&) = delete;
  NatsCluster& operator=(const NatsCluster&) = delete;

  /// Every node's client URL, comma-separated: the value of --nats-url (with the user and
  /// password of a secured cluster).
  [[nodiscard]] std::string urls() const;
  [[nodiscard]] std::string url(int node) const;
  [[nodiscard]] int size() const { return static_cast<int>(nodes_.size()); }
  /// The node named `name` (n1, n2, ...), or -1.
  [[nodiscard]] int node_named(const std::string& name) const;

  /// kill -9 of one node; start() brings it back on the same ports and data.
  void kill(int node);
  void start(int node);
  /// Everything node `node` logged so far.
  [[nodiscard]] std::string log(int node) const;

  /// Through libnats, as an operator would: the node leading `stream` (-1 when none answers),
  /// and deleting it. Not on a secured cluster.
  [[nodiscard]] int stream_leader(const std::string& stream) const;
  void delete_stream(const std::string& stream) const;

 private:
  struct Node {
    std::uint16_t client_port = 0;
    std::uint16_t cluster_port = 0;
    std::optional<Process> process;
  };
  [[nodiscard]] std::filesystem::path config_path(int node) const;
  [[nodiscard]] std::vector<std::string> running_urls() const;

  TempDir dir_;
  std::vector<Node> nodes_;
  std::optional<NatsSecurity> security_;
};

/// free_port()'s range: below the kernel's ephemeral ports, far from 4222.
inline constexpr int kFreePortFirst = 10'000;
inline constexpr int kFreePortLast = 28'000;

/// A loopback TCP port nothing uses now, in kFreePortFirst..kFreePortLast.
std::uint16_t free_port();

/// Whether a server could bind `port` on loopback now.
bool port_is_free(std::uint16_t port);

/// Whether something accepts connections on 127.0.0.1:`port` now.
bool listening(std::uint16_t port);

/// The flags of a broker on `cluster`'s stream `stream`.
std::vector<std::string> nats_flags(const NatsCluster& cluster, const std::string& stream,
                                    std::vector<std::string> more = {});

/// A broker on --store nats, started once it has caught up with the stream.
std::unique_ptr<BrokerProcess> nats_broker(const NatsCluster& cluster, const std::string& stream,
                                           std::vector<std::string> more = {});

}  // namespace kabar::test
