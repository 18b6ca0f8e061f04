#include "ops/service_notify.hpp"

#include <systemd/sd-daemon.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "base/log.hpp"

namespace kabar::broker::service_notify {

void send(std::string_view state) {
  const int result = sd_notify(0, std::string(state).c_str());
  if (result < 0) {
    logging::warn({"systemd.notify_failed"}, "could not notify the service manager ({}): {}", state,
                  std::strerror(-result));
  }
}

std::optional<std::chrono::microseconds> watchdog_interval() {
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::nullopt;
  return std::chrono::microseconds(usec);
}

}  // namespace kabar::broker::service_notify
