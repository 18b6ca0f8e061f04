// kabar-bench: load tests a kabar broker over loopback (SPEC section 6).
//
// One thread, one epoll loop (event_loop.hpp), lean connections (connection.hpp): the bench
// must cost less CPU than what it measures. Every run is bounded in time and count.
#include <arpa/inet.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <CLI/CLI.hpp>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <deque>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "broker_metrics.hpp"
#include "connection.hpp"
#include "histogram.hpp"
#include "kabar/version.hpp"
#include "proc.hpp"
#include "report.hpp"
#include "scenario.hpp"
#include "wire.hpp"

namespace kabar::bench {
namespace {

using Clock = std::chrono::steady_clock;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

struct Options {
  Scenario scenario = Scenario::kFanout;
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  std::uint16_t publish_port = 0;  // --publish-url: publishers on another broker (0: the same)
  std::uint32_t subscribers = 100;
  std::uint32_t publishers = 1;
  std::uint32_t topics = 1;
  std::uint32_t topics_per_subscriber = 1;
  std::size_t payload = 1024;
  double rate = 0;            // articles/s over all publishers; 0 = closed loop
  std::uint32_t window = 16;  // closed loop: articles in flight
  double duration = 5;        // measured seconds
  double warmup = 1;
  std::uint32_t source_addresses = 0;  // 127.0.0.1..N; 0 = enough for the connection count
  std::uint32_t connect_concurrency = 512;
  bool flash = true;               // connections scenario: one article to everyone at the end
  std::uint64_t missed = 100'000;  // recovery scenario: articles stored before subscribing
  int broker_pid = 0;
  bool json = false;              // report as one JSON object
  bool json_subscribers = false;  // --format json: subscribers speak kabar.v1.json
  bool http = false;              // ingest --http: publishers POST /v1/articles
  bool tls = false;               // wss:// URLs
  std::string tls_ca;             // --tls-ca: the CA the broker's certificate is checked against
};

struct SslContextFree {
  void operator()(SSL_CTX* context) const { SSL_CTX_free(context); }
};

// The client context of a wss:// run: TLS 1.2 or later, the broker's certificate checked against
// `ca` (the system's CAs when empty) and for `host`, the loopback address connected to.
std::unique_ptr<SSL_CTX, SslContextFree> make_tls_context(const std::string& ca,
                                                          const std::string& host) {
  std::unique_ptr<SSL_CTX, SslContextFree> context(SSL_CTX_new(TLS_client_method()));
  if (!context) throw std::runtime_error("OpenSSL: cannot make a client context");
  SSL_CTX_set_min_proto_version(context.get(), TLS1_2_VERSION);
  // TLS 1.3's suites in the order browsers offer them (OpenSSL's own puts AES-256 first).
  SSL_CTX_set_ciphersuites(context.get(),
                           "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                           "TLS_CHACHA20_POLY1305_SHA256");
  const bool loaded = ca.empty()
                          ? SSL_CTX_set_default_verify_paths(context.get()) == 1
                          : SSL_CTX_load_verify_locations(context.get(), ca.c_str(), nullptr) == 1;
  if (!loaded) throw std::runtime_error("--tls-ca: cannot read certificates from " + ca);
  SSL_CTX_set_verify(context.get(), SSL_VERIFY_PEER, nullptr);
  X509_VERIFY_PARAM_set1_ip_asc(SSL_CTX_get0_param(context.get()), host.c_str());
  return context;
}

std::string random_run_id() {
  std::random_device random;
  char text[16];
  std::snprintf(text, sizeof text, "%08x", random());
  return text;
}

/// Subscribers, publishers and the bookkeeping that checks every delivery.
class Run final : public ConnectionEvents {
 public:
  explicit Run(Options options) : o_(std::move(options)) {
    const std::uint64_t connections = std::uint64_t{o_.subscribers} + o_.publishers;
    raise_file_limit(connections + 1024);
    addresses_ = o_.source_addresses != 0 ? o_.source_addresses
                                          : static_cast<std::uint32_t>((connections + 999) / 1'000);
    broker_.sin_family = AF_INET;
    broker_.sin_port = htons(o_.port);
    if (inet_pton(AF_INET, o_.host.c_str(), &broker_.sin_addr) != 1) {
      throw std::invalid_argument("not an IPv4 address: " + o_.host);
    }
    publish_broker_ = broker_;
    if (o_.publish_port != 0) publish_broker_.sin_port = htons(o_.publish_port);
    if (o_.tls) tls_ = make_tls_context(o_.tls_ca, o_.host);
    expected_.assign(std::size_t{o_.subscribers} * o_.topics_per_subscriber, 0);
    subscribers_per_topic_ =
        static_cast<double>(o_.subscribers) * o_.topics_per_subscriber / o_.topics;
    topic_names_.reserve(o_.topics);
    for (std::uint32_t t = 0; t < o_.topics; ++t) {
      topic_names_.push_back(topic_name(o_.scenario, t, run_id_));
    }
    if (recovery_) std::fill(expected_.begin(), expected_.end(), 1);
  }

  int run() {
    started_ = Clock::now();
    if (o_.broker_pid != 0) rss_before_ = process_rss_kib(o_.broker_pid);
    const auto total = o_.subscribers + o_.publishers;
    connections_.reserve(total);
    const auto subscriber_wire = o_.json_subscribers ? Wire::kJson : Wire::kProto;
    const auto publisher_wire = o_.http ? Wire::kHttp : Wire::kProto;
    for (std::uint32_t i = 0; i < total; ++i) {
      connections_.push_back(std::make_unique<Connection>(
          loop_, *this, i, i < o_.subscribers ? subscriber_wire : publisher_wire, tls_.get()));
    }
    http_in_flight_.resize(o_.publishers);
    while (next_to_start_ < std::min(total, o_.connect_concurrency)) start_next();
    loop_.every(std::chrono::milliseconds(o_.rate > 0 ? 1 : 100), [this] { on_tick(); });
    // Bounded: connecting may take at most 120 s plus the run.
    loop_.run_for(std::chrono::seconds(120) + std::chrono::milliseconds(static_cast<long>(
                                                  (o_.warmup + o_.duration + 10) * 1000)));
    return report();
  }

 private:
  bool is_publisher(const Connection& c) const { return c.index() >= o_.subscribers; }

  void start_next() {
    const auto i = next_to_start_++;
    in_addr local{};
    local.s_addr = htonl((127U << 24) | (1 + (i % addresses_)));  // 127.0.0.1, 127.0.0.2, ...
    connections_[i]->start(i < o_.subscribers ? broker_ : publish_broker_, local);
  }

  void on_open(Connection& c) override {
    if (c.http()) {  // no Connect over HTTP: ready at once
      ++ready_;
      return ready_check();
    }
    const auto name = is_publisher(c) ? "bench-pub" : "bench-sub";
    c.send(c.json() ? json_connect(1, name) : encode_connect(1, name));
    if (is_publisher(c) || o_.scenario == Scenario::kRecovery) return;
    for (std::uint32_t m = 0; m < o_.topics_per_subscriber; ++m) {
      const auto& topic = topic_names_[(c.index() + m) % o_.topics];
      c.send(c.json() ? json_subscribe(2 + m, topic) : encode_subscribe(2 + m, topic));
    }
  }

  void on_message(Connection& c, std::string_view payload) override {
    if (measuring_) ++frames_measured_;
    const auto delivered = [&](const DeliveryView& d) { on_delivery(c, d); };
    const auto replied = [&](const ReplyView& r) { on_reply(c, r); };
    const bool ok = c.json() ? read_json_server_message(payload, delivered, replied)
                             : read_server_message(payload, delivered, replied);
    if (!ok) ++errors_;
  }

  // An HTTP publisher's answer: to the oldest POST in flight on its connection.
  void on_http_answer(Connection& c, int status, std::string_view body) override {
    if (measuring_) ++frames_measured_;
    auto& in_flight = http_in_flight_[c.index() - o_.subscribers];
    if (in_flight.empty()) {
      ++errors_;
      return;
    }
    const bool stored = status == 201 || status == 200;
    const ReplyView reply{.id = in_flight.front(),
                          .error = !stored,
                          .error_message = stored ? std::string_view() : body,
                          .duplicate = status == 200};
    in_flight.pop_front();
    on_reply(c, reply);
  }

  void on_closed(Connection& c, std::string_view why) override {
    if (stopping_) return;
    ++disconnects_;
    if (disconnect_samples_ < 5) {
      ++disconnect_samples_;
      std::cerr << "kabar-bench: connection " << c.index() << ": " << why << '\n';
    }
    if (!all_ready_) ready_check();
  }

  void on_reply(Connection& c, const ReplyView& r) {
    if (r.error) {
      ++errors_;
      if (error_samples_++ < 5)
        std::cerr << "kabar-bench: error reply: " << r.error_message << '\n';
      return;
    }
    if (is_publisher(c)) {
      if (r.id == 1) {
        ++ready_;
        ready_check();
        return;
      }
      const auto it = publish_sent_.find(r.id);
      if (it != publish_sent_.end()) {
        if (measuring_) {
          ack_latency_.record(static_cast<std::uint64_t>(now_ns() - it->second));
          ++acked_measured_;
        }
        publish_sent_.erase(it);
      }
      if (r.duplicate) ++duplicates_;  // every bench article is new: the broker got it wrong
      ++acked_;
      if (paced_by_acks(o_.scenario)) publish_more();
      return;
    }
    const auto ready_reply = o_.scenario == Scenario::kRecovery ? 1U : 1 + o_.topics_per_subscriber;
    if (r.id == ready_reply) {  // Connect, or the last Subscribe, of this subscriber
      ++ready_;
      ready_check();
      if (next_to_start_ < connections_.size()) start_next();
    }
  }

  void on_delivery(Connection& c, const DeliveryView& d) {
    ++received_;
    if (measuring_) {
      ++received_measured_;
      latency_.record(static_cast<std::uint64_t>(std::max<std::int64_t>(0, now_ns() - d.sent_ns)));
    }
    if (flash_sent_ns_ != 0) {
      flash_last_ns_ = now_ns();
      ++flash_received_;
    }
    // Offsets must follow each other per (subscriber, topic): no gap, no duplicate.
    std::uint32_t topic = 0;
    if (d.topic.size() > 7 && d.topic.substr(0, 7) == "bench.t") {
      const auto digits = d.topic.substr(7);
      std::from_chars(digits.data(), digits.data() + digits.size(), topic);
    }
    const auto slot = (topic + o_.topics - c.index() % o_.topics) % o_.topics;
    auto& expected = expected_[std::size_t{c.index()} * o_.topics_per_subscriber +
                               std::min(slot, o_.topics_per_subscriber - 1)];
    if (expected != 0 && d.offset != expected) {
      if (d.offset < expected) {
        ++duplicates_;
      } else {
        gaps_ += d.offset - expected;
      }
    }
    expected = d.offset + 1;
    if (recovery_) {
      if (received_ == o_.missed * o_.subscribers) {
        caught_up_ns_ = now_ns();
        finish();
      }
      return;
    }
    publish_more();
  }

  // Recovery: every article is stored; now each subscriber asks for all of them at once.
  void start_catch_up() {
    catch_up_started_ns_ = now_ns();
    for (std::uint32_t i = 0; i < o_.subscribers; ++i) {
      auto& c = *connections_[i];
      c.send(c.json() ? json_subscribe(2, topic_names_.front(), true)
                      : encode_subscribe(2, topic_names_.front(), true));
    }
  }

  void ready_check() {
    if (all_ready_) return;
    if (ready_ + disconnects_ < connections_.size()) return;
    all_ready_ = true;
    ready_at_ = Clock::now();
    if (o_.broker_pid != 0) rss_ready_ = process_rss_kib(o_.broker_pid);
    if (o_.scenario == Scenario::kConnections) {
      if (!o_.flash) return finish();
      flash_sent_ns_ = now_ns();
      publish(0);
      return;
    }
    phase_started_ = Clock::now();
    publish_more();
  }

  void publish(std::uint32_t topic) {
    const auto p = o_.subscribers + (publish_count_ % o_.publishers);
    const auto id = ++next_request_id_;
    const auto sent = now_ns();
    if (measuring_) publish_sent_[id] = sent;
    auto& c = *connections_[p];
    if (c.http()) {
      http_in_flight_[p - o_.subscribers].push_back(id);
      c.send(encode_article(id, run_id_, topic_names_[topic], o_.payload, sent));
    } else {
      c.send(encode_publish(id, run_id_, topic_names_[topic], o_.payload, sent));
    }
    ++publish_count_;
    if (measuring_) ++published_measured_;
  }

  // Closed loop: keep `window` articles' deliveries (ingest, recovery: acknowledgements)
  // outstanding.
  void publish_more() {
    if (!all_ready_ || publishing_done_ || o_.rate > 0 || o_.scenario == Scenario::kConnections)
      return;
    if (recovery_) {
      while (publish_count_ < o_.missed && publish_count_ - acked_ < o_.window) publish(0);
      if (acked_ == o_.missed && catch_up_started_ns_ == 0) start_catch_up();
      return;
    }
    if (o_.scenario == Scenario::kIngest) {
      while (publish_count_ - acked_ < o_.window) publish(0);
      return;
    }
    const double limit = o_.window * subscribers_per_topic_;
    while (static_cast<double>(publish_count_) * subscribers_per_topic_ -
               static_cast<double>(received_) <
           limit) {
      publish(static_cast<std::uint32_t>(publish_count_ % o_.topics));
    }
  }

  void on_tick() {
    const auto now = Clock::now();
    if (!all_ready_) {
      if (now - last_progress_ >= std::chrono::seconds(1)) {
        last_progress_ = now;
        if (!o_.json) {
          std::cerr << "connecting: " << ready_ << "/" << connections_.size() << " ready, "
                    << disconnects_ << " failed\n";
        }
      }
      return;
    }
    if (o_.scenario == Scenario::kRecovery) {
      if (now - last_progress_ >= std::chrono::seconds(1) && !o_.json) {
        last_progress_ = now;
        std::fprintf(stderr, "[%5.1fs] stored %lu/%lu, caught up %lu/%lu\n",
                     std::chrono::duration<double>(now - ready_at_).count(), acked_, o_.missed,
                     received_, o_.missed * o_.subscribers);
      }
      if (now - ready_at_ > std::chrono::seconds(300)) finish();  // bounded
      return;
    }
    if (o_.scenario == Scenario::kConnections) {
      if (flash_received_ >=
              o_.subscribers - std::min<std::uint64_t>(disconnects_, o_.subscribers) ||
          now - ready_at_ > std::chrono::seconds(10)) {
        finish();
      }
      return;
    }
    const double elapsed = std::chrono::duration<double>(now - phase_started_).count();
    if (!measuring_ && !publishing_done_ && elapsed >= o_.warmup) {
      measuring_ = true;
      measure_started_ = now;
      self_cpu_start_ = self_cpu_seconds();
      self_waits_start_ = thread_waits(getpid());
      if (o_.broker_pid != 0) {
        broker_cpu_start_ = process_cpu_seconds(o_.broker_pid);
        broker_waits_start_ = thread_waits(o_.broker_pid);
      }
      if (!o_.tls) metrics_start_ = scrape_metrics(o_.host, o_.port);
    }
    if (o_.rate > 0 && !publishing_done_) {
      // Publish what is due by now at the requested rate.
      const double due = o_.rate * elapsed;
      while (static_cast<double>(publish_count_) < due) {
        publish(static_cast<std::uint32_t>(publish_count_ % o_.topics));
      }
    }
    if (measuring_ && !publishing_done_ && elapsed >= o_.warmup + o_.duration) {
      measuring_ = false;
      publishing_done_ = true;
      measure_seconds_ = std::chrono::duration<double>(now - measure_started_).count();
      self_cpu_ = self_cpu_seconds() - self_cpu_start_;
      self_wait_ = waited_between(self_waits_start_, thread_waits(getpid()));
      if (o_.broker_pid != 0) {
        const auto cpu = process_cpu_seconds(o_.broker_pid);
        if (cpu && broker_cpu_start_) broker_cpu_ = *cpu - *broker_cpu_start_;
        broker_wait_ = waited_between(broker_waits_start_, thread_waits(o_.broker_pid));
      }
      if (metrics_start_) metrics_end_ = scrape_metrics(o_.host, o_.port);
      drain_deadline_ = now + std::chrono::seconds(5);
    }
    if (publishing_done_ && (all_delivered() || now >= drain_deadline_)) return finish();
    if (now - last_progress_ >= std::chrono::seconds(1) && !o_.json) {
      last_progress_ = now;
      const double window = std::chrono::duration<double>(now - last_progress_at_).count();
      last_progress_at_ = now;
      const bool ingest = o_.scenario == Scenario::kIngest;
      const auto counted = ingest ? acked_ : received_;
      const auto delta = counted - last_received_;
      last_received_ = counted;
      std::fprintf(stderr, "[%5.1fs] %s %s/s  p99 %s  connections %zu%s\n", elapsed,
                   si(static_cast<double>(delta) / window).c_str(), ingest ? "acks" : "deliveries",
                   ms((ingest ? ack_latency_ : latency_).quantile(0.99)).c_str(),
                   connections_.size() - disconnects_, measuring_ ? "" : "  (warm-up)");
    }
  }

  bool all_delivered() const {
    if (o_.scenario == Scenario::kIngest) return acked_ >= publish_count_;
    return static_cast<double>(received_) >=
           static_cast<double>(publish_count_) * subscribers_per_topic_;
  }

  void finish() {
    if (finished_) return;
    finished_ = true;
    stopping_ = true;
    for (auto& c : connections_) c->close();
    loop_.stop();
  }

  int report() {
    if (recovery_) return report_recovery();
    const bool ingest = o_.scenario == Scenario::kIngest;
    const auto expected_total = ingest
                                    ? static_cast<double>(publish_count_)
                                    : static_cast<double>(publish_count_) * subscribers_per_topic_;
    const auto received_total = ingest ? acked_ : received_;
    const TrafficReport r{
        .scenario = o_.scenario,
        .json_subscribers = o_.json_subscribers,
        .http_publishers = o_.http,
        .subscribers = o_.subscribers,
        .publishers = o_.publishers,
        .topics = o_.topics,
        .payload_bytes = o_.payload,
        .deliveries_per_s = per_second(static_cast<double>(received_measured_)),
        .publishes_per_s = per_second(static_cast<double>(published_measured_)),
        .acks_per_s = per_second(static_cast<double>(acked_measured_)),
        .latency = Latency::of(latency_),
        .ack_latency = Latency::of(ack_latency_),
        .failures = failures(
            all_ready_ ? std::max(0.0, expected_total - static_cast<double>(received_total)) : 0),
        .broker_measured = o_.broker_pid != 0,
        .bench_cpu = per_second(self_cpu_),
        .broker_cpu = per_second(broker_cpu_),
        .bench_cpu_waited = per_second(self_wait_),
        .broker_cpu_waited = per_second(broker_wait_),
        .deliveries_per_message = frames_measured_ > 0 ? static_cast<double>(received_measured_) /
                                                             static_cast<double>(frames_measured_)
                                                       : 0,
        .setup_s = all_ready_ ? std::chrono::duration<double>(ready_at_ - started_).count() : 0,
        .broker_rss_kib_per_connection = rss_per_connection(),
        .flash = o_.flash,
        .flash_last_ms = flash_ms(),
        .stages = metrics_start_ && metrics_end_ ? stages_between(*metrics_start_, *metrics_end_)
                                                 : std::vector<Stage>{}};
    if (o_.json) {
      print_json(r);
    } else {
      print_table(r);
    }
    return r.failures.any() ? 1 : 0;
  }

  int report_recovery() {
    const auto wanted = o_.missed * o_.subscribers;
    const double seconds =
        caught_up_ns_ != 0 ? static_cast<double>(caught_up_ns_ - catch_up_started_ns_) / 1e9 : 0;
    const RecoveryReport r{
        .json_subscribers = o_.json_subscribers,
        .subscribers = o_.subscribers,
        .missed = o_.missed,
        .payload_bytes = o_.payload,
        .store_s = catch_up_started_ns_ != 0
                       ? static_cast<double>(catch_up_started_ns_) / 1e9 -
                             std::chrono::duration<double>(ready_at_.time_since_epoch()).count()
                       : 0,
        .catch_up_s = seconds,
        .catch_up_articles_per_s = seconds > 0 ? static_cast<double>(wanted) / seconds : 0,
        .failures = failures(static_cast<double>(wanted - std::min(wanted, received_)))};
    if (o_.json) {
      print_json(r);
    } else {
      print_table(r);
    }
    return r.failures.any() ? 1 : 0;
  }

  // Timing out is a failure of the traffic scenarios; recovery reports what did not arrive.
  Failures failures(double lost) const {
    return {.errors = errors_,
            .disconnects = disconnects_,
            .gaps = gaps_,
            .duplicates = duplicates_,
            .lost = lost,
            .timed_out = !finished_ && !recovery_};
  }

  double per_second(double seconds) const {
    return measure_seconds_ > 0 ? seconds / measure_seconds_ : 0;
  }

  double rss_per_connection() const {
    if (!rss_before_ || !rss_ready_ || o_.subscribers == 0) return 0;
    return (*rss_ready_ - *rss_before_) / static_cast<double>(o_.subscribers + o_.publishers);
  }
  double flash_ms() const {
    return flash_sent_ns_ != 0 && flash_last_ns_ != 0
               ? static_cast<double>(flash_last_ns_ - flash_sent_ns_) / 1e6
               : 0;
  }

  Options o_;
  const bool recovery_ = o_.scenario == Scenario::kRecovery;  // asked per delivery
  const std::string run_id_ = random_run_id();
  std::unique_ptr<SSL_CTX, SslContextFree> tls_;  // wss://: before the connections using it
  EventLoop loop_;
  sockaddr_in broker_{};
  sockaddr_in publish_broker_{};  // where publishers connect: broker_ unless --publish-url
  std::uint32_t addresses_ = 1;
  std::vector<std::unique_ptr<Connection>> connections_;
  std::vector<std::string> topic_names_;
  std::vector<std::uint64_t> expected_;  // next offset per (subscriber, topic slot); 0 = any
  double subscribers_per_topic_ = 0;
  std::unordered_map<std::uint32_t, std::int64_t> publish_sent_;
  Histogram latency_, ack_latency_;
  std::uint32_t next_to_start_ = 0;
  std::uint32_t next_request_id_ = 100;
  std::vector<std::deque<std::uint32_t>> http_in_flight_;  // per HTTP publisher, oldest first
  std::uint64_t ready_ = 0, received_ = 0, received_measured_ = 0;
  std::uint64_t publish_count_ = 0, published_measured_ = 0, acked_ = 0, acked_measured_ = 0;
  std::int64_t catch_up_started_ns_ = 0, caught_up_ns_ = 0;
  std::uint64_t errors_ = 0, disconnects_ = 0, gaps_ = 0, duplicates_ = 0;
  std::uint64_t last_received_ = 0, flash_received_ = 0, frames_measured_ = 0;
  int disconnect_samples_ = 0, error_samples_ = 0;
  std::int64_t flash_sent_ns_ = 0, flash_last_ns_ = 0;
  bool all_ready_ = false, measuring_ = false, publishing_done_ = false;
  bool finished_ = false, stopping_ = false;
  Clock::time_point started_, ready_at_, phase_started_, measure_started_;
  Clock::time_point last_progress_, last_progress_at_, drain_deadline_;
  double measure_seconds_ = 0, self_cpu_start_ = 0, self_cpu_ = 0, broker_cpu_ = 0;
  double self_wait_ = 0, broker_wait_ = 0;
  std::optional<double> broker_cpu_start_;
  std::optional<ThreadWaits> self_waits_start_, broker_waits_start_;
  std::optional<double> rss_before_, rss_ready_;
  std::optional<std::string> metrics_start_, metrics_end_;  // the broker's, over the measurement
};

}  // namespace
}  // namespace kabar::bench

int main(int argc, char** argv) {
  using kabar::bench::Scenario;
  kabar::bench::Options o;
  CLI::App app{"kabar-bench: load-test a kabar broker over loopback"};
  app.set_version_flag("--version", kabar::version_line());
  app.require_subcommand(1);
  std::string url = "ws://127.0.0.1:8080/v1/ws";
  auto common = [&](CLI::App* s) {
    s->add_option("--url", url, "broker WebSocket URL, ws:// or wss:// (loopback only)")
        ->capture_default_str();
    s->add_option("--tls-ca", o.tls_ca,
                  "wss://: the CA certificate (PEM) the broker's is checked against (default: "
                  "the system's)")
        ->check(CLI::ExistingFile);
    s->add_option("--source-addresses", o.source_addresses,
                  "spread connections over 127.0.0.1..N (0: one per 1 000 connections, the "
                  "broker's default per-address limit)");
    s->add_option("--connect-concurrency", o.connect_concurrency, "handshakes in flight")
        ->capture_default_str();
    s->add_option("--broker-pid", o.broker_pid, "read the broker's CPU and RSS from /proc");
    s->add_flag("--json", o.json, "one JSON object on stdout instead of the table");
  };
  auto traffic = [&](CLI::App* s) {
    s->add_option("--publishers,-p", o.publishers)
        ->capture_default_str()
        ->check(CLI::Range(1U, 10'000U));
    s->add_option("--payload", o.payload, "article body bytes")->capture_default_str();
    s->add_option("--rate", o.rate, "articles/s over all publishers (0: closed loop)")
        ->capture_default_str();
    s->add_option("--window", o.window, "closed loop: articles in flight")->capture_default_str();
    s->add_option("--duration", o.duration, "measured seconds")
        ->capture_default_str()
        ->check(CLI::Range(0.1, 3600.0));
    s->add_option("--warmup", o.warmup, "seconds before measuring")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 600.0));
  };
  std::string format = "proto";
  auto wire_format = [&](CLI::App* s) {
    s->add_option("--format", format,
                  "the subscribers' subprotocol: proto (kabar.v1.proto) or "
                  "json (kabar.v1.json, as browsers); publishers use proto")
        ->capture_default_str()
        ->check(CLI::IsMember({"proto", "json"}));
  };
  auto subscribers = [&](CLI::App* s) {
    s->add_option("--subscribers,-n", o.subscribers)
        ->capture_default_str()
        ->check(CLI::Range(1U, 1'000'000U));
    wire_format(s);
  };
  auto* fanout = app.add_subcommand("fanout", "P publishers -> 1 topic -> N subscribers");
  common(fanout);
  subscribers(fanout);
  traffic(fanout);
  std::string publish_url;
  fanout->add_option("--publish-url", publish_url,
                     "publishers connect here (another broker on the same NATS stream: the "
                     "latency is publish on one broker -> delivery from another)");
  auto* topics = app.add_subcommand("topics", "N subscribers each on k of T topics");
  common(topics);
  subscribers(topics);
  traffic(topics);
  topics->add_option("--topics,-t", o.topics)
      ->capture_default_str()
      ->check(CLI::Range(1U, 100'000U));
  topics->add_option("--topics-per-subscriber,-k", o.topics_per_subscriber)->capture_default_str();
  auto* connections =
      app.add_subcommand("connections", "N idle subscribers: memory and setup rate");
  common(connections);
  subscribers(connections);
  connections->add_flag("!--no-flash", o.flash, "skip the final one-article flash to everyone");
  auto* ingest = app.add_subcommand("ingest", "P publishers: acknowledged (stored) publishes/s");
  common(ingest);
  traffic(ingest);
  ingest->add_flag("--http", o.http,
                   "publish with POST /v1/articles (a binary kabar.v1.Article, HTTP/1.1 "
                   "keep-alive, the window pipelined) instead of the WebSocket");
  auto* recovery = app.add_subcommand(
      "recovery", "store M articles, then N subscribers recover them all: catch-up articles/s");
  common(recovery);
  recovery->add_option("--subscribers,-n", o.subscribers, "subscribers catching up together")
      ->default_str("1")
      ->check(CLI::Range(1U, 1000U));
  wire_format(recovery);
  recovery->add_option("--missed,-m", o.missed, "articles each one missed")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{10'000'000}));
  recovery->add_option("--payload", o.payload, "article body bytes")->capture_default_str();
  recovery->add_option("--window", o.window, "publishes in flight while storing")
      ->capture_default_str();
  try {
    app.parse(argc, argv);
    const auto* chosen = app.get_subcommands().front();
    for (const auto& [command, scenario] :
         {std::pair{fanout, Scenario::kFanout}, std::pair{topics, Scenario::kTopics},
          std::pair{connections, Scenario::kConnections}, std::pair{ingest, Scenario::kIngest},
          std::pair{recovery, Scenario::kRecovery}}) {
      if (command == chosen) o.scenario = scenario;
    }
    o.json_subscribers = format == "json";
    if (o.scenario == Scenario::kIngest) o.subscribers = 0;
    if (o.scenario == Scenario::kRecovery && recovery->count("--window") == 0) o.window = 256;
    if (o.scenario == Scenario::kRecovery && recovery->count("--subscribers") == 0) {
      o.subscribers = 1;
    }
    if (o.topics_per_subscriber > o.topics) {
      throw CLI::ValidationError("--topics-per-subscriber", "must not exceed --topics");
    }
    // ws:// or wss://127.x.y.z:PORT/..., loopback only: TLS, the host and the port.
    const auto parse_url = [&o](const std::string& flag, const std::string& value) {
      const bool tls = value.rfind("wss://", 0) == 0;
      const std::string prefix = tls ? "wss://" : "ws://";
      const auto rest = value.rfind(prefix, 0) == 0 ? value.substr(prefix.size()) : "";
      const auto colon = rest.find(':');
      if (colon == std::string::npos) {
        throw CLI::ValidationError(flag, "expected ws:// or wss://127.x.y.z:PORT/v1/ws");
      }
      if (flag == "--url") o.tls = tls;
      if (tls != o.tls) throw CLI::ValidationError(flag, "must use --url's scheme");
      const auto host = rest.substr(0, colon);
      if (host.rfind("127.", 0) != 0) {
        throw CLI::ValidationError(flag, "kabar-bench only targets loopback (127.0.0.0/8)");
      }
      const auto port = std::strtoul(rest.c_str() + colon + 1, nullptr, 10);
      if (port == 0 || port > 65535) throw CLI::ValidationError(flag, "no port 1 to 65535");
      return std::pair{host, static_cast<std::uint16_t>(port)};
    };
    std::tie(o.host, o.port) = parse_url("--url", url);
    if (!o.tls_ca.empty() && !o.tls) {
      throw CLI::ValidationError("--tls-ca", "is for a wss:// --url");
    }
    if (o.tls && o.http) throw CLI::ValidationError("--http", "speaks plain HTTP only");
    if (!publish_url.empty()) {
      const auto [host, port] = parse_url("--publish-url", publish_url);
      if (host != o.host) {
        throw CLI::ValidationError("--publish-url", "must be on --url's address, " + o.host);
      }
      o.publish_port = port;
    }
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    kabar::bench::Run run(o);
    return run.run();
  } catch (const std::exception& e) {
    std::cerr << "kabar-bench: error: " << e.what() << '\n';
    return 2;
  }
}
