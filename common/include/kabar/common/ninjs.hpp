#pragma once

#include <stdexcept>
#include <string_view>

#include "kabar/v1/kabar.pb.h"

/// IPTC ninjs 2.0 JSON -> kabar.v1.Article (the mapping is tabled in README.md).
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

}  // namespace kabar
