#pragma once

#include <google/protobuf/timestamp.pb.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

/// Time values from clients and configuration, computed without overflow.
///
/// A `google.protobuf.Timestamp` may name any second of years 0001-9999 (RFC 3339's range), but
/// nanoseconds since 1970 in an int64 reach only 1677-2262, and std::chrono's system_clock and
/// steady_clock count nanoseconds here: every conversion from a client's or an operator's value
/// goes through these functions, which saturate instead of wrapping.
/// @note Pure functions: safe from any thread.
namespace kabar {

/// RFC 3339's range, 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z, in seconds since 1970.
inline constexpr std::int64_t kMinTimestampSeconds = -62'135'596'800;
inline constexpr std::int64_t kMaxTimestampSeconds = 253'402'300'799;
inline constexpr std::int64_t kNanosecondsPerHour = std::int64_t{3600} * 1'000'000'000;

/// Why `timestamp` is outside RFC 3339's range or has nanos outside 0..999 999 999, naming
/// `field`; nullopt when it is valid.
[[nodiscard]] std::optional<std::string> timestamp_error(
    const google::protobuf::Timestamp& timestamp, std::string_view field);

/// Nanoseconds since 1970, saturated to the int64 range (years 1677-2262): a later time is
/// "as late as can be counted", never a wrapped, earlier one.
[[nodiscard]] std::int64_t saturating_nanoseconds(const google::protobuf::Timestamp& timestamp);

/// The wall clock now, to the nanosecond the system gives (protobuf 3.21's
/// TimeUtil::GetCurrentTime() has whole seconds only).
[[nodiscard]] google::protobuf::Timestamp current_timestamp();
[[nodiscard]] std::int64_t current_nanoseconds();

/// `a * b` and `a + b` for non-negative durations in nanoseconds, saturated at the int64 maximum.
[[nodiscard]] std::int64_t saturating_multiply(std::int64_t a, std::int64_t b);
[[nodiscard]] std::int64_t saturating_add(std::int64_t a, std::int64_t b);

/// `duration` as a wait a timer can take: never negative, at most `cap` (a timer armed for the
/// far future is re-armed when it fires instead, which also follows wall-clock changes).
[[nodiscard]] std::chrono::nanoseconds bounded_wait(std::int64_t nanoseconds,
                                                    std::chrono::nanoseconds cap);

}  // namespace kabar
