#include "base/log.hpp"

#include <fmt/chrono.h>
#include <spdlog/formatter.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

namespace kabar::broker::logging {
namespace {

std::atomic<Format> current_format{Format::kText};
// The line being written on this thread, for the JSON formatter: spdlog's default logger is
// synchronous, so the formatter runs inside detail::write's call.
thread_local const About* current_line = nullptr;

std::string utc_time(std::chrono::system_clock::time_point time) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count() % 1000;
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03}Z",
                     fmt::gmtime(std::chrono::system_clock::to_time_t(time)), ms);
}

class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    nlohmann::ordered_json line;
    line["time"] = utc_time(msg.time);
    const auto level = spdlog::level::to_string_view(msg.level);
    line["level"] = std::string_view(level.data(), level.size());
    const About* about = current_line;
    line["event"] = about != nullptr ? about->event : std::string_view("log");
    if (about != nullptr && about->connection != 0) {
      line["conn"] = about->connection;
      line["remote"] = about->remote;
    }
    line["msg"] = std::string_view(msg.payload.data(), msg.payload.size());
    // Bytes that are not UTF-8 (a client's, escaped by log_safe already) never break the line.
    const auto text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    dest.append(text.data(), text.data() + text.size());
    dest.push_back('\n');
  }
  [[nodiscard]] std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

}  // namespace

void set_format(Format format) {
  current_format = format;
  if (format == Format::kJson) {
    spdlog::set_formatter(std::make_unique<JsonFormatter>());
  } else {
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  }
}

namespace detail {

void write(spdlog::level::level_enum level, const About& about, std::string_view message) {
  if (current_format == Format::kJson) {
    current_line = &about;
    spdlog::log(level, "{}", message);
    current_line = nullptr;
  } else if (about.connection != 0) {
    spdlog::log(level, "conn {} {} {}", about.connection, about.remote, message);
  } else {
    spdlog::log(level, "{}", message);
  }
}

}  // namespace detail
}  // namespace kabar::broker::logging
