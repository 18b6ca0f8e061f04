#include "core/send_arena.hpp"

#include <algorithm>

namespace kabar::broker {

std::span<char> SendArena::reserve(std::size_t size) {
  while (current_ < blocks_.size() && blocks_[current_].size - used_ < size) {
    ++current_;
    used_ = 0;
  }
  if (current_ == blocks_.size()) {
    const auto block = std::max(kBlockBytes, size);
    blocks_.push_back({std::make_unique_for_overwrite<char[]>(block), block});
    used_ = 0;
  }
  reserved_ = size;
  return {blocks_[current_].data.get() + used_, size};
}

void SendArena::commit(std::size_t used) {
  used_ += std::min(used, reserved_);
  reserved_ = 0;
}

void SendArena::reset() {
  current_ = 0;
  used_ = 0;
  reserved_ = 0;
  std::size_t kept = 0;
  const auto end = std::find_if(blocks_.begin(), blocks_.end(), [&kept](const Block& block) {
    kept += block.size;
    return kept > kKeptBytes;
  });
  blocks_.erase(end, blocks_.end());
}

}  // namespace kabar::broker
