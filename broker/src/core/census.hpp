#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/shard.hpp"

namespace kabar::broker {

/// How many connections receive each topic now (Fanout::receivers), summed over every shard.
/// Each shard counts its own connections on its own thread, kSlice topics per handler so that a
/// long list never holds up its fan-out; nothing on the fan-out path is locked.
/// @note Thread-safe.
class ReceiverCensus {
 public:
  using Done = std::function<void(const std::vector<std::uint64_t>&)>;
  static constexpr std::size_t kSlice = 64;  ///< topics counted per handler on a shard

  explicit ReceiverCensus(std::deque<Shard>& shards) : shards_(shards) {}

  /// Calls `done` with the count of each of `topics`, in their order, on the thread of the
  /// shard that finishes last.
  void count(std::vector<std::string> topics, Done done);

  /// At teardown, once the I/O threads are stopped and before the shards go: drops the `done`
  /// of every count left unfinished. Its captures (a waiting session) are then released here,
  /// while every shard still lives, not by another shard's queue as that shard is destroyed.
  void abandon();

  struct State;

 private:
  std::deque<Shard>& shards_;
  std::mutex mutex_;
  std::vector<std::weak_ptr<State>> in_flight_;  // guarded by mutex_
};

}  // namespace kabar::broker
