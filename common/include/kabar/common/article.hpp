#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "kabar/v1/kabar.pb.h"

/// What makes an article publishable, and which subscribers want it.
/// @note Pure functions: safe from any thread.
namespace kabar {

inline constexpr std::size_t kMaxArticleIdLength = 1024;
inline constexpr std::size_t kMaxTopicsPerArticle = 16;
/// Subjects one article may carry: the routing table looks each up at publish.
inline constexpr std::size_t kMaxSubjectsPerArticle = 64;
/// ninjs `type` values (IPTC's nature of the item); an article carries one of them or none.
inline constexpr std::array<std::string_view, 7> kArticleTypes = {
    "text", "audio", "video", "picture", "graphic", "composite", "component"};
inline constexpr std::uint32_t kMaxUrgency = 9;
/// Languages one subscription filter may list: a filter is kept per subscription and walked
/// per delivery, so its size is bounded (a client once sent 240 000).
inline constexpr std::size_t kMaxFilterLanguages = 32;

/// A request the broker refuses, with the code and the sentence the client is told.
struct Rejection {
  v1::Error::Code code = v1::Error::BAD_REQUEST;
  std::string message;
};

/// Checks `article` for publishing and normalises it (version 0 becomes 1).
/// `max_bytes` bounds the encoded article. nullopt when it may be published.
[[nodiscard]] std::optional<Rejection> validate_article(v1::Article& article,
                                                        std::size_t max_bytes);

/// Why `filter` is invalid, or nullopt.
[[nodiscard]] std::optional<std::string> filter_error(const v1::Filter& filter);

/// True when an article of this urgency and language passes `filter`.
/// Urgency 0 (not set) passes only when the filter has no urgency condition.
[[nodiscard]] bool filter_accepts(const v1::Filter& filter, std::uint32_t urgency,
                                  std::string_view language);

}  // namespace kabar
