#include "nats_cluster.hpp"

#include <nats/nats.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <stdexcept>
#include <thread>

namespace kabar::test {

namespace {

// Whether `call` (bind or connect) succeeds for a fresh TCP socket and 127.0.0.1:`port`.
template <class Call>
bool on_loopback(std::uint16_t port, Call call) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  const bool done = call(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return done;
}

}  // namespace

bool port_is_free(std::uint16_t port) {
  return on_loopback(port, ::bind);
}

bool listening(std::uint16_t port) {
  return on_loopback(port, ::connect);
}

// Below the kernel's ephemeral range (32768-60999 here): no outgoing connection, of this test or
// of one running beside it, can take the port between this check and the server's bind (one
// did: a broker of scripts/cluster could not listen). Random, so that tests running at once
// rarely try the same one; a port in use is skipped.
std::uint16_t free_port() {
  thread_local std::mt19937 random(std::random_device{}());
  std::uniform_int_distribution<int> pick(kFreePortFirst, kFreePortLast);
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const auto port = static_cast<std::uint16_t>(pick(random));
    if (port_is_free(port)) return port;
  }
  throw std::runtime_error("no free port");
}

namespace {

// Debian installs it in /usr/sbin, which a user's PATH may lack.
std::string nats_server_path() {
  for (const char* path : {"/usr/sbin/nats-server", "/usr/bin/nats-server"}) {
    if (::access(path, X_OK) == 0) return path;
  }
  throw std::runtime_error("nats-server is not installed (scripts/install-deps)");
}

}  // namespace

NatsCluster::NatsCluster(int nodes, std::optional<NatsSecurity> security)
    : nodes_(static_cast<std::size_t>(nodes)), security_(std::move(security)) {
  for (auto& node : nodes_) {
    node.client_port = free_port();
    node.cluster_port = free_port();
  }
  // Its own name: clusters of tests running side by side never take each other's nodes.
  const auto cluster_name = "kabar-" + std::to_string(nodes_.front().client_port);
  std::string routes;
  for (const auto& node : nodes_) {
    if (!routes.empty()) routes += ", ";
    routes += "nats-route://127.0.0.1:" + std::to_string(node.cluster_port);
  }
  for (int i = 0; i < size(); ++i) {
    const auto name = "n" + std::to_string(i + 1);
    const auto& node = nodes_[static_cast<std::size_t>(i)];
    std::ofstream(config_path(i)) << "server_name: " << name << "\n"
                                  << "listen: 127.0.0.1:" << node.client_port << "\n"
                                  << "log_file: \"" << (dir_.path() / (name + ".log")).string()
                                  << "\"\n"
                                  << "jetstream { store_dir: \"" << (dir_.path() / name).string()
                                  << "\", max_memory_store: 64MB, max_file_store: 1GB }\n"
                                  << "cluster { name: " << cluster_name
                                  << ", listen: 127.0.0.1:" << node.cluster_port << ", routes: ["
                                  << routes << "] }\n";
    if (security_) {  // on the client port only: the routes stay plain on loopback
      std::ofstream(config_path(i), std::ios::app)
          << "tls { cert_file: \"" << security_->certificate.string() << "\", key_file: \""
          << security_->key.string() << "\", ca_file: \"" << security_->client_certificate.string()
          << "\", verify: true }\n"
          << "authorization { user: \"" << security_->user << "\", password: \""
          << security_->password << "\" }\n";
    }
  }
  for (int i = 0; i < size(); ++i) start(i);
  // Ready once every node knows the metadata leader: each is then a peer a stream of as many
  // replicas can be placed on (a leader known to two nodes only refuses an R3 stream, "no
  // suitable peers for placement"; a node of a loaded machine once never logged it, and taking
  // a majority then only moved the failure to the broker's R3 stream creation).
  const auto started = Clock::now();
  while (Clock::now() < started + 30s) {
    int knowing = 0;
    for (int i = 0; i < size(); ++i) {
      knowing += log(i).find("metadata leader") != std::string::npos ? 1 : 0;
    }
    if (knowing == size()) return;
    std::this_thread::sleep_for(50ms);
  }
  std::string logs;
  for (int i = 0; i < size(); ++i) logs += "\n--- n" + std::to_string(i + 1) + ":\n" + log(i);
  throw std::runtime_error("the NATS cluster elected no metadata leader in 30 s:" + logs);
}

std::filesystem::path NatsCluster::config_path(int node) const {
  return dir_.path() / ("n" + std::to_string(node + 1) + ".conf");
}

std::string NatsCluster::urls() const {
  std::string all;
  for (int i = 0; i < size(); ++i) all += (i == 0 ? "" : ",") + url(i);
  return all;
}

std::string NatsCluster::url(int node) const {
  const auto user = security_ ? security_->user + ":" + security_->password + "@" : std::string();
  return "nats://" + user +
         "127.0.0.1:" + std::to_string(nodes_.at(static_cast<std::size_t>(node)).client_port);
}

int NatsCluster::node_named(const std::string& name) const {
  for (int i = 0; i < size(); ++i) {
    if (name == "n" + std::to_string(i + 1)) return i;
  }
  return -1;
}

void NatsCluster::kill(int node) {
  auto& process = nodes_.at(static_cast<std::size_t>(node)).process;
  if (!process) return;
  process->signal(SIGKILL);
  (void)process->wait(10s);
  process.reset();
}

void NatsCluster::start(int node) {
  auto& process = nodes_.at(static_cast<std::size_t>(node)).process;
  process.emplace(std::vector<std::string>{nats_server_path(), "-c", config_path(node).string()});
  // Listening once it says so in its log (a restart appends to the same file).
  const auto before = log(node).size();
  const auto deadline = Clock::now() + 10s;
  while (Clock::now() < deadline) {
    if (log(node).find("Server is ready", before) != std::string::npos) return;
    if (process->wait(0ms)) break;
    std::this_thread::sleep_for(20ms);
  }
  throw std::runtime_error("nats-server n" + std::to_string(node + 1) +
                           " did not start: " + log(node).substr(before) + process->err());
}

std::string NatsCluster::log(int node) const {
  return read_file(dir_.path() / ("n" + std::to_string(node + 1) + ".log"));
}

namespace {

// One short-lived JetStream context on `urls`, for the administration a test does.
template <class Use>
void with_jetstream(const std::vector<std::string>& urls, Use&& use) {
  natsOptions* options = nullptr;
  natsConnection* connection = nullptr;
  jsCtx* js = nullptr;
  std::vector<const char*> servers;
  for (const auto& url : urls) servers.push_back(url.c_str());
  natsOptions_Create(&options);
  natsOptions_SetServers(options, servers.data(), static_cast<int>(servers.size()));
  natsOptions_SetTimeout(options, 2000);
  if (natsConnection_Connect(&connection, options) == NATS_OK &&
      natsConnection_JetStream(&js, connection, nullptr) == NATS_OK) {
    use(js);
  }
  jsCtx_Destroy(js);
  natsConnection_Destroy(connection);
  natsOptions_Destroy(options);
}

}  // namespace

std::vector<std::string> NatsCluster::running_urls() const {
  std::vector<std::string> running;
  for (int i = 0; i < size(); ++i) {
    if (nodes_[static_cast<std::size_t>(i)].process) running.push_back(url(i));
  }
  return running;
}

int NatsCluster::stream_leader(const std::string& stream) const {
  int leader = -1;
  with_jetstream(running_urls(), [&](jsCtx* js) {
    jsStreamInfo* info = nullptr;
    jsErrCode code{};
    if (js_GetStreamInfo(&info, js, stream.c_str(), nullptr, &code) == NATS_OK) {
      if (info->Cluster != nullptr && info->Cluster->Leader != nullptr) {
        leader = node_named(info->Cluster->Leader);
      }
      jsStreamInfo_Destroy(info);
    }
  });
  return leader;
}

void NatsCluster::delete_stream(const std::string& stream) const {
  std::string error = "no connection";
  with_jetstream(running_urls(), [&](jsCtx* js) {
    jsErrCode code{};
    const auto status = js_DeleteStream(js, stream.c_str(), nullptr, &code);
    error = status == NATS_OK ? "" : nats_GetLastError(nullptr);
  });
  if (!error.empty())
    throw std::runtime_error("cannot delete NATS stream " + stream + ": " + error);
}

std::vector<std::string> nats_flags(const NatsCluster& cluster, const std::string& stream,
                                    std::vector<std::string> more) {
  std::vector<std::string> flags{
      "--store",       "nats", "--nats-url",      cluster.urls(),
      "--nats-stream", stream, "--nats-replicas", std::to_string(cluster.size())};
  flags.insert(flags.end(), more.begin(), more.end());
  return flags;
}

std::unique_ptr<BrokerProcess> nats_broker(const NatsCluster& cluster, const std::string& stream,
                                           std::vector<std::string> more) {
  auto broker = std::make_unique<BrokerProcess>(nats_flags(cluster, stream, std::move(more)));
  if (!broker->process().wait_for_output("caught up with NATS stream", 20s)) {
    throw std::runtime_error("the broker did not catch up with the NATS stream: " +
                             broker->process().out() + broker->process().err());
  }
  return broker;
}

}  // namespace kabar::test
