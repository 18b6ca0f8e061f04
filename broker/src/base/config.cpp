#include "kabar/broker/config.hpp"

#include <algorithm>

#include <stdexcept>
#include <string>

#include "kabar/common/topic.hpp"

namespace kabar::broker {

void check_config(const Config& config) {
  auto fail = [](const std::string& what) { throw std::invalid_argument(what); };
  if (config.max_message_bytes < 1024) fail("--max-message-bytes must be at least 1024");
  if (config.max_article_bytes > config.max_message_bytes) {
    fail("--max-article-bytes must not exceed --max-message-bytes");
  }
  if (config.send_queue_bytes < config.max_message_bytes) {
    fail("--send-queue-bytes must be at least --max-message-bytes");
  }
  const auto positive_timeout = [&](std::chrono::milliseconds value, const char* flag) {
    if (value.count() <= 0 || value > kMaxTimeout) {
      fail(std::string(flag) + " must be 1 to " + std::to_string(kMaxTimeout.count()) +
           " (a day), not " + std::to_string(value.count()));
    }
  };
  positive_timeout(config.handshake_timeout, "--handshake-timeout-ms");
  positive_timeout(config.idle_timeout, "--idle-timeout-ms");
  positive_timeout(config.store_options.retention.sweep_interval, "--retention-sweep-ms");
  if (config.shutdown_grace.count() < 0 || config.shutdown_grace > kMaxTimeout) {
    fail("--shutdown-grace-ms must be 0 to " + std::to_string(kMaxTimeout.count()));
  }
  if (config.auth.leeway.count() < 0 || config.auth.leeway > kMaxJwtLeeway) {
    fail("--jwt-leeway-s must be 0 to " + std::to_string(kMaxJwtLeeway.count()));
  }
  // Not negated: NaN fails every comparison and must fail this one too.
  const auto rate_ok = [](double rate) { return rate >= 0 && rate <= kMaxRate; };
  if (!rate_ok(config.publish_rate)) fail("--publish-rate must be 0 (unlimited) to 1e9");
  if (!rate_ok(config.connection_rate)) fail("--connection-rate must be 0 (unlimited) to 1e9");
  const auto retention_ok = [](const RetentionLimits& limits) {
    return limits.max_count >= 1 && limits.max_count <= kMaxRetentionCount &&
           limits.max_age.count() > 0 && limits.max_age <= std::chrono::hours(kMaxRetentionHours);
  };
  if (!retention_ok(config.store_options.retention.defaults)) {
    fail("--retention-count must be 1 to 1e18 and --retention-hours 1 to 1e9");
  }
  if (config.io_threads > 256) fail("--threads must be at most 256");
  for (const auto& rule : config.store_options.retention.rules) {
    if (auto error = pattern_error(rule.pattern)) {
      fail("--retention-for pattern '" + rule.pattern + "': " + *error);
    }
    if (!retention_ok(rule.limits)) {
      fail("--retention-for '" + rule.pattern + "': count must be 1 to 1e18, hours 1 to 1e9");
    }
  }
  if (config.store == StoreKind::kNats) check_nats(config.nats);
}

void check_nats(const NatsOptions& nats) {
  auto fail = [](const std::string& what) { throw std::invalid_argument(what); };
  if (nats.urls.empty()) fail("--store nats needs --nats-url (nats://host:port, comma-separated)");
  if (nats.urls.size() > 64) fail("--nats-url lists more than 64 servers");
  for (const auto& url : nats.urls) {
    const bool scheme = url.starts_with("nats://") || url.starts_with("tls://");
    const bool printable =
        std::all_of(url.begin(), url.end(), [](char c) { return c > ' ' && c < 0x7f; });
    if (!scheme || !printable || url.size() > 512) {
      fail("--nats-url '" + (printable ? url.substr(0, 64) : std::string("(unprintable)")) +
           "' is not nats://host:port or tls://host:port");
    }
  }
  const bool name_ok = !nats.stream.empty() && nats.stream.size() <= 32 &&
                       std::all_of(nats.stream.begin(), nats.stream.end(), [](char c) {
                         return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                                (c >= '0' && c <= '9') || c == '_' || c == '-';
                       });
  if (!name_ok) fail("--nats-stream must be 1 to 32 of A-Z a-z 0-9 _ -");
  if (nats.replicas < 1 || nats.replicas > 5) fail("--nats-replicas must be 1 to 5");
  if (nats.certificate_file.empty() != nats.key_file.empty()) {
    fail("--nats-cert and --nats-key go together");
  }
  if (nats.publish_timeout.count() < 100 || nats.publish_timeout > std::chrono::minutes(10)) {
    fail("--nats-publish-timeout-ms must be 100 to 600000");
  }
  if (nats.cache_bytes > kMaxNatsCacheBytes) fail("--nats-cache-mb must be 0 to 65536");
}

const RetentionLimits& Retention::for_topic(const std::string& topic) const {
  for (const auto& rule : rules) {
    if (topic_matches(rule.pattern, topic)) return rule.limits;
  }
  return defaults;
}

}  // namespace kabar::broker
