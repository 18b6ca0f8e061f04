#pragma once

#include <string>
#include <string_view>

/// ASCII case folding, for what protocols compare without case (media types, JWT alg, BCP 47
/// tags, routing-table subjects): no locale, bytes above 0x7F left as they are.
namespace kabar {

[[nodiscard]] constexpr char lower_ascii(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

[[nodiscard]] inline std::string lower_ascii(std::string_view text) {
  std::string lowered(text);
  for (auto& c : lowered) c = lower_ascii(c);
  return lowered;
}

}  // namespace kabar
