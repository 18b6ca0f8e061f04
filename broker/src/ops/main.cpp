// kabar-broker: the command line in front of kabar::broker::Server.
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <charconv>
#include <cmath>
#include <exception>
#include <fstream>
#include <iostream>
#include <sstream>

#include "base/log.hpp"
#include "kabar/broker/server.hpp"
#include "kabar/broker/sqlite_engine.hpp"
#include "kabar/version.hpp"

namespace {

// "HOST:PORT", "[v6]:PORT" or ":PORT".
void parse_listen(const std::string& text, kabar::broker::Config& config) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) throw CLI::ValidationError("--listen", "expected HOST:PORT");
  auto host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const auto port_text = text.substr(colon + 1);
  unsigned port = 0;
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc{} || end != port_text.data() + port_text.size() || port > 65535) {
    throw CLI::ValidationError("--listen", "'" + port_text + "' is not a port number (0-65535)");
  }
  config.listen_host = host.empty() ? "0.0.0.0" : host;
  config.listen_port = static_cast<std::uint16_t>(port);
}

// "sports.>:10000:24": a pattern, then how many articles and how many hours its topics keep.
kabar::broker::RetentionRule parse_retention_rule(const std::string& text) {
  const auto second = text.rfind(':');
  const auto first =
      second == std::string::npos || second == 0 ? std::string::npos : text.rfind(':', second - 1);
  if (first == std::string::npos) {
    throw CLI::ValidationError("--retention-for", "'" + text + "': expected PATTERN:COUNT:HOURS");
  }
  auto number = [&](std::string_view digits, std::uint64_t max) {
    std::uint64_t value = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (ec != std::errc{} || end != digits.data() + digits.size() || value == 0 || value > max) {
      throw CLI::ValidationError("--retention-for", "'" + text + "': '" + std::string(digits) +
                                                        "' is not a whole number from 1 to " +
                                                        std::to_string(max));
    }
    return value;
  };
  kabar::broker::RetentionRule rule;
  rule.pattern = text.substr(0, first);
  rule.limits.max_count = number(std::string_view(text).substr(first + 1, second - first - 1),
                                 kabar::broker::kMaxRetentionCount);
  rule.limits.max_age = std::chrono::hours(static_cast<std::int64_t>(
      number(std::string_view(text).substr(second + 1), kabar::broker::kMaxRetentionHours)));
  return rule;
}

// The configuration as TOML that --config reads back: every option with its value, except
// those not set (no value) and --print-config itself.
std::string effective_config(const CLI::App& app) {
  std::istringstream all(app.config_to_str(true, true));
  std::string out, block, line;
  auto flush = [&] {
    const bool unset = block.find("=\"\"\n") != std::string::npos;
    if (!unset && block.find("print-config=") == std::string::npos) out += block;
    block.clear();
  };
  while (std::getline(all, line)) {
    block += line + "\n";
    if (line.empty()) flush();
  }
  flush();
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw CLI::ValidationError(path, "cannot be read");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Every connection is a file descriptor: take the whole hard limit, not the default 1024.
void raise_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

}  // namespace

int main(int argc, char** argv) {
  kabar::broker::Config config;
  CLI::App app{"kabar-broker: real-time news feed broker (WebSocket, kabar.v1 protobuf)"};
  app.set_version_flag("--version", kabar::version_line());
  std::string listen = config.listen_host + ":" + std::to_string(config.listen_port);
  app.add_option("--listen", listen, "address to listen on, HOST:PORT (port 0: any free port)")
      ->capture_default_str();
  app.add_option("--threads", config.io_threads, "I/O threads, one shard each (0: one per core)")
      ->capture_default_str();
  app.add_option("--max-message-bytes", config.max_message_bytes,
                 "largest WebSocket message accepted; larger closes with 1009")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1024}, std::size_t{64} << 20));
  app.add_option("--max-article-bytes", config.max_article_bytes,
                 "largest encoded article accepted for publishing")
      ->capture_default_str();
  app.add_option("--send-queue-bytes", config.send_queue_bytes,
                 "bytes queued per connection before it is closed as a slow consumer (4001)")
      ->capture_default_str();
  app.add_option("--io-uring", config.io_uring,
                 "send a pass's writes in one system call through io_uring (false: one sendmsg "
                 "per connection, as where the kernel refuses io_uring)")
      ->default_str("true");
  auto milliseconds = [](std::chrono::milliseconds& target) {
    return [&target](std::int64_t ms) { target = std::chrono::milliseconds(ms); };
  };
  // Rates: NaN passes a plain range check (every comparison with it is false).
  const CLI::Validator rate_range(
      [](std::string& text) -> std::string {
        double rate = 0;
        try {
          rate = std::stod(text);
        } catch (const std::exception&) {
          return "'" + text + "' is not a number";
        }
        if (!std::isfinite(rate) || rate < 0 || rate > kabar::broker::kMaxRate) {
          return "must be 0 (unlimited) to 1e9 per second, not " + text;
        }
        return {};
      },
      "RATE");
  // Every time flag is bounded here, before it becomes a duration that could overflow.
  const auto up_to_a_day =
      CLI::Range(std::int64_t{1}, std::int64_t{kabar::broker::kMaxTimeout.count()});
  app.add_option_function<std::int64_t>("--handshake-timeout-ms",
                                        milliseconds(config.handshake_timeout),
                                        "time allowed for the HTTP request and handshakes")
      ->default_str(std::to_string(config.handshake_timeout.count()))
      ->check(up_to_a_day);
  app.add_option_function<std::int64_t>("--idle-timeout-ms", milliseconds(config.idle_timeout),
                                        "silence after which a peer is pinged (half) and dropped")
      ->default_str(std::to_string(config.idle_timeout.count()))
      ->check(up_to_a_day);
  app.add_option_function<std::int64_t>("--shutdown-grace-ms", milliseconds(config.shutdown_grace),
                                        "time allowed for closing handshakes on SIGINT/SIGTERM")
      ->default_str(std::to_string(config.shutdown_grace.count()))
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{kabar::broker::kMaxTimeout.count()}));
  app.add_option("--max-connections", config.max_connections,
                 "open connections at most (0: unlimited); more are answered 503")
      ->capture_default_str();
  app.add_option("--max-connections-per-address", config.max_connections_per_address,
                 "open connections from one IP address at most (0: unlimited)")
      ->capture_default_str();
  app.add_option("--connection-rate", config.connection_rate,
                 "new connections per second, bursts of one second's worth (0: unlimited)")
      ->capture_default_str()
      ->check(rate_range);
  app.add_option("--max-subscriptions", config.max_subscriptions,
                 "subscriptions per connection (0: unlimited)")
      ->capture_default_str();
  app.add_option("--publish-rate", config.publish_rate,
                 "articles per second one connection may publish; more get RATE_LIMITED "
                 "(0: unlimited)")
      ->capture_default_str()
      ->check(rate_range);
  app.add_option("--routes", config.routes_file,
                 "routing table (TOML): IPTC subjects -> topics added to the articles tagged "
                 "with them; read again on SIGHUP")
      ->type_name("FILE")
      ->check(CLI::ExistingFile);
  app.add_option("--allowed-origin", config.allowed_origins,
                 "an Origin browsers may connect from (repeatable; none given: any); a "
                 "request without Origin (not a browser) is always allowed")
      ->type_name("ORIGIN");
  std::string secret_file, public_key_file;
  app.add_option("--jwt-secret-file", secret_file,
                 "file holding the HS256 shared secret (its trailing newline is ignored)")
      ->check(CLI::ExistingFile);
  app.add_option("--jwt-public-key", public_key_file,
                 "PEM public key: RSA for RS256 tokens, EC P-256 for ES256")
      ->check(CLI::ExistingFile);
  app.add_option("--jwt-issuer", config.auth.issuer, "tokens must carry this iss");
  app.add_option("--jwt-audience", config.auth.audience, "tokens must carry this aud");
  app.add_option_function<std::int64_t>(
         "--jwt-leeway-s",
         [&config](std::int64_t s) { config.auth.leeway = std::chrono::seconds(s); },
         "clock skew allowed on exp and nbf")
      ->default_str(std::to_string(config.auth.leeway.count()))
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{kabar::broker::kMaxJwtLeeway.count()}));
  app.add_flag("--allow-anonymous", config.auth.allow_anonymous,
               "let connections without a token publish and subscribe anywhere (always so on "
               "a loopback address when no key is given)");
  auto* tls_cert = app.add_option("--tls-cert", config.tls.certificate_file,
                                  "PEM certificate chain: serve wss:// and https:// (TLS 1.2+) "
                                  "instead of ws:// and http://")
                       ->check(CLI::ExistingFile);
  auto* tls_key = app.add_option("--tls-key", config.tls.private_key_file,
                                 "PEM private key of --tls-cert (unencrypted)")
                      ->check(CLI::ExistingFile);
  tls_cert->needs(tls_key);
  tls_key->needs(tls_cert);
  auto& store = config.store_options;
  std::string data_dir = store.data_dir.string();
  app.add_option("--data-dir", data_dir, "directory of the article store (created if missing)")
      ->capture_default_str();
  std::string store_kind = "sqlite";
  app.add_option("--store", store_kind,
                 "sqlite: durable history in --data-dir; memory: no history, nothing on disk; "
                 "nats: a NATS JetStream stream shared by several brokers (--nats-url)")
      ->capture_default_str()
      ->check(CLI::IsMember({"sqlite", "memory", "nats"}));
  auto& nats = config.nats;
  app.add_option_function<std::string>(
         "--nats-url",
         [&nats](const std::string& urls) {
           nats.urls.clear();
           std::string::size_type begin = 0;
           while (begin <= urls.size()) {
             const auto comma = std::min(urls.find(',', begin), urls.size());
             if (comma > begin) nats.urls.push_back(urls.substr(begin, comma - begin));
             begin = comma + 1;
           }
         },
         "--store nats: the cluster's servers, comma-separated (nats://host:port or "
         "tls://host:port; user:password@ or a token in the URL authenticates)")
      ->type_name("URLS");
  app.add_option("--nats-stream", nats.stream,
                 "--store nats: the JetStream stream every broker of one deployment shares "
                 "(created on first use; subject kabar.<stream>.log)")
      ->capture_default_str();
  app.add_option("--nats-replicas", nats.replicas,
                 "--store nats: replicas of the stream when this broker creates it (3 on a "
                 "three-node cluster: a write is acknowledged once on two)")
      ->capture_default_str()
      ->check(CLI::Range(1, 5));
  app.add_option("--nats-creds", nats.credentials_file,
                 "--store nats: a NATS credentials file (user JWT and NKey seed)")
      ->check(CLI::ExistingFile);
  app.add_option("--nats-ca", nats.ca_file,
                 "--store nats: PEM file of the CAs to trust; the connection then requires TLS")
      ->check(CLI::ExistingFile);
  auto* nats_cert = app.add_option("--nats-cert", nats.certificate_file,
                                   "--store nats: PEM client certificate (with --nats-key)")
                        ->check(CLI::ExistingFile);
  auto* nats_key =
      app.add_option("--nats-key", nats.key_file, "--store nats: PEM key of --nats-cert")
          ->check(CLI::ExistingFile);
  nats_cert->needs(nats_key);
  nats_key->needs(nats_cert);
  app.add_option_function<std::int64_t>(
         "--nats-publish-timeout-ms", milliseconds(nats.publish_timeout),
         "--store nats: how long a publish keeps retrying (a leader election, a lost server) "
         "before it is answered UNAVAILABLE")
      ->default_str(std::to_string(nats.publish_timeout.count()))
      ->check(CLI::Range(std::int64_t{100}, std::int64_t{600'000}));
  app.add_option_function<std::size_t>(
         "--nats-cache-mb", [&nats](std::size_t mb) { nats.cache_bytes = mb << 20; },
         "--store nats: MiB of the latest log entries kept in memory for history reads and "
         "recovery (0: every read goes to the stream)")
      ->default_str(std::to_string(nats.cache_bytes >> 20))
      ->check(CLI::Range(std::size_t{0}, std::size_t{65536}));
  std::string durability = "full";
  app.add_option("--durability", durability,
                 "full: acknowledge after fsync; relaxed: after the write reached the OS (an "
                 "OS crash or power loss may lose the last acknowledged articles)")
      ->capture_default_str()
      ->check(CLI::IsMember({"full", "relaxed"}));
  app.add_flag("--allow-empty-store", store.allow_empty_store,
               "start a new history in a zero-length kabar.db (refused otherwise: an empty file "
               "is what a truncated copy or a failed restore leaves)");
  app.add_option("--retention-count", store.retention.defaults.max_count,
                 "articles each topic keeps (older ones are trimmed)")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, kabar::broker::kMaxRetentionCount));
  app.add_option_function<std::int64_t>(
         "--retention-hours",
         [&store](std::int64_t hours) {
           store.retention.defaults.max_age = std::chrono::hours(hours);
         },
         "hours each topic keeps an article (up to 1e9: forever)")
      ->default_str(std::to_string(
          std::chrono::duration_cast<std::chrono::hours>(store.retention.defaults.max_age).count()))
      ->check(CLI::Range(std::int64_t{1}, kabar::broker::kMaxRetentionHours));
  app.add_option_function<std::vector<std::string>>(
         "--retention-for",
         [&store](const std::vector<std::string>& rules) {
           for (const auto& rule : rules)
             store.retention.rules.push_back(parse_retention_rule(rule));
         },
         "PATTERN:COUNT:HOURS, limits for the topics a pattern matches (repeatable; the first "
         "match wins), e.g. 'sports.>:10000:24'")
      ->type_name("RULE");
  app.add_option_function<std::int64_t>("--retention-sweep-ms",
                                        milliseconds(store.retention.sweep_interval),
                                        "how often retention trims")
      ->default_str(std::to_string(store.retention.sweep_interval.count()))
      ->check(up_to_a_day);
  app.set_config("--config", "",
                 "TOML file of options (the flags' long names as keys); flags "
                 "given as well override it");
  app.allow_config_extras(CLI::config_extras_mode::error);
  bool print_config = false;
  app.add_flag("--print-config", print_config,
               "print the effective configuration as TOML (usable as --config) and exit");
  std::string backup_to;
  app.add_option("--backup-to", backup_to,
                 "copy the SQLite store of --data-dir to this new file and exit; online: the "
                 "broker may be running (see README, Backups)")
      ->type_name("FILE")
      ->configurable(false);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));

  std::string log_format = "text";
  app.add_option("--log-format", log_format,
                 "text (the default) or json: one JSON object per line (time, level, event, conn, "
                 "remote, msg), for log shippers")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json"}));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ConfigError& e) {
    std::cerr << "kabar-broker: --config: " << e.what()
              << " (keys are the long flag names, e.g. max-subscriptions = 100)\n";
    return 2;
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  kabar::broker::logging::set_format(log_format == "json" ? kabar::broker::logging::Format::kJson
                                                          : kabar::broker::logging::Format::kText);
  if (print_config) {
    std::cout << effective_config(app);
    return 0;
  }
  if (!backup_to.empty()) {
    if (store_kind != "sqlite") {
      std::cerr << "kabar-broker: --backup-to copies the SQLite store (--store sqlite); a NATS "
                   "stream is backed up with the nats tool (nats stream backup)\n";
      return 2;
    }
    try {
      const auto held = kabar::broker::SqliteEngine::backup(data_dir, backup_to);
      std::cout << "backed up " << data_dir << "/kabar.db to " << backup_to << ": " << held
                << std::endl;
      return 0;
    } catch (const kabar::broker::StoreError& e) {
      std::cerr << "kabar-broker: " << e.what() << "\n";
      return 1;
    }
  }

  try {
    parse_listen(listen, config);
    store.data_dir = data_dir;
    config.store = store_kind == "memory" ? kabar::broker::StoreKind::kMemory
                   : store_kind == "nats" ? kabar::broker::StoreKind::kNats
                                          : kabar::broker::StoreKind::kSqlite;
    store.durability = durability == "relaxed" ? kabar::broker::Durability::kRelaxed
                                               : kabar::broker::Durability::kFull;
    if (!secret_file.empty()) {
      config.auth.hs256_secret = read_file(secret_file);
      while (!config.auth.hs256_secret.empty() &&
             (config.auth.hs256_secret.back() == '\n' || config.auth.hs256_secret.back() == '\r')) {
        config.auth.hs256_secret.pop_back();
      }
      if (config.auth.hs256_secret.size() < 32) {
        throw CLI::ValidationError("--jwt-secret-file", "the secret must be at least 32 bytes");
      }
    }
    if (!public_key_file.empty()) config.auth.public_key_pem = read_file(public_key_file);
    raise_file_limit();
    spdlog::set_level(spdlog::level::from_str(log_level));
    kabar::broker::Server server(config);
    const auto endpoint = server.local_endpoint();
    // Tests and scripts read the port from this line: keep its shape.
    kabar::broker::logging::info(
        {"broker.listening"},
        "kabar-broker {} listening on {}:{} ({}://{}:{}/v1/ws), {} I/O threads",
        kabar::version_line(), endpoint.address().to_string(), endpoint.port(),
        config.tls.enabled() ? "wss" : "ws", endpoint.address().to_string(), endpoint.port(),
        server.io_threads());
    server.run();
    return 0;
  } catch (const CLI::ValidationError& e) {
    kabar::broker::logging::error({"broker.bad_option"}, "{}", e.what());
  } catch (const kabar::broker::StoreError& e) {
    kabar::broker::logging::error({"broker.store_failed"}, "cannot open the article store: {}",
                                  e.what());
  } catch (const std::system_error& e) {
    kabar::broker::logging::error({"broker.start_failed"}, "cannot start: {}", e.what());
  } catch (const std::exception& e) {
    kabar::broker::logging::error({"broker.start_failed"}, "cannot start: {}", e.what());
  }
  return 1;
}
