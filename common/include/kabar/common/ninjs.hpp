#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#include "kabar/v1/kabar.pb.h"

/// IPTC ninjs 2.0 JSON <-> kabar.v1.Article (the mapping is tabled in README.md).
/// @note Pure functions: safe from any thread.
namespace kabar {

/// A ninjs document that cannot be mapped; what() names the field and the reason.
class NinjsError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Maps one ninjs document. Topics are not part of ninjs: the caller adds them.
/// @throws NinjsError when the JSON does not parse or a field has the wrong type or value.
[[nodiscard]] v1::Article article_from_ninjs(std::string_view text);

/// The ninjs 2.0 document of `article`, compact JSON valid against IPTC's ninjs 2.0 schema for
/// a validated article; the exact inverse of article_from_ninjs (topics are not ninjs: dropped).
/// ninjs 2.0 has no keywords and no links: keywords are written as subjects with rel "keyword"
/// and the url as the rendition named "canonical", which article_from_ninjs reads back.
[[nodiscard]] std::string ninjs_from_article(const v1::Article& article);

}  // namespace kabar
