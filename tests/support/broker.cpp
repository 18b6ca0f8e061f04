#include "broker.hpp"

#include <signal.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

namespace kabar::test {

namespace {

std::vector<std::string> broker_argv(std::vector<std::string> extra,
                                     const std::optional<TempDir>& data_dir) {
  std::vector<std::string> argv{broker_path()};
  if (std::find(extra.begin(), extra.end(), "--listen") == extra.end()) {
    argv.insert(argv.end(), {"--listen", "127.0.0.1:0"});
  }
  if (data_dir) {
    argv.push_back("--data-dir");
    argv.push_back(data_dir->path().string());
  }
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

bool names_data_dir(const std::vector<std::string>& args) {
  return std::find(args.begin(), args.end(), "--data-dir") != args.end();
}

}  // namespace

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TempDir::TempDir() {
  std::random_device random;
  path_ = std::filesystem::temp_directory_path() /
          ("kabar-test-" + std::to_string(random()) + std::to_string(random()));
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

BrokerProcess::BrokerProcess(const std::filesystem::path& data_dir,
                             std::vector<std::string> extra_args)
    : BrokerProcess([&] {
        extra_args.push_back("--data-dir");
        extra_args.push_back(data_dir.string());
        return std::move(extra_args);
      }()) {}

BrokerProcess::BrokerProcess(std::vector<std::string> extra_args)
    : own_data_dir_(names_data_dir(extra_args) ? std::nullopt : std::make_optional<TempDir>()),
      process_(broker_argv(std::move(extra_args), own_data_dir_)) {
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

BrokerProcess::~BrokerProcess() {
  stop();
}

std::string BrokerProcess::url() const {
  return "ws://127.0.0.1:" + std::to_string(port_) + "/v1/ws";
}

int BrokerProcess::stop(std::chrono::milliseconds timeout) {
  process_.signal(SIGTERM);
  return process_.wait(timeout).value_or(-1);
}

void BrokerProcess::kill() {
  process_.signal(SIGKILL);
  (void)process_.wait(10s);
}

std::string broker_path() {
  return KABAR_BROKER_PATH;
}
std::string pub_path() {
  return KABAR_PUB_PATH;
}
std::string sub_path() {
  return KABAR_SUB_PATH;
}
std::string fixtures_dir() {
  return KABAR_FIXTURES_DIR;
}

std::vector<std::string> hs256_secret_flags(const TempDir& dir, const std::string& secret) {
  const auto path = dir.path() / "secret";
  std::ofstream(path) << secret << "\n";
  return {"--jwt-secret-file", path.string()};
}

}  // namespace kabar::test
