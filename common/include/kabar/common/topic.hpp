#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

/// Topic names and patterns (SPEC section 3, "Topics, offsets, epochs").
///
/// A topic is 1-8 dot-separated segments of [a-z0-9][a-z0-9_-]{0,63}: "international",
/// "defense.asia". A pattern may use "*" for exactly one segment and, as its last segment only,
/// ">" for one or more trailing segments.
/// @note Pure functions: safe from any thread.
namespace kabar {

inline constexpr std::size_t kMaxTopicSegments = 8;
inline constexpr std::size_t kMaxSegmentLength = 64;
inline constexpr std::size_t kMaxTopicLength =
    kMaxTopicSegments * kMaxSegmentLength + (kMaxTopicSegments - 1);

/// The segments of a topic or pattern, viewing into the caller's string. Never allocates.
struct TopicSegments {
  std::array<std::string_view, kMaxTopicSegments> items{};
  std::size_t count = 0;

  [[nodiscard]] const std::string_view* begin() const { return items.data(); }
  [[nodiscard]] const std::string_view* end() const { return items.data() + count; }
};

/// Splits on '.'; nullopt when there are more than kMaxTopicSegments segments.
[[nodiscard]] std::optional<TopicSegments> split_topic(std::string_view topic);

/// Why `topic` is not a valid plain topic, or nullopt when it is.
[[nodiscard]] std::optional<std::string> topic_error(std::string_view topic);

/// Why `pattern` is neither a valid topic nor a valid pattern, or nullopt when it is one.
[[nodiscard]] std::optional<std::string> pattern_error(std::string_view pattern);

/// True when `pattern` contains a wildcard segment.
[[nodiscard]] bool is_pattern(std::string_view pattern);

/// True when the valid topic `topic` is matched by the valid topic-or-pattern `pattern`.
[[nodiscard]] bool topic_matches(std::string_view pattern, std::string_view topic);

/// True when every topic `inner` (a valid topic or pattern) matches is also matched by
/// `outer`: `defense.>` covers `defense.asia` and `defense.*`; `*` does not cover `>`.
[[nodiscard]] bool pattern_covers(std::string_view outer, std::string_view inner);

}  // namespace kabar
