#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace kabar {

/// `text` as it may stand in a log line: control characters (a newline would start a forged line),
/// DEL and backslashes escaped as \n, \r, \t, \\ or \xHH, and cut after `max_bytes` of input with
/// "..." and the original size. For every string a client or a token chose (client names, topics
/// and patterns in refused requests, `sub`, close reasons, headers).
/// @note Pure: safe from any thread.
[[nodiscard]] std::string log_safe(std::string_view text, std::size_t max_bytes = 200);

}  // namespace kabar
