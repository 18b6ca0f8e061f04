#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace kabar::broker {

/// The largest values an operator may configure: far past any sensible setting, and within what
/// the clocks (nanoseconds, to 2262) and offsets (int64) compute without overflow.
inline constexpr std::chrono::milliseconds kMaxTimeout = std::chrono::hours(24);
inline constexpr std::chrono::seconds kMaxJwtLeeway = std::chrono::hours(24);
inline constexpr std::int64_t kMaxRetentionHours = 1'000'000'000;  ///< "keep forever"
inline constexpr std::uint64_t kMaxRetentionCount = 1'000'000'000'000'000;
inline constexpr double kMaxRate = 1e9;  ///< per second; 0 means unlimited
inline constexpr std::size_t kMaxNatsCacheBytes = std::size_t{65536} << 20;  ///< 64 GiB

/// How long a topic keeps its articles: the last `max_count`, none older than `max_age`.
struct RetentionLimits {
  std::uint64_t max_count = 1'000'000;
  std::chrono::seconds max_age{7 * 24 * 3600};
};

/// Limits for the topics a pattern matches, e.g. sports.> keeps a day.
struct RetentionRule {
  std::string pattern;
  RetentionLimits limits;
};

struct Retention {
  RetentionLimits defaults;
  std::vector<RetentionRule> rules;  ///< the first rule whose pattern matches a topic wins
  std::chrono::milliseconds sweep_interval{10'000};  ///< how often trimming runs

  [[nodiscard]] const RetentionLimits& for_topic(const std::string& topic) const;
};

/// When a publisher is acknowledged.
enum class Durability {
  kFull,     ///< after its commit reached the disk (fsync): survives power loss
  kRelaxed,  ///< after its commit reached the OS: survives kill -9, not power loss or a kernel
             ///< crash
};

struct StoreOptions {
  std::filesystem::path data_dir = "kabar-data";
  Durability durability = Durability::kFull;
  Retention retention;
  /// A zero-length kabar.db (a failed restore) is refused unless this says to start a new
  /// history in it.
  bool allow_empty_store = false;
};

/// Who may connect: JWTs verified with a shared secret (HS256) or a public key (RS256/ES256).
struct AuthOptions {
  std::string hs256_secret;
  std::string public_key_pem;
  std::string issuer;               ///< when set, tokens must carry this iss
  std::string audience;             ///< when set, tokens must carry this aud
  std::chrono::seconds leeway{30};  ///< clock skew allowed on exp and nbf
  bool allow_anonymous = false;     ///< connections without a token (full rights)

  [[nodiscard]] bool configured() const { return !hs256_secret.empty() || !public_key_pem.empty(); }
};

/// TLS on the listener (wss:// and https://); without a certificate the listener is plain
/// ws:// and http://, for loopback development or behind a TLS-terminating proxy.
struct TlsOptions {
  std::string certificate_file;  ///< PEM: the server's certificate, then any intermediates
  std::string private_key_file;  ///< PEM, unencrypted

  [[nodiscard]] bool enabled() const { return !certificate_file.empty(); }
};

/// Where articles live.
enum class StoreKind {
  kSqlite,  ///< the embedded durable store in the data directory (the default)
  kMemory,  ///< offsets only, no history: nothing survives a restart
  kNats,    ///< a NATS JetStream stream that several brokers share
};

/// The JetStream stream of --store nats, and how to reach it.
struct NatsOptions {
  std::vector<std::string> urls;  ///< nats://host:port, several for a cluster
  std::string stream = "KABAR";   ///< [A-Za-z0-9_-], at most 32: the subject is kabar.<stream>.log
  int replicas = 3;               ///< of a stream this broker creates (1 to 5)
  std::string credentials_file;   ///< a NATS .creds file (user JWT and NKey seed)
  std::string ca_file;            ///< PEM: trust these CAs and require TLS
  std::string certificate_file;   ///< PEM: a client certificate (with key_file)
  std::string key_file;
  /// How long a publish keeps retrying (an election, a lost server) before UNAVAILABLE.
  std::chrono::milliseconds publish_timeout{10'000};
  /// The latest entries of the log kept in memory for history reads (0: read every one from
  /// the stream).
  std::size_t cache_bytes = std::size_t{256} << 20;
};

/// Everything the broker can be told, each with its default. Checked once, by check_config(),
/// before the broker starts.
struct Config {
  std::string listen_host = "127.0.0.1";      ///< an IP address (no DNS lookups) or "localhost"
  std::uint16_t listen_port = 8080;           ///< 0 picks a free port (logged at startup)
  unsigned io_threads = 0;                    ///< shards, one I/O thread each; 0 = one per core
  std::size_t max_message_bytes = 1 << 20;    ///< largest WebSocket message accepted (1009 above)
  std::size_t max_article_bytes = 256 << 10;  ///< largest encoded article accepted for publish
  std::size_t send_queue_bytes = 4 << 20;     ///< per connection; past it: close 4001 slow consumer
  bool io_uring = true;  ///< a pass's sends in one system call (false: one sendmsg each)
  std::chrono::milliseconds handshake_timeout{10'000};  ///< HTTP request + WebSocket handshakes
  std::chrono::milliseconds idle_timeout{60'000};       ///< a ping at half, closed at full silence
  std::chrono::milliseconds shutdown_grace{1'500};      ///< closing handshakes on SIGTERM/SIGINT
  // Limits against abuse; 0 means unlimited.
  std::size_t max_connections = 100'000;            ///< over all addresses
  std::size_t max_connections_per_address = 1'000;  ///< from one IP address
  double connection_rate = 10'000;  ///< new connections per second (bursts of one second's worth)
  std::size_t max_subscriptions = 1'000;     ///< per connection
  double publish_rate = 10'000;              ///< articles per second per connection
  std::filesystem::path routes_file;         ///< --routes: subjects -> topics; empty: none
  std::vector<std::string> allowed_origins;  ///< browsers' Origin at the upgrade; empty: any
  AuthOptions auth;
  TlsOptions tls;
  StoreKind store = StoreKind::kSqlite;
  StoreOptions store_options;
  NatsOptions nats;
};

/// Throws std::invalid_argument naming the first option with an impossible value.
void check_config(const Config& config);
/// The same for the --nats-* options alone.
void check_nats(const NatsOptions& nats);

}  // namespace kabar::broker
