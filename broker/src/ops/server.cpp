#include "kabar/broker/server.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "base/log.hpp"
#include "core/census.hpp"
#include "core/shard.hpp"
#include "kabar/broker/memory_engine.hpp"
#include "kabar/broker/nats_engine.hpp"
#include "kabar/broker/sqlite_engine.hpp"
#include "kabar/common/topic.hpp"
#include "net/admission.hpp"
#include "net/http_session.hpp"
#include "net/tls_context.hpp"
#include "ops/service_notify.hpp"

namespace kabar::broker {

namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

tcp::endpoint resolve_listen(const Config& config) {
  // Never DNS: an address literal, or localhost.
  const auto host =
      config.listen_host == "localhost" ? std::string("127.0.0.1") : config.listen_host;
  boost::system::error_code ec;
  const auto address = net::ip::make_address(host, ec);
  if (ec) {
    throw std::invalid_argument("--listen host '" + config.listen_host +
                                "' is not an IP address (names are not resolved)");
  }
  return {address, config.listen_port};
}

std::unique_ptr<Engine> make_engine(const Config& config, Engine::BatchSink sink,
                                    Metrics& metrics) {
  if (config.store == StoreKind::kMemory) return std::make_unique<MemoryEngine>(std::move(sink));
  if (config.store == StoreKind::kNats) {
    return std::make_unique<NatsEngine>(config.nats, config.store_options, std::move(sink),
                                        metrics.commit_latency(), metrics.log());
  }
  return std::make_unique<SqliteEngine>(config.store_options, std::move(sink),
                                        &metrics.commit_latency());
}

// Each connection is a descriptor: a --max-connections the open-file limit cannot hold means
// refusals ("out of file descriptors") long before the limit an operator believes in.
void warn_if_descriptors_short(const Config& config) {
  constexpr rlim_t kOwnDescriptors = 32;  // listener, store, io_uring rings, logs, the reserve
  rlimit limit{};
  if (config.max_connections == 0 || getrlimit(RLIMIT_NOFILE, &limit) != 0 ||
      limit.rlim_cur == RLIM_INFINITY) {
    return;
  }
  const auto needed = static_cast<rlim_t>(config.max_connections) + kOwnDescriptors;
  if (needed <= limit.rlim_cur) return;
  logging::warn({"broker.file_limit_low"},
                "--max-connections {} needs about {} file descriptors but the open-file limit is "
                "{} (about {} connections): raise it (ulimit -n, LimitNOFILE= in a systemd unit) "
                "or lower --max-connections",
                config.max_connections, needed, limit.rlim_cur,
                limit.rlim_cur > kOwnDescriptors ? limit.rlim_cur - kOwnDescriptors : 0);
}

std::unique_ptr<jwt::Verifier> make_verifier(const AuthOptions& auth) {
  if (!auth.configured()) return nullptr;
  try {
    return std::make_unique<jwt::Verifier>(jwt::VerifierOptions{
        auth.hs256_secret, auth.public_key_pem, auth.issuer, auth.audience, auth.leeway});
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string("--jwt-public-key: ") + e.what());
  }
}

}  // namespace

struct Server::Impl {
  Impl(Config c, std::unique_ptr<net::ssl::context> tls_context,
       const std::shared_ptr<const Routes>& routes)
      : config(std::move(c)),
        metrics(shard_count(config), config.max_connections),
        shards(make_shards(config, metrics)),
        engine(make_engine(
            config, [this](const std::shared_ptr<const DeliveryBatch>& batch) { fan_out(batch); },
            metrics)),
        verifier(make_verifier(config.auth)),
        tls(std::move(tls_context)),
        context{config,
                *engine,
                metrics,
                verifier.get(),
                !config.auth.configured() || config.auth.allow_anonymous,
                tls.get()},
        admission(std::make_shared<Admission>(config)),
        acceptor(std::in_place, shards.front().io_context()) {
    const auto endpoint = resolve_listen(config);
    acceptor->open(endpoint.protocol());
    acceptor->set_option(net::socket_base::reuse_address(true));
    acceptor->bind(endpoint);
    acceptor->listen(net::socket_base::max_listen_connections);
    for (auto& shard : shards) shard.set_routes(routes);
    context.census = &census;
  }

  static std::size_t shard_count(const Config& config) {
    return config.io_threads != 0 ? config.io_threads
                                  : std::max(1U, std::thread::hardware_concurrency());
  }

  // A deque: a shard does not move.
  static std::deque<Shard> make_shards(const Config& config, Metrics& metrics) {
    std::deque<Shard> shards;
    for (std::size_t i = 0; i < shard_count(config); ++i) {
      std::unique_ptr<SendRing> sends;
      if (config.io_uring) {
        std::error_code error;
        sends = SendRing::open(error);
        if (error && i == 0) {
          logging::warn({"broker.io_uring_unavailable"},
                        "io_uring unavailable ({}): sending with one sendmsg per connection",
                        error.message());
        }
      }
      shards.emplace_back(metrics, i, std::move(sends));
    }
    return shards;
  }

  // Teardown in dependency order: the acceptor before the io_context it runs on; the engine
  // before the shards, as its last acknowledgements and batches are posted to them; the shards
  // (whose queued handlers may hold the last reference to a session) while the context and
  // metrics those sessions use on destruction are still here; a receivers count left unfinished
  // lets its waiting session go before any shard does.
  ~Impl() {
    if (reserve_fd >= 0) ::close(reserve_fd);
    accept_pause.reset();
    acceptor.reset();
    engine.reset();
    census.abandon();
    shards.clear();
  }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  // From the engine (its writer thread, or the publishing shard for the memory engine): hand the
  // batch to every shard once.
  void fan_out(const std::shared_ptr<const DeliveryBatch>& batch) {
    for (auto& shard : shards) {
      net::post(shard.io_context(), [&shard, batch] { shard.dispatch(batch); });
    }
  }

  void do_accept() {
    auto& shard = shards[next_shard];
    next_shard = (next_shard + 1) % shards.size();
    acceptor->async_accept(
        shard.io_context(), [this, &shard](boost::system::error_code ec, tcp::socket socket) {
          if (ec == net::error::operation_aborted || !acceptor->is_open()) return;
          if (ec == net::error::no_descriptors || ec.value() == ENFILE)
            return out_of_descriptors(ec);
          if (ec) {
            log_accept_failure(ec);
          } else if (auto ticket = admit(socket)) {
            net::post(shard.io_context(), [this, &shard, socket = std::move(socket),
                                           ticket = std::move(ticket)]() mutable {
              std::make_shared<HttpSession>(std::move(socket), shard, context, std::move(ticket))
                  ->run();
            });
          } else {
            refuse(std::move(socket));
          }
          if (!ec) accept_backoff = std::chrono::milliseconds(0);
          do_accept();
        });
  }

  // Out of file descriptors, the pending connection stays in the backlog and accept fails again
  // at once: retried in a loop, that is a core at 100 % and a million log lines. Instead the
  // reserved descriptor is given up to take that connection, answer it 503 and close it, and
  // accepting pauses, longer each time in a row (10 ms to 1 s), as nginx and NATS do.
  void out_of_descriptors(boost::system::error_code ec) {
    log_accept_failure(ec);
    if (reserve_fd >= 0) {
      // Every connection waiting in the backlog (a bounded number per pause) gets its answer
      // through the one descriptor given up.
      ::close(reserve_fd);
      reserve_fd = -1;
      boost::system::error_code accept_ec;
      acceptor->non_blocking(true, accept_ec);
      for (int i = 0; i < 256 && !accept_ec; ++i) {
        tcp::socket socket(shards.front().io_context());
        acceptor->accept(socket, accept_ec);
        if (accept_ec) break;
        static constexpr std::string_view kBusy =
            "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: text/plain\r\n"
            "Content-Length: 38\r\n\r\nbroker out of file descriptors: retry\n";
        boost::system::error_code ignored;
        socket.non_blocking(true, ignored);  // a few bytes into an empty socket buffer
        socket.write_some(net::buffer(kBusy), ignored);
        socket.shutdown(tcp::socket::shutdown_send, ignored);
        socket.close(ignored);
        context.metrics.rejected(Rejected::kNoDescriptors);
      }
      acceptor->non_blocking(false, accept_ec);
      reserve_fd = open_reserve();
    }
    accept_backoff = std::clamp(accept_backoff * 2, std::chrono::milliseconds(10),
                                std::chrono::milliseconds(1000));
    accept_pause->expires_after(accept_backoff);
    accept_pause->async_wait([this](boost::system::error_code wait_ec) {
      if (!wait_ec) do_accept();
    });
  }

  // Once per second at most, with how many failed since: a failing accept must not flood the log.
  void log_accept_failure(boost::system::error_code ec) {
    ++accept_failures;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_accept_failure_log < std::chrono::seconds(1)) return;
    logging::warn({"broker.accept_failed"},
                  "accept failed {} time(s) in the last second, the last: {}{}", accept_failures,
                  ec.message(),
                  ec == net::error::no_descriptors || ec.value() == ENFILE
                      ? " (out of file descriptors: raise ulimit -n / LimitNOFILE, or lower "
                        "--max-connections)"
                      : "");
    accept_failures = 0;
    last_accept_failure_log = now;
  }

  static int open_reserve() { return ::open("/dev/null", O_RDONLY | O_CLOEXEC); }

  // A place for a new connection under the limits, or null.
  std::shared_ptr<Admission::Ticket> admit(tcp::socket& socket) {
    boost::system::error_code ec;
    const auto remote = socket.remote_endpoint(ec);
    if (ec) return nullptr;
    std::string why;
    auto ticket = admission->admit(remote.address(), why);
    if (!ticket) {
      refused_why = why;
      ++refused;
      const auto now = std::chrono::steady_clock::now();
      if (now - last_refusal_log >= std::chrono::seconds(1)) {  // a flood must not flood the log
        logging::warn({"broker.connections_refused"},
                      "refused {} connection(s), the last from {}: {}", refused,
                      remote.address().to_string(), why);
        refused = 0;
        last_refusal_log = now;
      }
      context.metrics.rejected(Rejected::kConnectionLimit);
    }
    return ticket;
  }

  // 503 with the reason, then close: no session involved. What the peer sent is read and
  // dropped until it closes (at most a second), so that closing never resets the connection
  // before the peer has read the answer.
  void refuse(tcp::socket socket) {
    struct Refusal {
      explicit Refusal(tcp::socket s) : socket(std::move(s)), timer(socket.get_executor()) {}
      tcp::socket socket;
      net::steady_timer timer;
      std::string response;
      std::array<char, 512> sink{};
      void drain(const std::shared_ptr<Refusal>& self) {
        socket.async_read_some(net::buffer(sink),
                               [self](boost::system::error_code ec, std::size_t) {
                                 if (ec) {
                                   self->timer.cancel();
                                   return;
                                 }
                                 self->drain(self);
                               });
      }
    };
    auto refusal = std::make_shared<Refusal>(std::move(socket));
    refusal->response =
        "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: text/plain\r\n"
        "Content-Length: " +
        std::to_string(refused_why.size() + 1) + "\r\n\r\n" + refused_why + "\n";
    net::async_write(refusal->socket, net::buffer(refusal->response),
                     [refusal](boost::system::error_code ec, std::size_t) {
                       if (ec) return;
                       boost::system::error_code ignored;
                       refusal->socket.shutdown(tcp::socket::shutdown_send, ignored);
                       refusal->drain(refusal);
                       refusal->timer.expires_after(std::chrono::seconds(1));
                       refusal->timer.async_wait([refusal](boost::system::error_code) {
                         boost::system::error_code ignored_too;
                         refusal->socket.close(ignored_too);
                       });
                     });
  }

  void run() {
    std::mutex mutex;
    std::condition_variable cv;
    std::size_t running = shards.size();
    std::vector<std::thread> threads;
    std::vector<net::executor_work_guard<net::io_context::executor_type>> work;
    for (auto& shard : shards) {
      work.push_back(net::make_work_guard(shard.io_context()));
      threads.emplace_back([this, &shard, &mutex, &cv, &running] {
        shard.run(*engine);
        std::lock_guard lock(mutex);
        --running;
        cv.notify_all();
      });
    }
    net::post(shards.front().io_context(), [this] { do_accept(); });

    // Listening since construction and accepting from now on: systemd may start what needs us.
    service_notify::send("READY=1");
    if (const auto interval = service_notify::watchdog_interval()) watch(*interval);
    wait_for_signal();
    signals_ioc.run();  // until SIGTERM or SIGINT

    // Drain: stop accepting; let every shard finish its pass (its publishes go to the engine)
    // and the engine commit and acknowledge them; then ask every connection to close (4002,
    // after its queued acknowledgements). Each shard's run() returns when its last connection
    // is gone. All of it within the grace period.
    const auto deadline = std::chrono::steady_clock::now() + config.shutdown_grace;
    net::post(shards.front().io_context(), [this] {
      acceptor->close();
      accept_pause->cancel();
    });
    {
      auto passes_done = std::make_shared<std::promise<void>>();
      auto remaining = std::make_shared<std::atomic<std::size_t>>(shards.size());
      for (auto& shard : shards) {
        net::post(shard.io_context(), [&shard, this, passes_done, remaining] {
          shard.stop_requests(*engine);
          if (remaining->fetch_sub(1) == 1) passes_done->set_value();
        });
      }
      passes_done->get_future().wait_until(deadline);
      auto committed = std::make_shared<std::promise<void>>();
      engine->flush([committed] { committed->set_value(); });
      if (committed->get_future().wait_until(deadline) != std::future_status::ready) {
        logging::warn({"broker.commits_unfinished"},
                      "store commits still running at the end of the grace period");
      }
    }
    for (auto& shard : shards) {
      net::post(shard.io_context(), [&shard] { shard.shut_down_connections(); });
    }
    work.clear();
    {
      std::unique_lock lock(mutex);
      if (!cv.wait_until(lock, deadline, [&] { return running == 0; })) {
        logging::warn({"broker.handshakes_dropped"},
                      "closing handshakes still open after {} ms: dropping them",
                      config.shutdown_grace.count());
        for (auto& shard : shards) shard.io_context().stop();
      }
    }
    for (auto& thread : threads) thread.join();
    logging::info({"broker.stopped"}, "stopped");
  }

  // SIGHUP reloads the routing table and waits on; SIGTERM and SIGINT end the wait.
  void wait_for_signal() {
    signals.async_wait([this](boost::system::error_code ec, int signal) {
      if (ec) return;
      if (signal == SIGHUP) {
        service_notify::send("RELOADING=1");
        reload_routes();
        service_notify::send("READY=1");
        return wait_for_signal();
      }
      logging::info({"broker.signal"}, "received {}: shutting down",
                    signal == SIGINT ? "SIGINT" : "SIGTERM");
      service_notify::send("STOPPING=1");
      watchdog.cancel();
    });
  }

  // WATCHDOG=1 every half interval, and only when every shard's loop ran the probe posted to it
  // the half interval before: an I/O thread that is stuck stops the pings, and systemd restarts
  // the broker (WatchdogSec= in the unit).
  void watch(std::chrono::microseconds interval) {
    if (watchdog_answers.exchange(0) == shards.size()) service_notify::send("WATCHDOG=1");
    const auto round = ++watchdog_round;
    for (auto& shard : shards) {
      net::post(shard.io_context(), [this, round] {
        if (watchdog_round.load() == round) ++watchdog_answers;
      });
    }
    watchdog.expires_after(interval / 2);
    watchdog.async_wait([this, interval](boost::system::error_code ec) {
      if (!ec) watch(interval);
    });
  }

  // On the signals' thread, never an I/O thread's: the file is read and parsed here, and each
  // shard is handed the new table to use from its next publish on. A bad file changes nothing.
  void reload_routes() {
    if (config.routes_file.empty()) {
      return logging::info({"routes.nothing_to_reload"},
                           "received SIGHUP: nothing to reload (no --routes)");
    }
    try {
      auto routes = std::make_shared<const Routes>(Routes::load(config.routes_file));
      const auto subjects = routes->size();
      for (auto& shard : shards) {
        net::post(shard.io_context(), [&shard, routes] { shard.set_routes(routes); });
      }
      logging::info({"routes.reloaded"}, "received SIGHUP: routing table {} reloaded ({} subjects)",
                    config.routes_file.string(), subjects);
    } catch (const std::exception& e) {
      logging::error({"routes.reload_failed"},
                     "received SIGHUP: routing table not reloaded, the previous one stays: {}",
                     e.what());
    }
  }

  const Config config;
  // Caught from construction on, so that a signal sent as soon as the broker says it listens
  // is a clean shutdown, not a kill.
  net::io_context signals_ioc{1};
  net::signal_set signals{signals_ioc, SIGINT, SIGTERM, SIGHUP};
  net::steady_timer watchdog{signals_ioc};
  std::atomic<std::uint64_t> watchdog_round{0};
  std::atomic<std::size_t> watchdog_answers{0};
  Metrics metrics;
  std::deque<Shard> shards;
  ReceiverCensus census{shards};
  std::unique_ptr<Engine> engine;  // after shards: its batches reference them; destroyed first
  std::unique_ptr<jwt::Verifier> verifier;
  std::unique_ptr<net::ssl::context> tls;  // null: plain ws:// and http://
  BrokerContext context;
  std::shared_ptr<Admission> admission;
  std::optional<tcp::acceptor> acceptor;  // on the first shard's io_context: reset before it
  std::string refused_why;                // the accepting thread's: the last refusal
  std::size_t refused = 0;
  std::chrono::steady_clock::time_point last_refusal_log;
  std::size_t next_shard = 0;  // touched only by the accepting shard's thread
  // The accepting shard's: a descriptor kept free for answering when all others are in use.
  int reserve_fd = open_reserve();
  // On the first shard's io_context: reset before it, as the acceptor is.
  std::optional<net::steady_timer> accept_pause{std::in_place, shards.front().io_context()};
  std::chrono::milliseconds accept_backoff{0};
  std::size_t accept_failures = 0;
  std::chrono::steady_clock::time_point last_accept_failure_log;
};

Server::Server(Config config) {
  check_config(config);
  // Open to anyone only where only this machine can reach it, unless told otherwise.
  const auto address = resolve_listen(config).address();
  if (!address.is_loopback() && !config.auth.configured() && !config.auth.allow_anonymous) {
    throw std::invalid_argument(
        "listening on " + address.to_string() +
        " without authentication: give --jwt-secret-file or --jwt-public-key, or "
        "--allow-anonymous to let anyone publish and subscribe");
  }
  warn_if_descriptors_short(config);
  // Before the store is opened: a bad certificate is a configuration error, found first.
  auto tls = config.tls.enabled() ? make_tls_context(config.tls) : nullptr;
  if (!address.is_loopback() && !tls) {
    logging::warn({"broker.plain_listener"},
                  "serving plain ws:// and http:// on {}: give --tls-cert and --tls-key, or "
                  "terminate TLS in front of the broker",
                  address.to_string());
  }
  // Read before the store is opened too: a bad table is a configuration error.
  auto routes = config.routes_file.empty()
                    ? std::make_shared<const Routes>()
                    : std::make_shared<const Routes>(Routes::load(config.routes_file));
  if (routes->size() != 0) {
    logging::info({"routes.loaded"}, "routing table {}: {} subjects", config.routes_file.string(),
                  routes->size());
  }
  impl_ = std::make_unique<Impl>(std::move(config), std::move(tls), routes);
}

Server::~Server() = default;

tcp::endpoint Server::local_endpoint() const {
  return impl_->acceptor->local_endpoint();
}

std::size_t Server::io_threads() const {
  return impl_->shards.size();
}

void Server::run() {
  impl_->run();
}

}  // namespace kabar::broker
