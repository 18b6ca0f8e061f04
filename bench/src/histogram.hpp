#pragma once

#include <array>
#include <bit>
#include <cstdint>

namespace kabar::bench {

/// Latencies in nanoseconds, log-linear buckets: 64 sub-buckets per power of two, so every
/// recorded value is known to within 1/64 (1.6 %), from 1 ns to 2^63 ns, in fixed memory.
/// @note Not thread-safe: one per thread, merged at the end.
class Histogram {
 public:
  void record(std::uint64_t value) {
    ++counts_[index_of(value)];
    ++count_;
    if (value > max_) max_ = value;
  }

  void merge(const Histogram& other) {
    for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
    count_ += other.count_;
    if (other.max_ > max_) max_ = other.max_;
  }

  /// The value at quantile q (0..1): the upper edge of the bucket holding it.
  [[nodiscard]] std::uint64_t quantile(double q) const {
    if (count_ == 0) return 0;
    const auto rank = static_cast<std::uint64_t>(q * static_cast<double>(count_ - 1)) + 1;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= rank) return i + 1 == counts_.size() ? max_ : std::min(upper_edge(i), max_);
    }
    return max_;
  }

  [[nodiscard]] std::uint64_t count() const { return count_; }
  [[nodiscard]] std::uint64_t max() const { return max_; }

 private:
  static constexpr unsigned kSubBits = 6;  // 64 sub-buckets
  static constexpr std::size_t kBuckets = (64 - kSubBits + 1) << kSubBits;

  static std::size_t index_of(std::uint64_t value) {
    if (value < (1U << kSubBits)) return static_cast<std::size_t>(value);
    const unsigned exponent = 63U - static_cast<unsigned>(std::countl_zero(value));  // >= kSubBits
    const unsigned shift = exponent - kSubBits;
    const auto sub = static_cast<std::size_t>((value >> shift) & ((1U << kSubBits) - 1));
    return ((static_cast<std::size_t>(shift) + 1) << kSubBits) + sub;
  }

  static std::uint64_t upper_edge(std::size_t index) {
    if (index < (1U << kSubBits)) return index;
    const auto shift = (index >> kSubBits) - 1;
    const auto sub = index & ((1U << kSubBits) - 1);
    return (((std::uint64_t{1} << kSubBits) | sub) << shift) + ((std::uint64_t{1} << shift) - 1);
  }

  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace kabar::bench
