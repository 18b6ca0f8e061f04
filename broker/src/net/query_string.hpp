#pragma once

#include <charconv>
#include <string>
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

/// `text` as a whole number in `value`: false when it is empty, has anything but digits, or is
/// out of T's range.
template <typename T>
bool parse_whole_number(std::string_view text, T& value) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

/// RFC 3986 percent-decoding; a malformed escape is kept as it is (a token then fails to verify,
/// a topic its check).
inline std::string percent_decode(std::string_view text) {
  const auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex(text[i + 1]) >= 0 && hex(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2])));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

}  // namespace kabar::broker
