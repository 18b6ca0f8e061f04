#pragma once

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstdint>
#include <string_view>
#include <utility>

// The broker's log lines: spdlog's default logger, as text (the default) or, with
// --log-format json, one JSON object per line for log shippers:
//   {"time":"2026-12-01T15:40:00.123Z","level":"info","event":"ws.open","conn":12,
//    "remote":"127.0.0.1:5555","msg":"WebSocket open"}
// Every line names its event (a stable name to filter and alert on); a connection's lines also
// its id and address, which the text format writes as "conn 12 127.0.0.1:5555 ..." before the
// message.
namespace kabar::broker::logging {

enum class Format { kText, kJson };

/// Sets the default logger's format (main, before the first line).
void set_format(Format format);

/// What a line is about.
struct About {
  About(std::string_view name) : event(name) {}  // NOLINT(google-explicit-constructor): {"x"}
  About(std::string_view name, std::uint64_t id, std::string_view address)
      : event(name), connection(id), remote(address) {}

  std::string_view event;        ///< "ws.open", "store.commit_failed": stable, dotted
  std::uint64_t connection = 0;  ///< the connection's id, 0 when the line is about none
  std::string_view remote;       ///< its peer's address
};

namespace detail {
void write(spdlog::level::level_enum level, const About& about, std::string_view message);
}

template <class... Args>
void write(spdlog::level::level_enum level, const About& about, fmt::format_string<Args...> format,
           Args&&... args) {
  if (!spdlog::should_log(level)) return;
  detail::write(level, about, fmt::format(format, std::forward<Args>(args)...));
}

template <class... Args>
void debug(const About& about, fmt::format_string<Args...> format, Args&&... args) {
  write(spdlog::level::debug, about, format, std::forward<Args>(args)...);
}
template <class... Args>
void info(const About& about, fmt::format_string<Args...> format, Args&&... args) {
  write(spdlog::level::info, about, format, std::forward<Args>(args)...);
}
template <class... Args>
void warn(const About& about, fmt::format_string<Args...> format, Args&&... args) {
  write(spdlog::level::warn, about, format, std::forward<Args>(args)...);
}
template <class... Args>
void error(const About& about, fmt::format_string<Args...> format, Args&&... args) {
  write(spdlog::level::err, about, format, std::forward<Args>(args)...);
}

}  // namespace kabar::broker::logging
