#include "report.hpp"

#include <cmath>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

namespace kabar::bench {

namespace {

using Json = nlohmann::ordered_json;  // keys in the order written, as people read them

// Rounded as the table prints them: JSON readers get the same figures.
double rounded(double value, int decimals) {
  const double scale = std::pow(10.0, decimals);
  return std::round(value * scale) / scale;
}

// Rates and counts as whole numbers (1234567, not 1234567.0).
std::int64_t whole(double value) {
  return std::llround(value);
}

Json latency_json(const Latency& latency) {
  return {{"p50", latency.p50},
          {"p90", latency.p90},
          {"p99", latency.p99},
          {"p999", latency.p999},
          {"max", latency.max}};
}

void add_failures(Json& json, const Failures& failures) {
  json["errors"] = failures.errors;
  json["disconnects"] = failures.disconnects;
  json["gaps"] = failures.gaps;
  json["duplicates"] = failures.duplicates;
  json["lost"] = whole(failures.lost);
}

void print_failures(const Failures& failures) {
  std::printf("  errors %lu  disconnects %lu  gaps %lu  duplicates %lu  lost %.0f%s\n",
              failures.errors, failures.disconnects, failures.gaps, failures.duplicates,
              failures.lost, failures.timed_out ? "  TIMED OUT" : "");
}

void print_latency(const char* label, const Latency& latency) {
  std::printf("  %-16s p50 %s  p90 %s  p99 %s  p99.9 %s  max %s\n", label, ms(latency.p50).c_str(),
              ms(latency.p90).c_str(), ms(latency.p99).c_str(), ms(latency.p999).c_str(),
              ms(latency.max).c_str());
}

// The broker's stages, one line: where an article's time inside it went.
void print_stages(const TrafficReport& report) {
  if (report.stages.empty()) return;
  std::printf("  broker stages   ");
  for (const auto& stage : report.stages) {
    std::printf(" %s p50 %.3f p99 %.3f ms;", stage.name.c_str(), stage.p50_ms, stage.p99_ms);
  }
  std::printf("\n");
}

Json stages_json(const TrafficReport& report) {
  Json stages = Json::object();
  for (const auto& stage : report.stages) {
    stages[stage.name] = {{"count", stage.count},
                          {"p50_ms", rounded(stage.p50_ms, 3)},
                          {"p99_ms", rounded(stage.p99_ms, 3)}};
  }
  return stages;
}

// Cores used, and cores' worth of time spent waiting for one (runnable, not running).
void print_cpu(const TrafficReport& report) {
  std::printf("  cpu (cores)      bench %.2f (waited %.2f)", report.bench_cpu,
              report.bench_cpu_waited);
  if (report.broker_measured) {
    std::printf("  broker %.2f (waited %.2f)", report.broker_cpu, report.broker_cpu_waited);
  }
  std::printf("\n");
}

}  // namespace

Latency Latency::of(const Histogram& histogram) {
  return {.p50 = histogram.quantile(0.5),
          .p90 = histogram.quantile(0.9),
          .p99 = histogram.quantile(0.99),
          .p999 = histogram.quantile(0.999),
          .max = histogram.max()};
}

void print_table(const TrafficReport& r) {
  std::printf("\nkabar-bench %s: %u subscribers%s, %u publishers%s, %u topics, %zu-byte bodies\n",
              name(r.scenario), r.subscribers, r.json_subscribers ? " (kabar.v1.json)" : "",
              r.publishers, r.http_publishers ? " (POST /v1/articles)" : "", r.topics,
              r.payload_bytes);
  std::printf("  setup            %.2f s (%s connect+subscribe/s)\n", r.setup_s,
              si(r.setup_s > 0 ? r.subscribers / r.setup_s : 0).c_str());
  switch (r.scenario) {
    case Scenario::kIngest:
      std::printf("  acks/s           %s (acknowledged publishes, stored)\n",
                  si(r.acks_per_s).c_str());
      print_latency("publish ack", r.ack_latency);
      print_stages(r);
      print_cpu(r);
      break;
    case Scenario::kConnections:
      if (r.broker_measured) {
        std::printf("  broker RSS       %.2f KiB per connection\n",
                    r.broker_rss_kib_per_connection);
      }
      if (r.flash)
        std::printf("  flash            last subscriber after %.3f ms\n", r.flash_last_ms);
      break;
    case Scenario::kFanout:
    case Scenario::kTopics:
    case Scenario::kRecovery:
      std::printf("  deliveries/s     %s\n", si(r.deliveries_per_s).c_str());
      std::printf("  publishes/s      %s\n", si(r.publishes_per_s).c_str());
      std::printf("  batching         %.1f deliveries per WebSocket message\n",
                  r.deliveries_per_message);
      print_latency("latency", r.latency);
      std::printf("  publish ack      p50 %s  p99 %s\n", ms(r.ack_latency.p50).c_str(),
                  ms(r.ack_latency.p99).c_str());
      print_stages(r);
      print_cpu(r);
      break;
  }
  print_failures(r.failures);
}

void print_json(const TrafficReport& r) {
  Json json = {{"scenario", name(r.scenario)},
               {"format", r.json_subscribers ? "json" : "proto"},
               {"publish_over", r.http_publishers ? "http" : "websocket"},
               {"subscribers", r.subscribers},
               {"publishers", r.publishers},
               {"topics", r.topics},
               {"payload_bytes", r.payload_bytes},
               {"deliveries_per_s", whole(r.deliveries_per_s)},
               {"publishes_per_s", whole(r.publishes_per_s)},
               {"latency_ns", latency_json(r.latency)},
               {"acks_per_s", whole(r.acks_per_s)},
               {"ack_latency_ns", latency_json(r.ack_latency)}};
  add_failures(json, r.failures);
  json["bench_cpu"] = rounded(r.bench_cpu, 3);
  json["broker_cpu"] = rounded(r.broker_cpu, 3);
  json["bench_cpu_waited"] = rounded(r.bench_cpu_waited, 3);
  json["broker_cpu_waited"] = rounded(r.broker_cpu_waited, 3);
  json["deliveries_per_message"] = rounded(r.deliveries_per_message, 2);
  json["setup_s"] = rounded(r.setup_s, 3);
  json["broker_rss_kib_per_connection"] = rounded(r.broker_rss_kib_per_connection, 3);
  json["flash_last_ms"] = rounded(r.flash_last_ms, 3);
  json["broker_stages"] = stages_json(r);
  std::cout << json.dump() << std::endl;
}

void print_table(const RecoveryReport& r) {
  std::printf("\nkabar-bench recovery: %u subscribers%s resume over %lu missed %zu-byte articles\n",
              r.subscribers, r.json_subscribers ? " (kabar.v1.json)" : "", r.missed,
              r.payload_bytes);
  std::printf("  storing          %.2f s (%s acknowledged publishes/s)\n", r.store_s,
              si(r.store_s > 0 ? static_cast<double>(r.missed) / r.store_s : 0).c_str());
  std::printf("  catch-up         %.3f s: %s articles/s\n", r.catch_up_s,
              si(r.catch_up_articles_per_s).c_str());
  print_failures(r.failures);
}

void print_json(const RecoveryReport& r) {
  Json json = {{"scenario", "recovery"},
               {"format", r.json_subscribers ? "json" : "proto"},
               {"subscribers", r.subscribers},
               {"missed", r.missed},
               {"payload_bytes", r.payload_bytes},
               {"store_s", rounded(r.store_s, 3)},
               {"catch_up_s", rounded(r.catch_up_s, 3)},
               {"catch_up_articles_per_s", whole(r.catch_up_articles_per_s)}};
  add_failures(json, r.failures);
  std::cout << json.dump() << std::endl;
}

std::string si(double value) {
  char text[32];
  if (value >= 1e6) {
    std::snprintf(text, sizeof text, "%.2fM", value / 1e6);
  } else if (value >= 1e3) {
    std::snprintf(text, sizeof text, "%.1fk", value / 1e3);
  } else {
    std::snprintf(text, sizeof text, "%.0f", value);
  }
  return text;
}

std::string ms(std::uint64_t ns) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3f ms", static_cast<double>(ns) / 1e6);
  return text;
}

}  // namespace kabar::bench
