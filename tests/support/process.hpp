#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace kabar::test {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

/// A real child process with its stdout and stderr captured through pipes.
/// Killed (SIGKILL) on destruction if still running. Not thread-safe.
class Process {
 public:
  explicit Process(std::vector<std::string> argv);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  [[nodiscard]] pid_t pid() const { return pid_; }

  /// Reads output until stdout holds `needle`, or until `timeout`; true when found.
  bool wait_for_output(const std::string& needle, std::chrono::milliseconds timeout);

  /// Everything the process printed so far.
  [[nodiscard]] const std::string& out() const { return out_; }
  [[nodiscard]] const std::string& err() const { return err_; }

  void signal(int signal_number) const;

  /// The exit status (128 + N when killed by signal N), or nullopt if still running after
  /// `timeout`. Output is drained meanwhile so the child never blocks on a full pipe.
  std::optional<int> wait(std::chrono::milliseconds timeout);

 private:
  void pump(std::chrono::milliseconds max_wait);

  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  std::string out_;
  std::string err_;
  std::optional<int> status_;
};

/// Runs a program to completion (bounded by `timeout`): its exit status and output.
struct RunResult {
  int status = -1;
  std::string out;
  std::string err;
};
RunResult run(std::vector<std::string> argv, std::chrono::milliseconds timeout = 20s);

}  // namespace kabar::test
