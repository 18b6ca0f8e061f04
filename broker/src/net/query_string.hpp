#pragma once

#include <string_view>

namespace kabar::broker {

/// Calls `visit(key, value)` for each `key=value` of `target`'s query string (after '?'), in
/// order, viewing into `target`; a parameter without '=' has an empty value, an empty one is
/// skipped. Stops early when `visit` returns false. Nothing is decoded.
template <typename Visit>
void for_each_query_parameter(std::string_view target, Visit visit) {
  const auto question = target.find('?');
  if (question == std::string_view::npos) return;
  auto rest = target.substr(question + 1);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const auto item = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (item.empty()) continue;
    const auto eq = item.find('=');
    const auto value = eq == std::string_view::npos ? std::string_view() : item.substr(eq + 1);
    if (!visit(item.substr(0, eq), value)) return;
  }
}

}  // namespace kabar::broker
