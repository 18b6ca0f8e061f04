// The shard's loop (broker/src/core/shard.hpp, shard.cpp), white-box.
#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <future>
#include <optional>
#include <thread>

#include "core/shard.hpp"

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
      boost::asio::post(shard->io_context(), [this] { shard->publish(*this, request("urn:b")); });
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
  Metrics metrics(1, 0);
  Shard shard(metrics, 0);
  EchoEngine engine;
  engine.shard = &shard;
  auto work = boost::asio::make_work_guard(shard.io_context());
  std::thread loop([&] { shard.run(engine); });
  boost::asio::post(shard.io_context(), [&] { shard.publish(engine, request("urn:a")); });
  const bool handed_over =
      engine.second_batch.get_future().wait_for(5s) == std::future_status::ready;
  shard.io_context().stop();
  loop.join();
  EXPECT_TRUE(handed_over);
}

struct NullEngine final : Engine {
  void publish(std::vector<PublishRequest>) override {}
  void read(ReadRequest, ReadCallback) override {}
  void flush(std::function<void()> done) override { done(); }
};

// Records when the shard writes it.
struct RecordingConnection final : Connection {
  std::function<void()> on_write;
  void shut_down() override {}
  void write_turn() override { on_write(); }
};

// A batch that reaches thousands of subscribers must not hold up an acknowledgement, nor the
// reading of the next publish: a pass writes every reply, then a slice of the rest, and the
// loop goes on without waiting for events while writes are left.
TEST(ShardLoop, WritesRepliesFirstThenDeliveriesASliceAPass) {
  Metrics metrics(1, 0);
  Shard shard(metrics, 0);
  NullEngine engine;
  constexpr std::size_t kSubscribers = 3 * Shard::kMaxWritesPerPass + 5;
  std::size_t written = 0;
  std::optional<std::size_t> written_before_reply, written_at_next_pass;
  std::promise<void> all_written;
  std::vector<std::shared_ptr<RecordingConnection>> subscribers;
  for (std::size_t i = 0; i < kSubscribers; ++i) {
    auto& subscriber = subscribers.emplace_back(std::make_shared<RecordingConnection>());
    subscriber->on_write = [&] {
      if (++written == kSubscribers) all_written.set_value();
    };
  }
  auto publisher = std::make_shared<RecordingConnection>();
  publisher->on_write = [&] {
    written_before_reply = written;
    // Runs at the start of the next pass, after this pass's writes.
    boost::asio::post(shard.io_context(), [&] { written_at_next_pass = written; });
  };
  auto work = boost::asio::make_work_guard(shard.io_context());
  std::thread loop([&] { shard.run(engine); });
  boost::asio::post(shard.io_context(), [&] {
    for (auto& subscriber : subscribers) shard.schedule_write(subscriber, false);
    shard.schedule_write(publisher, true);  // queued last, written first
  });
  const bool done = all_written.get_future().wait_for(5s) == std::future_status::ready;
  shard.io_context().stop();
  loop.join();
  ASSERT_TRUE(done) << "the loop stopped writing with " << written << " of " << kSubscribers;
  EXPECT_EQ(written_before_reply, 0U);
  EXPECT_EQ(written_at_next_pass, Shard::kMaxWritesPerPass);
}

// Holds an I/O object of the shard's io_context, as a session holds its socket.
struct TimerConnection final : Connection {
  explicit TimerConnection(Shard& shard) : timer(shard.io_context()) {}
  boost::asio::steady_timer timer;
  std::function<void()> on_write = [] {};
  void shut_down() override {}
  void write_turn() override { on_write(); }
};

// Stopped while writes wait (the drain's grace period ran out), the loop must let go of the
// connections it holds before the io_context goes: a socket outliving it is a use after free.
TEST(ShardLoop, StoppedWithWritesLeftReleasesTheirConnectionsWhileTheIoContextLives) {
  Metrics metrics(1, 0);
  auto shard = std::make_unique<Shard>(metrics, 0);
  NullEngine engine;
  std::weak_ptr<TimerConnection> last;
  {
    std::vector<std::shared_ptr<TimerConnection>> connections;
    for (std::size_t i = 0; i < 3 * Shard::kMaxWritesPerPass; ++i) {
      connections.push_back(std::make_shared<TimerConnection>(*shard));
    }
    connections.front()->on_write = [&] { shard->io_context().stop(); };
    last = connections.back();
    boost::asio::post(shard->io_context(), [&shard, connections] {
      for (const auto& connection : connections) shard->schedule_write(connection, false);
    });
  }
  auto work = boost::asio::make_work_guard(shard->io_context());
  shard->run(engine);
  EXPECT_TRUE(last.expired()) << "a connection whose write never came is still held";
  work.reset();
  shard.reset();  // under ASan, a timer destroyed after its io_context is a use after free
}

}  // namespace
}  // namespace kabar::broker
