#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "kabar/broker/engine.hpp"

/// GET /v1/topics/{topic}/articles?since=OFFSET&limit=N: the HTTP read path into history, kept
/// apart from the HTTP session so that it compiles without Beast.
namespace kabar::broker::history_query {

struct Query {
  std::string topic;
  std::uint64_t since = 0;  ///< articles after this offset
  std::size_t limit = 100;
};

constexpr std::size_t kMaxLimit = 1000;

/// Whether `path` (no query string) names this endpoint.
[[nodiscard]] bool matches(std::string_view path);

/// The query `target` asks for, or why it is bad (a message for a 400).
[[nodiscard]] std::variant<Query, std::string> parse(std::string_view target);

/// The engine read that answers `query`.
[[nodiscard]] ReadRequest read_request(const Query& query);

/// The body answering `query` from `result`: a kabar.v1.History, in the protobuf JSON mapping or
/// (with `protobuf`) binary.
[[nodiscard]] std::string encode(const Query& query, const ReadResult& result, bool protobuf);

}  // namespace kabar::broker::history_query
