#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

/// What kabar-bench reads of itself and of the broker from /proc: CPU, waits for a core, memory.
namespace kabar::bench {

/// CPU seconds of a process (user + system).
[[nodiscard]] std::optional<double> process_cpu_seconds(int pid);

/// Nanoseconds each thread of a process has spent runnable but waiting for a core (the second
/// field of its schedstat), by thread id: what separates a broker that is slow from one that was
/// not given a core.
using ThreadWaits = std::unordered_map<std::string, double>;
[[nodiscard]] std::optional<ThreadWaits> thread_waits(int pid);

/// Seconds the threads alive at `end` waited since `start`: one started meanwhile counts from
/// zero, one that ended meanwhile (an io_uring worker, say) drops out rather than going negative.
[[nodiscard]] double waited_between(const std::optional<ThreadWaits>& start,
                                    const std::optional<ThreadWaits>& end);

/// Resident memory of a process, KiB.
[[nodiscard]] std::optional<double> process_rss_kib(int pid);

/// This process's CPU seconds (user + system).
[[nodiscard]] double self_cpu_seconds();

/// Raises this process's open-file limit to `wanted` where it can (the hard limit, or beyond it
/// as root).
void raise_file_limit(std::uint64_t wanted);

}  // namespace kabar::bench
