#include "kabar/common/time.hpp"

#include <algorithm>
#include <limits>

namespace kabar {
namespace {

constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kNanosPerSecond = 1'000'000'000;

}  // namespace

std::optional<std::string> timestamp_error(const google::protobuf::Timestamp& timestamp,
                                           std::string_view field) {
  if (timestamp.seconds() < kMinTimestampSeconds || timestamp.seconds() > kMaxTimestampSeconds) {
    return std::string(field) + ".seconds " + std::to_string(timestamp.seconds()) +
           " is outside 0001-01-01T00:00:00Z..9999-12-31T23:59:59Z";
  }
  if (timestamp.nanos() < 0 || timestamp.nanos() >= kNanosPerSecond) {
    return std::string(field) + ".nanos " + std::to_string(timestamp.nanos()) +
           " is outside 0..999999999";
  }
  return std::nullopt;
}

std::int64_t saturating_nanoseconds(const google::protobuf::Timestamp& timestamp) {
  const auto seconds = timestamp.seconds();
  if (seconds >= kMax / kNanosPerSecond) return kMax;
  if (seconds <= kMin / kNanosPerSecond) return kMin;
  return seconds * kNanosPerSecond +
         std::clamp<std::int64_t>(timestamp.nanos(), 0, kNanosPerSecond - 1);
}

google::protobuf::Timestamp current_timestamp() {
  const auto now = current_nanoseconds();
  google::protobuf::Timestamp timestamp;
  timestamp.set_seconds(now / kNanosPerSecond);
  timestamp.set_nanos(static_cast<std::int32_t>(now % kNanosPerSecond));
  return timestamp;
}

std::int64_t current_nanoseconds() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::int64_t saturating_multiply(std::int64_t a, std::int64_t b) {
  if (a <= 0 || b <= 0) return 0;
  return a > kMax / b ? kMax : a * b;
}

std::int64_t saturating_add(std::int64_t a, std::int64_t b) {
  if (b > 0 && a > kMax - b) return kMax;
  if (b < 0 && a < kMin - b) return kMin;
  return a + b;
}

std::chrono::nanoseconds bounded_wait(std::int64_t nanoseconds, std::chrono::nanoseconds cap) {
  return std::chrono::nanoseconds(std::clamp<std::int64_t>(nanoseconds, 0, cap.count()));
}

}  // namespace kabar
