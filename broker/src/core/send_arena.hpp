#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <vector>

namespace kabar::broker {

/// Memory a pass's sends read from until they are answered: a TLS connection encrypts its write
/// into it, then sends it directly or through the shard's SendRing (which sends at the end of the
/// pass). Blocks are kept from pass to pass and never zeroed: no allocation in the steady state.
/// @note Not thread-safe: a shard's, on its thread.
class SendArena {
 public:
  /// `size` contiguous bytes, valid until reset().
  std::span<char> reserve(std::size_t size);
  /// Of the last reserve(), only the first `used` bytes are kept.
  void commit(std::size_t used);
  /// Everything handed out is free again (the pass's sends are answered). Keeps kKeptBytes.
  void reset();

  static constexpr std::size_t kBlockBytes = 1 << 20;
  static constexpr std::size_t kKeptBytes = 4 << 20;

 private:
  struct Block {
    std::unique_ptr<char[]> data;
    std::size_t size = 0;
  };
  std::vector<Block> blocks_;
  std::size_t current_ = 0;   // the block reserve() takes from
  std::size_t used_ = 0;      // of blocks_[current_]
  std::size_t reserved_ = 0;  // by the last reserve()
};

}  // namespace kabar::broker
