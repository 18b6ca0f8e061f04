#pragma once

#include <chrono>
#include <optional>
#include <string_view>

// The broker's side of systemd's notify protocol (Type=notify in kabar-broker.service).
namespace kabar::broker::service_notify {

/// Tells the service manager the broker's state: "READY=1", "STOPPING=1", "RELOADING=1",
/// "WATCHDOG=1", "STATUS=...". Sent only when NOTIFY_SOCKET is set (libsystemd's sd_notify
/// does nothing otherwise); a failure to send is logged, never fatal.
void send(std::string_view state);

/// How often the manager expects WATCHDOG=1 (WatchdogSec=), or nothing when it does not.
std::optional<std::chrono::microseconds> watchdog_interval();

}  // namespace kabar::broker::service_notify
