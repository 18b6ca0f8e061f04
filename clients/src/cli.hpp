#pragma once
// What kabar-pub and kabar-sub share: an io_context on a thread of its own, so that main can
// make requests through the client's futures and wait on them with deadlines.

#include <CLI/CLI.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <future>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>

#include "kabar/client/client.hpp"

namespace kabar::cli {

class IoThread {
 public:
  IoThread() : work_(boost::asio::make_work_guard(ioc_)), thread_([this] { ioc_.run(); }) {}
  ~IoThread() {
    work_.reset();
    thread_.join();
  }
  IoThread(const IoThread&) = delete;
  IoThread& operator=(const IoThread&) = delete;

  boost::asio::io_context& context() { return ioc_; }

 private:
  boost::asio::io_context ioc_{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
};

/// The value of `future`, or std::runtime_error naming `what` when it is not ready in time.
template <typename T>
T await(std::future<T>& future, std::chrono::milliseconds timeout, const std::string& what) {
  if (future.wait_for(timeout) != std::future_status::ready) {
    throw std::runtime_error(what + ": no answer within " + std::to_string(timeout.count()) +
                             " ms");
  }
  return future.get();
}

/// The options both programs reach a broker with: --url, --tls-ca, --token.
inline void add_connection_options(CLI::App& app, client::Options& options) {
  app.add_option("--url", options.url, "broker WebSocket URL, ws:// or wss://")
      ->capture_default_str();
  app.add_option("--tls-ca", options.tls_ca_file,
                 "wss://: PEM file of the certificate authorities to trust (default: the "
                 "system's)")
      ->check(CLI::ExistingFile);
  app.add_option("--token", options.token, "auth token sent in Connect");
}

/// Prints "PROGRAM: error: MESSAGE" to stderr; returns the exit status for failures.
inline int report(const char* program, const std::string& message) {
  std::cerr << program << ": error: " << message << '\n';
  return 1;
}

}  // namespace kabar::cli
