// The broker as a service manager and an SRE see it: the notify protocol (this test plays
// systemd's part on a datagram socket), the unit file, JSON logs, one version everywhere.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>

#include "broker.hpp"
#include "client_support.hpp"
#include "kabar/version.hpp"
#include "raw_ws.hpp"

namespace kabar::test {
namespace {

// systemd's end of NOTIFY_SOCKET: a datagram socket bound to a path in a temporary directory.
class NotifySocket {
 public:
  NotifySocket() : path_((dir_.path() / "notify.sock").string()) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path_.c_str(), sizeof address.sun_path - 1);
    if (fd_ < 0 || bind(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
      throw std::runtime_error("cannot bind " + path_ + ": " + std::strerror(errno));
    }
  }
  ~NotifySocket() { close(fd_); }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  [[nodiscard]] const std::string& path() const { return path_; }

  /// The next datagram, or "" when none comes within `timeout`.
  std::string next(std::chrono::milliseconds timeout) {
    pollfd ready{fd_, POLLIN, 0};
    if (poll(&ready, 1, static_cast<int>(timeout.count())) <= 0) return "";
    char buffer[4096];
    const auto got = recv(fd_, buffer, sizeof buffer, 0);
    return got > 0 ? std::string(buffer, static_cast<std::size_t>(got)) : "";
  }

  /// Reads datagrams until one is `state`; false when none is within `timeout`. What came
  /// before it is appended to `seen`.
  bool wait_for(const std::string& state, std::chrono::milliseconds timeout,
                std::vector<std::string>* seen = nullptr) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      auto message =
          next(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
      if (message == state) return true;
      if (seen != nullptr && !message.empty()) seen->push_back(message);
    }
    return false;
  }

 private:
  TempDir dir_;
  std::string path_;
  int fd_ = -1;
};

std::uint16_t port_from(Process& broker) {
  if (!broker.wait_for_output("I/O threads", 10s)) return 0;
  const std::string marker = "listening on 127.0.0.1:";
  const auto at = broker.out().find(marker);
  return at == std::string::npos
             ? 0
             : static_cast<std::uint16_t>(std::stoi(broker.out().substr(at + marker.size())));
}

TEST(Service, NotifiesReadyWhenServingReloadingOnSighupAndStoppingOnTheDrain) {
  NotifySocket systemd;
  Process broker({"/usr/bin/env", "NOTIFY_SOCKET=" + systemd.path(), broker_path(), "--listen",
                  "127.0.0.1:0", "--store", "memory"});
  ASSERT_TRUE(systemd.wait_for("READY=1", 10s)) << broker.out() << broker.err();
  // Ready means serving: a health check made the moment it says so is answered.
  const auto port = port_from(broker);
  ASSERT_NE(port, 0) << broker.out();
  EXPECT_EQ(http_get(port, "/healthz").status, 200);

  broker.signal(SIGHUP);
  EXPECT_TRUE(systemd.wait_for("RELOADING=1", 5s));
  EXPECT_TRUE(systemd.wait_for("READY=1", 5s));

  broker.signal(SIGTERM);
  EXPECT_TRUE(systemd.wait_for("STOPPING=1", 5s));
  EXPECT_EQ(broker.wait(5s), 0) << broker.err();
}

TEST(Service, PingsTheWatchdogWhileItsIoThreadsRun) {
  NotifySocket systemd;
  // WatchdogSec=200ms as systemd sets it: a ping at least every 100 ms.
  Process broker({"/usr/bin/env", "NOTIFY_SOCKET=" + systemd.path(), "WATCHDOG_USEC=200000",
                  broker_path(), "--listen", "127.0.0.1:0", "--store", "memory", "--threads", "2"});
  ASSERT_TRUE(systemd.wait_for("READY=1", 10s)) << broker.err();
  const auto start = Clock::now();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(systemd.wait_for("WATCHDOG=1", 1s)) << i;
  EXPECT_LT(Clock::now() - start, 2s);  // about 0.5 s: every 100 ms
  broker.signal(SIGTERM);
  EXPECT_TRUE(systemd.wait_for("STOPPING=1", 5s));
  EXPECT_EQ(broker.wait(5s), 0) << broker.err();
}

TEST(Service, WithoutNotifySocketTheBrokerSendsNothingAndRunsAsUsual) {
  NotifySocket systemd;  // bound, but not named to the broker
  BrokerProcess broker({"--store", "memory"});
  EXPECT_EQ(http_get(broker.port(), "/healthz").status, 200);
  EXPECT_EQ(systemd.next(300ms), "");
  EXPECT_EQ(broker.stop(), 0);
}

TEST(Service, TheUnitFilePassesSystemdAnalyzeVerify) {
  // verify checks that ExecStart's program exists: the unit as installed, pointed at this build's.
  std::ifstream in(std::string(KABAR_SOURCE_DIR) + "/packaging/kabar-broker.service");
  std::stringstream text;
  text << in.rdbuf();
  const auto unit =
      std::regex_replace(text.str(), std::regex("/usr/bin/kabar-broker"), broker_path());
  ASSERT_NE(unit.find("Type=notify"), std::string::npos);
  TempDir dir;
  const auto path = dir.path() / "kabar-broker.service";
  std::ofstream(path) << unit;
  // A setting systemd does not understand is only a warning: nothing may be printed at all.
  const auto checked = run({"/usr/bin/systemd-analyze", "verify", "--man=no", path.string()});
  EXPECT_EQ(checked.status, 0) << checked.err;
  EXPECT_EQ(checked.err + checked.out, "");

  // Its hardening, as systemd scores it (0 best, 100 worst; 14 when written): kept under 20.
  const auto exposure = run(
      {"/usr/bin/systemd-analyze", "security", "--offline=true", "--threshold=20", path.string()});
  EXPECT_EQ(exposure.status, 0) << exposure.out << exposure.err;

  std::ofstream(path) << std::regex_replace(unit, std::regex("Type=notify"), "Type=notfy");
  const auto broken = run({"/usr/bin/systemd-analyze", "verify", "--man=no", path.string()});
  EXPECT_NE(broken.err, "") << "the check would not see a broken unit";
}

TEST(Service, TheExampleConfigNamesEveryOptionWithItsDefaultAndIsAccepted) {
  const auto example = std::string(KABAR_SOURCE_DIR) + "/packaging/kabar.toml";
  std::ifstream in(example);
  std::stringstream text;
  text << in.rdbuf();
  // "key = value" or "# key = value" (a default left as it is), by long option name.
  std::map<std::string, std::string> keys;
  const std::regex setting(R"(^(?:# )?([a-z0-9-]+) = (.+)$)");
  std::string line;
  while (std::getline(text, line)) {
    std::smatch parts;
    if (std::regex_match(line, parts, setting)) keys[parts[1]] = parts[2];
  }
  const auto help = run({broker_path(), "--help"});
  const std::regex option(R"(^\s+--([a-z0-9-]+))");
  int options = 0;
  std::istringstream help_lines(help.out);
  while (std::getline(help_lines, line)) {
    std::smatch parts;
    if (!std::regex_search(line, parts, option)) continue;
    const std::string name = parts[1];
    // Actions, not settings: the file cannot hold them.
    if (name == "help" || name == "version" || name == "config" || name == "print-config" ||
        name == "backup-to") {
      continue;
    }
    ++options;
    EXPECT_TRUE(keys.contains(name)) << "packaging/kabar.toml does not mention --" << name;
  }
  EXPECT_GT(options, 40);
  // Each default it states is the broker's (what --print-config prints without a file).
  const auto defaults = run({broker_path(), "--print-config"});
  std::istringstream default_lines(defaults.out);
  while (std::getline(default_lines, line)) {
    const auto equals = line.find('=');
    if (line.empty() || line[0] == '#' || equals == std::string::npos) continue;
    const auto name = line.substr(0, equals);
    if (name == "listen" || name == "data-dir") continue;  // set for the service on purpose
    ASSERT_TRUE(keys.contains(name)) << name;
    EXPECT_EQ(keys[name], line.substr(equals + 1)) << "the default of " << name;
  }
  // And the broker takes the file as it is shipped.
  const auto read = run({broker_path(), "--config", example, "--print-config"});
  EXPECT_EQ(read.status, 0) << read.err;
  EXPECT_NE(read.out.find("data-dir=\"/var/lib/kabar\""), std::string::npos) << read.out;
}

TEST(Service, JsonLogsAreOneObjectPerLineWithTheConnectionsFields) {
  BrokerProcess broker({"--store", "memory", "--log-format", "json"});
  {
    // A name that would break a naive line: quotes, a newline, a control byte.
    Connected client(broker.url(), "desk \"7\"\nsecond line\x01");
    client.publish(article("urn:test:json-log", {"logs"}));
  }
  ASSERT_EQ(broker.stop(), 0);
  std::istringstream lines(broker.process().out());
  std::string line;
  int connected = 0, count = 0;
  while (std::getline(lines, line)) {
    ++count;
    const auto entry = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(entry.is_discarded()) << line;
    for (const char* key : {"time", "level", "event", "msg"}) {
      ASSERT_TRUE(entry.contains(key)) << key << " missing: " << line;
    }
    EXPECT_TRUE(std::regex_match(entry["time"].get<std::string>(),
                                 std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")))
        << line;
    if (entry["event"] == "ws.connected") {
      ++connected;
      EXPECT_GT(entry["conn"].get<std::uint64_t>(), 0U) << line;
      EXPECT_EQ(entry["remote"].get<std::string>().rfind("127.0.0.1:", 0), 0U) << line;
      EXPECT_NE(entry["msg"].get<std::string>().find("second line"), std::string::npos) << line;
    }
  }
  EXPECT_EQ(connected, 1) << broker.process().out();
  EXPECT_GE(count, 4);  // listening, open, connected, ended, shutting down, stopped
}

TEST(Service, VersionAndCommitAgreeInVersionFlagStartupLineMetricsAndChangelog) {
  const auto version = run({broker_path(), "--version"});
  ASSERT_EQ(version.status, 0);
  std::smatch parts;
  ASSERT_TRUE(std::regex_match(
      version.out, parts, std::regex(R"((\d+\.\d+\.\d+) \(commit ([0-9a-f]{12}|unknown)\)\n)")))
      << version.out;
  const std::string number = parts[1], commit = parts[2];
  EXPECT_EQ(number, kVersion);

  BrokerProcess broker({"--store", "memory"});
  EXPECT_NE(broker.process().out().find("kabar-broker " + number + " (commit " + commit +
                                        ") listening on"),
            std::string::npos)
      << broker.process().out();
  const auto metrics = http_get(broker.port(), "/metrics");
  EXPECT_EQ(metric_sample(metrics.body,
                          "kabar_build_info{version=\"" + number + "\",commit=\"" + commit + "\"}"),
            1.0)
      << metrics.body;

  // The newest release in CHANGELOG.md is the one being built.
  std::ifstream changelog(std::string(KABAR_SOURCE_DIR) + "/CHANGELOG.md");
  std::string line;
  std::string newest;
  while (std::getline(changelog, line)) {
    std::smatch release;
    if (std::regex_search(line, release, std::regex(R"(^## \[(\d+\.\d+\.\d+)\])"))) {
      newest = release[1];
      break;
    }
  }
  EXPECT_EQ(newest, number) << "CHANGELOG.md's newest release";
  // And the Debian package's changelog, whose first entry is the package's version.
  std::ifstream debian(std::string(KABAR_SOURCE_DIR) + "/packaging/debian/changelog");
  std::getline(debian, line);
  EXPECT_EQ(line.rfind("kabar (" + number + ") ", 0), 0U) << line;
}

}  // namespace
}  // namespace kabar::test
