#include "broker.hpp"

#include <signal.h>

#include <stdexcept>

namespace kabar::test {

namespace {

std::vector<std::string> broker_argv(std::vector<std::string> extra) {
  std::vector<std::string> argv{broker_path(), "--listen", "127.0.0.1:0"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

}  // namespace

BrokerProcess::BrokerProcess(std::vector<std::string> extra_args)
    : process_(broker_argv(std::move(extra_args))) {
  if (!process_.wait_for_output("I/O threads", 10s)) {
    throw std::runtime_error("kabar-broker did not start: " + process_.out() + process_.err());
  }
  const std::string marker = "listening on 127.0.0.1:";
  const auto at = process_.out().find(marker);
  if (at == std::string::npos) {
    throw std::runtime_error("kabar-broker printed no port: " + process_.out());
  }
  port_ = static_cast<std::uint16_t>(std::stoi(process_.out().substr(at + marker.size())));
}

BrokerProcess::~BrokerProcess() { stop(); }

std::string BrokerProcess::url() const {
  return "ws://127.0.0.1:" + std::to_string(port_) + "/v1/ws";
}

int BrokerProcess::stop(std::chrono::milliseconds timeout) {
  process_.signal(SIGTERM);
  return process_.wait(timeout).value_or(-1);
}

std::string broker_path() { return KABAR_BROKER_PATH; }
std::string pub_path() { return KABAR_PUB_PATH; }
std::string sub_path() { return KABAR_SUB_PATH; }
std::string fixtures_dir() { return KABAR_FIXTURES_DIR; }

}  // namespace kabar::test
