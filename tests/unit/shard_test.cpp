// The shard's loop (broker/src/shard.hpp, Shard::run in server.cpp), white-box.
#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <future>
#include <thread>

#include "shard.hpp"

namespace kabar::broker {
namespace {

using namespace std::chrono_literals;

PublishRequest request(const std::string& id) {
  PublishRequest publish;
  publish.article.set_id(id);
  publish.done = [](PublishOutcome) {};
  return publish;
}

// Hands the first batch back to the shard as the memory engine does (a handler posted to it),
// and in that handler the next publish is read.
struct EchoEngine final : Engine {
  Shard* shard = nullptr;
  int batches = 0;
  std::promise<void> second_batch;

  void publish(std::vector<PublishRequest>) override {
    if (++batches == 1) {
      boost::asio::post(shard->ioc, [this] { shard->publish(*this, request("urn:b")); });
    } else if (batches == 2) {
      second_batch.set_value();
    }
  }
  void read(ReadRequest, ReadCallback) override {}
  void flush(std::function<void()> done) override { done(); }
};

// A publish read in the round of handlers that runs after the pass's hand-over must reach the
// engine too: nothing else may come to wake the loop for it (found by kabar-bench as articles
// that never arrived).
TEST(ShardLoop, HandsOverAPublishReadAfterThePassHandOver) {
  Shard shard;
  EchoEngine engine;
  engine.shard = &shard;
  auto work = boost::asio::make_work_guard(shard.ioc);
  std::thread loop([&] { shard.run(engine); });
  boost::asio::post(shard.ioc, [&] { shard.publish(engine, request("urn:a")); });
  const bool handed_over = engine.second_batch.get_future().wait_for(5s) == std::future_status::ready;
  shard.ioc.stop();
  loop.join();
  EXPECT_TRUE(handed_over);
}

}  // namespace
}  // namespace kabar::broker
