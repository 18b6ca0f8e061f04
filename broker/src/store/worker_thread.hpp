#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <thread>

namespace kabar::broker {

/// An io_context on a thread of its own, run until stop(): an engine's writer or reader.
struct WorkerThread {
  boost::asio::io_context ioc{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work =
      boost::asio::make_work_guard(ioc);
  std::thread thread;

  void start() {
    thread = std::thread([this] { ioc.run(); });
  }
  void stop() {
    work.reset();
    ioc.stop();  // pending handlers and timers are abandoned: the engine drained what mattered
    if (thread.joinable()) thread.join();
  }
};

}  // namespace kabar::broker
