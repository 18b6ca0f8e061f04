#pragma once

#include <string>
#include <string_view>
#include <variant>

#include "kabar/common/article.hpp"
#include "kabar/v1/kabar.pb.h"

/// POST /v1/articles?topic=T...: publishing over HTTP, for newsroom tools that speak HTTP and
/// JSON. What the request carries and what the answer says, kept apart from the HTTP session so
/// that it compiles (and is tested) without Beast.
namespace kabar::broker::article_post {

inline constexpr std::string_view kPath = "/v1/articles";
/// Topics one request may name in its query (an article has at most kMaxTopicsPerArticle).
inline constexpr std::size_t kMaxQueryTopics = kMaxTopicsPerArticle;

/// How a request body is read, by its Content-Type.
enum class BodyFormat { kNinjs, kProtobuf };

/// A request refused before it reaches the engine: its HTTP status and the error it is told.
struct Refusal {
  unsigned status = 400;
  Rejection error;
};

/// The body format a Content-Type names: application/json or application/ninjs+json (ninjs),
/// application/x-protobuf (a binary kabar.v1.Article); parameters such as charset are ignored.
[[nodiscard]] std::variant<BodyFormat, Refusal> body_format(std::string_view content_type);

/// The article a request publishes: its body in `format`, with the topics of `target`'s query
/// (`?topic=international&topic=defense`) added to those the body names. Not validated yet
/// (validate_article does that, as for the WebSocket Publish).
[[nodiscard]] std::variant<v1::Article, Refusal> parse(std::string_view target, BodyFormat format,
                                                       std::string_view body);

/// The HTTP status an Error code is answered with (BAD_REQUEST 400, ..., UNAVAILABLE 503).
[[nodiscard]] unsigned status_for(v1::Error::Code code);

/// `{"code": "BAD_REQUEST", "message": "..."}` and a newline.
[[nodiscard]] std::string error_json(const Rejection& error);

/// The PublishResult in the protobuf JSON mapping (as on kabar.v1.json), every field printed.
[[nodiscard]] std::string result_json(const v1::PublishResult& result);

}  // namespace kabar::broker::article_post
