#include "broker_metrics.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>

namespace kabar::bench {

namespace {

// The cumulative counts of histogram `name` by upper bound (+Inf as infinity).
std::map<double, double> buckets(std::string_view text, std::string_view name) {
  std::map<double, double> out;
  const std::string prefix = std::string(name) + "_bucket{le=\"";
  for (std::size_t at = text.find(prefix); at != std::string_view::npos;
       at = text.find(prefix, at + 1)) {
    const auto bound_start = at + prefix.size();
    const auto bound_end = text.find('"', bound_start);
    const auto value_start = text.find("} ", bound_end);
    const auto line_end = text.find('\n', value_start);
    if (bound_end == std::string_view::npos || value_start == std::string_view::npos) break;
    const std::string bound(text.substr(bound_start, bound_end - bound_start));
    const std::string value(text.substr(value_start + 2, line_end - value_start - 2));
    const double upper = bound == "+Inf" ? std::numeric_limits<double>::infinity()
                                         : std::strtod(bound.c_str(), nullptr);
    out[upper] = std::strtod(value.c_str(), nullptr);
  }
  return out;
}

// The q-quantile of cumulative counts, linear within its bucket (the last finite bound for +Inf).
double quantile(const std::map<double, double>& cumulative, double q) {
  const double total = cumulative.empty() ? 0 : cumulative.rbegin()->second;
  if (total <= 0) return 0;
  const double rank = q * total;
  double lower = 0, below = 0;
  for (const auto& [upper, count] : cumulative) {
    if (count >= rank) {
      if (std::isinf(upper)) return lower;
      const double in_bucket = count - below;
      return in_bucket <= 0 ? upper : lower + (upper - lower) * (rank - below) / in_bucket;
    }
    lower = upper;
    below = count;
  }
  return lower;
}

}  // namespace

std::optional<std::string> scrape_metrics(const std::string& host, std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  const timeval limit{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  std::optional<std::string> body;
  if (inet_pton(AF_INET, host.c_str(), &address.sin_addr) == 1 &&
      ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) {
    const std::string request =
        "GET /metrics HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n";
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
        static_cast<ssize_t>(request.size())) {
      std::string response;
      char chunk[16384];
      for (ssize_t got = 0; (got = ::recv(fd, chunk, sizeof chunk, 0)) > 0;) {
        response.append(chunk, static_cast<std::size_t>(got));
      }
      const auto head_end = response.find("\r\n\r\n");
      if (response.starts_with("HTTP/1.1 200") && head_end != std::string::npos) {
        body = response.substr(head_end + 4);
      }
    }
  }
  ::close(fd);
  return body;
}

std::vector<Stage> stages_between(std::string_view before, std::string_view after) {
  std::vector<Stage> stages;
  for (const std::string_view name : {"publish_wait", "store_commit", "fanout", "write_wait"}) {
    const auto metric = "kabar_" + std::string(name) + "_seconds";
    auto counts = buckets(after, metric);
    if (counts.empty()) continue;
    for (const auto& [upper, count] : buckets(before, metric)) counts[upper] -= count;
    Stage stage{.name = std::string(name)};
    stage.count = static_cast<std::uint64_t>(std::llround(counts.rbegin()->second));
    if (stage.count == 0) continue;
    stage.p50_ms = quantile(counts, 0.5) * 1e3;
    stage.p99_ms = quantile(counts, 0.99) * 1e3;
    stages.push_back(std::move(stage));
  }
  return stages;
}

}  // namespace kabar::bench
