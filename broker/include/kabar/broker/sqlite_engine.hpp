#pragma once

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

#include "kabar/broker/config.hpp"
#include "kabar/broker/engine.hpp"
#include "kabar/broker/metrics.hpp"

namespace kabar::broker {

/// The data directory cannot be used: the message says which file and why.
class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The embedded default engine: one SQLite database (WAL mode) in the data directory.
///
/// A writer thread of its own owns the only writing connection and commits in groups: every
/// publish pending when a commit starts goes into that one transaction, and is acknowledged and
/// handed to the fan-out only after it. It also lifts embargoes and trims by retention. A reader
/// thread with its own connection serves history reads, so that a long catch-up never holds up
/// a commit. No I/O thread ever touches the database.
///
/// Each topic's epoch is drawn at random when the topic is first stored: a wiped data directory
/// means new epochs, and resuming clients are told their history is gone.
/// @note Thread-safe. Callbacks run on the writer's or the reader's thread.
class SqliteEngine final : public Engine {
 public:
  /// Opens (creating it if needed) the database; throws StoreError when it cannot be used.
  /// Records each group commit's duration in `commit_latency` when given.
  SqliteEngine(StoreOptions options, BatchSink sink, LatencyHistogram* commit_latency = nullptr);
  ~SqliteEngine() override;
  SqliteEngine(const SqliteEngine&) = delete;
  SqliteEngine& operator=(const SqliteEngine&) = delete;

  /// Copies the store in `data_dir` to the new file `to` (never overwritten), online: a broker
  /// may be writing it. Restored as `kabar.db` in a data directory, the copy's topics begin new
  /// epochs when a broker first opens it (what was stored after the backup is gone, and resuming
  /// readers must be told so). Returns what it holds ("12 article versions in 3 topics").
  /// @throws StoreError naming the file and the reason.
  static std::string backup(const std::filesystem::path& data_dir, const std::filesystem::path& to);

  void publish(std::vector<PublishRequest> requests) override;
  void read(ReadRequest request, ReadCallback done) override;
  void flush(std::function<void()> done) override;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kabar::broker
