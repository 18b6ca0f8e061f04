#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "process.hpp"

namespace kabar::test {

/// A fresh directory under the system's temporary directory, removed with its contents.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

/// The whole of a file (a log, say), or "" when it cannot be read.
std::string read_file(const std::filesystem::path& path);

/// The real kabar-broker binary on a free loopback port. The destructor stops it with SIGTERM
/// and, from a test body, stop() checks that it exits 0 within its grace period. Without
/// --data-dir among the arguments it stores in a temporary directory of its own.
class BrokerProcess {
 public:
  explicit BrokerProcess(std::vector<std::string> extra_args = {});
  /// The same arguments, the data directory `data_dir`.
  BrokerProcess(const std::filesystem::path& data_dir, std::vector<std::string> extra_args);
  ~BrokerProcess();

  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] std::string url() const;  // ws://127.0.0.1:PORT/v1/ws
  Process& process() { return process_; }

  /// SIGTERM, then the exit status, or -1 when it has not exited within `timeout`.
  int stop(std::chrono::milliseconds timeout = 2s);
  /// kill -9, and waits for it to be gone.
  void kill();

 private:
  std::optional<TempDir> own_data_dir_;  // first: outlives the process
  Process process_;
  std::uint16_t port_ = 0;
};

/// Where the binaries under test and the fixtures are (set by CMake).
std::string broker_path();
std::string pub_path();
std::string sub_path();
std::string fixtures_dir();

/// The flags of a broker that requires HS256 tokens signed with `secret`, which is written to a
/// file in `dir`.
std::vector<std::string> hs256_secret_flags(const TempDir& dir, const std::string& secret);

}  // namespace kabar::test
