#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "kabar/broker/engine.hpp"
#include "net/http_answer.hpp"

/// GET /v1/topics/{topic}/articles?since=OFFSET&limit=N: the HTTP read path into history, kept
/// apart from the HTTP session so that it compiles without Beast.
namespace kabar::broker::history_query {

struct Query {
  std::string topic;
  std::uint64_t since = 0;  ///< articles after this offset
  std::size_t limit = 100;
};

constexpr std::size_t kMaxLimit = 1000;
/// A page stops after the article that crosses this (the answer says `more`): ten concurrent
/// pages of a thousand 250 KiB articles once took 840 MiB.
constexpr std::size_t kMaxPageBytes = 4 << 20;
/// History reads under way at once, over the broker; more are answered 503 with Retry-After.
constexpr int kMaxConcurrentReads = 4;

/// Whether `path` (no query string) names this endpoint.
[[nodiscard]] bool matches(std::string_view path);

/// The query `target` asks for, or why it is bad (a message for a 400).
[[nodiscard]] std::variant<Query, std::string> parse(std::string_view target);

/// The engine read that answers `query`.
[[nodiscard]] ReadRequest read_request(const Query& query);

/// How a page is written, chosen by the request's Accept header.
enum class Format {
  kJson,      ///< a kabar.v1.History in the protobuf JSON mapping (the default)
  kProtobuf,  ///< the same History, binary (application/x-protobuf)
  kNinjs,     ///< a JSON array of ninjs 2.0 documents (application/ninjs+json)
};

/// The format an Accept header asks for.
[[nodiscard]] Format format_for(std::string_view accept);

/// The answer to `query` from `result`: 200 with the page in `format`; 404 for a topic never
/// stored, 503 when the store could not be read, 500 (never a partial body) when the page cannot
/// be encoded. A ninjs page has no room for kabar's fields: the topic's epoch and offsets go in
/// Kabar-Epoch, Kabar-First-Offset and Kabar-Last-Offset headers, and the next page in a Link
/// header (rel="next") when there is more. Costs up to a page's bytes: call it off the I/O
/// threads.
[[nodiscard]] Answer answer(const Query& query, const ReadResult& result, Format format);

}  // namespace kabar::broker::history_query
