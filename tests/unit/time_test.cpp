// Time values from clients and configuration: the boundaries where int64 nanoseconds end.
#include "kabar/common/time.hpp"

#include <gtest/gtest.h>

#include <limits>

#include "kabar/common/log_safe.hpp"

namespace kabar {
namespace {

google::protobuf::Timestamp at(std::int64_t seconds, std::int32_t nanos = 0) {
  google::protobuf::Timestamp timestamp;
  timestamp.set_seconds(seconds);
  timestamp.set_nanos(nanos);
  return timestamp;
}

TEST(Time, TimestampsAreValidExactlyWithinRfc3339) {
  EXPECT_EQ(timestamp_error(at(kMaxTimestampSeconds, 999'999'999), "t"), std::nullopt);
  EXPECT_EQ(timestamp_error(at(kMinTimestampSeconds), "t"), std::nullopt);
  EXPECT_NE(timestamp_error(at(kMaxTimestampSeconds + 1), "t"), std::nullopt);
  EXPECT_NE(timestamp_error(at(kMinTimestampSeconds - 1), "t"), std::nullopt);
  EXPECT_EQ(timestamp_error(at(0, -1), "a.b").value_or(""), "a.b.nanos -1 is outside 0..999999999");
  EXPECT_NE(timestamp_error(at(0, 1'000'000'000), "t"), std::nullopt);
}

TEST(Time, NanosecondsSaturateInsteadOfWrapping) {
  constexpr auto kMax = std::numeric_limits<std::int64_t>::max();
  constexpr auto kMin = std::numeric_limits<std::int64_t>::min();
  EXPECT_EQ(saturating_nanoseconds(at(1, 5)), 1'000'000'005);
  EXPECT_EQ(saturating_nanoseconds(at(9'223'372'035, 999'999'999)), 9'223'372'035'999'999'999);
  EXPECT_EQ(saturating_nanoseconds(at(9'223'372'036)), kMax);  // 2262-04-11: past the int64 end
  EXPECT_EQ(saturating_nanoseconds(at(kMaxTimestampSeconds)), kMax);  // 9999-12-31
  EXPECT_EQ(saturating_nanoseconds(at(kMinTimestampSeconds)), kMin);
  EXPECT_GT(saturating_nanoseconds(at(kMaxTimestampSeconds)), current_nanoseconds());
}

TEST(Time, SaturatingArithmeticStopsAtTheInt64Maximum) {
  constexpr auto kMax = std::numeric_limits<std::int64_t>::max();
  EXPECT_EQ(saturating_multiply(10'000'000LL * 3600, 1'000'000'000), kMax);
  EXPECT_EQ(saturating_multiply(3600, 1'000'000'000), 3'600'000'000'000);
  EXPECT_EQ(saturating_add(kMax - 1, 5), kMax);
  constexpr std::int64_t k2025 = 1'764'000'000'000'000'000;  // ns since 1970, late 2025
  EXPECT_EQ(saturating_add(k2025, -kMax), k2025 - kMax);
  EXPECT_EQ(saturating_add(std::numeric_limits<std::int64_t>::min() + 1, -5),
            std::numeric_limits<std::int64_t>::min());
}

TEST(Time, TimerWaitsAreBoundedAndNeverNegative) {
  constexpr auto cap = std::chrono::seconds(60);
  EXPECT_EQ(bounded_wait(-5, cap), std::chrono::nanoseconds(0));
  EXPECT_EQ(bounded_wait(1'000, cap), std::chrono::nanoseconds(1'000));
  EXPECT_EQ(bounded_wait(std::numeric_limits<std::int64_t>::max(), cap), cap);
}

TEST(Time, TheCurrentTimestampHasSubSecondPrecision) {
  // protobuf 3.21's TimeUtil::GetCurrentTime() has whole seconds: nanos always 0. Ours reads the
  // system clock's nanoseconds, which are 0 once in a billion reads.
  bool sub_second = false;
  for (int i = 0; i < 20 && !sub_second; ++i) {
    sub_second = current_timestamp().nanos() != 0;
  }
  EXPECT_TRUE(sub_second);
  const auto now = current_timestamp();
  EXPECT_GE(now.nanos(), 0);
  EXPECT_LT(now.nanos(), 1'000'000'000);
}

TEST(LogSafe, ControlCharactersAreEscapedAndLongTextIsCut) {
  EXPECT_EQ(log_safe("desk-asia"), "desk-asia");
  EXPECT_EQ(log_safe("x\n2026-01-01T00:00:00.000 info forged"),
            "x\\n2026-01-01T00:00:00.000 info forged");
  EXPECT_EQ(log_safe(std::string("a\r\t\\\x01\x7f", 6)), "a\\r\\t\\\\\\x01\\x7f");
  EXPECT_EQ(log_safe(std::string(300, 'a')), std::string(200, 'a') + "...(300 bytes)");
  EXPECT_EQ(log_safe("abcdef", 3), "abc...(6 bytes)");
  EXPECT_EQ(log_safe("Jakarta \xe2\x80\x93 Seoul"), "Jakarta \xe2\x80\x93 Seoul");  // UTF-8 kept
}

}  // namespace
}  // namespace kabar
