#include "proc.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace kabar::bench {

std::optional<double> process_cpu_seconds(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(stat, text)) return std::nullopt;
  const auto close_paren = text.rfind(')');
  std::istringstream fields(text.substr(close_paren + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::optional<ThreadWaits> thread_waits(int pid) {
  std::error_code ec;
  std::filesystem::directory_iterator tasks("/proc/" + std::to_string(pid) + "/task", ec);
  if (ec) return std::nullopt;
  ThreadWaits waits;
  for (const auto& task : tasks) {
    std::ifstream schedstat(task.path() / "schedstat");
    double ran = 0, waited = 0;
    if (schedstat >> ran >> waited) waits[task.path().filename().string()] = waited;
  }
  return waits;
}

double waited_between(const std::optional<ThreadWaits>& start,
                      const std::optional<ThreadWaits>& end) {
  if (!start || !end) return 0;
  double nanoseconds = 0;
  for (const auto& [thread, waited] : *end) {
    const auto before = start->find(thread);
    nanoseconds += waited - (before != start->end() ? before->second : 0);
  }
  return nanoseconds / 1e9;
}

std::optional<double> process_rss_kib(int pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6));
  }
  return std::nullopt;
}

double self_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

void raise_file_limit(std::uint64_t wanted) {
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_cur >= wanted) return;
  limit.rlim_cur = std::max<rlim_t>(limit.rlim_cur, std::min<rlim_t>(wanted, limit.rlim_max));
  if (limit.rlim_cur < wanted) limit.rlim_max = limit.rlim_cur = wanted;  // root may raise both
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

}  // namespace kabar::bench
