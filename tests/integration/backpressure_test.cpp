// A subscriber that stops reading must cost the broker no more than its send-queue limit, be cut
// off quickly, and slow nobody else.
#include <gtest/gtest.h>

#include <cstdlib>
#include <deque>
#include <fstream>
#include <iostream>
#include <thread>

#include "broker.hpp"
#include "client_support.hpp"
#include "raw_ws.hpp"

namespace kabar::test {
namespace {

long rss_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// The broker writes deliveries straight to the socket, and Beast writes its pongs (and pings)
// next to them: a frame must never be split by another, most of all when the socket is full and
// a write finishes later. A reader that pings all the time and pauses now and then gets every
// pong and every delivery, intact and in order.
// Connect, then subscribe to `topic`.
void subscribe(RawWebSocket& ws, const std::string& topic) {
  ws.connect();
  v1::ClientMessage message;
  message.set_id(2);
  message.mutable_subscribe()->set_topic(topic);
  ws.send(message);
  ASSERT_TRUE(ws.read().message.has_reply());
}

TEST(Backpressure, PongsNeverSplitDeliveriesWhileWritesBackUp) {
  BrokerProcess broker({"--send-queue-bytes", std::to_string(64 << 20)});
  RawWebSocket reader(broker.port());
  subscribe(reader, "stream");

  Connected publisher(broker.url(), "publisher");
  constexpr std::size_t kArticles = 1000;  // 16 MiB: far more than the socket buffers hold
  const std::string body(16 * 1024, 's');
  std::vector<std::future<v1::PublishResult>> acks;
  for (std::size_t i = 0; i < kArticles; ++i) {
    auto a = article("urn:stream:" + std::to_string(i), {"stream"});
    a.set_body(body);
    acks.push_back(publisher->publish(std::move(a)));
  }
  const auto read = reader.read_pinging(kArticles, 60s);
  ASSERT_FALSE(read.timed_out) << read.deliveries.size() << " deliveries, " << read.pongs
                               << " pongs";
  ASSERT_EQ(read.deliveries.size(), kArticles);
  for (std::size_t i = 0; i < kArticles; ++i) {
    ASSERT_EQ(read.deliveries[i].offset(), i + 1);
    ASSERT_EQ(read.deliveries[i].article().body(), body);
  }
  EXPECT_GE(read.pings, 10U);
  EXPECT_GE(read.pongs + 1, read.pings);  // one ping at a time: the last may be unanswered yet
  for (auto& ack : acks) ASSERT_EQ(ack.wait_for(10s), std::future_status::ready);
}

TEST(Backpressure, ASubscriberThatStopsReadingIsCutOffAndOthersGetEverything) {
  constexpr long kQueueLimit = 2 << 20;
  BrokerProcess broker({"--send-queue-bytes", std::to_string(kQueueLimit)});

  RawWebSocket stalled(broker.port());
  subscribe(stalled, "flood");
  // From here on `stalled` reads nothing.

  Connected healthy(broker.url(), "healthy");
  Inbox inbox;
  healthy.subscribe("flood", inbox);
  Connected publisher(broker.url(), "publisher");
  const long rss_before = rss_kib(broker.process().pid());

  // 100 MiB in 32 KiB articles, at most 64 unacknowledged, and at most 32 ahead of the healthy
  // subscriber (1 MiB, below the limit): healthy means keeping up with the stream, however slow
  // this build (sanitizers) makes the client.
  constexpr std::size_t kArticles = 3200;
  constexpr std::size_t kAhead = 32;
  const std::string body(32 * 1024, 'k');
  std::deque<std::future<v1::PublishResult>> in_flight;
  long rss_peak = rss_before;
  for (std::size_t i = 0; i < kArticles; ++i) {
    auto a = article("urn:flood:" + std::to_string(i), {"flood"});
    a.set_body(body);
    if (i >= kAhead) {
      ASSERT_TRUE(inbox.wait_for(i - kAhead, 30s));
    }
    in_flight.push_back(publisher->publish(std::move(a)));
    if (in_flight.size() == 64) {
      ASSERT_EQ(in_flight.front().wait_for(10s), std::future_status::ready);
      in_flight.front().get();
      in_flight.pop_front();
    }
    if (i % 256 == 0) rss_peak = std::max(rss_peak, rss_kib(broker.process().pid()));
  }
  for (auto& ack : in_flight) ack.get();

  ASSERT_TRUE(broker.process().wait_for_output("slow consumer", 10s)) << broker.process().out();
  const auto crossed = Clock::now();
  ASSERT_TRUE(broker.process().wait_for_output("ended", 5s));
  EXPECT_LT(Clock::now() - crossed, 2s) << "cut off within 2 s of crossing the limit";

  ASSERT_TRUE(inbox.wait_for(kArticles, 30s));
  const auto items = inbox.items();
  for (std::size_t i = 0; i < kArticles; ++i) ASSERT_EQ(items[i].offset(), i + 1);

  // The queue limit plus a small constant (allocator slack, the healthy queues, buffers).
  const long growth_kib = rss_peak - rss_before;
  std::cout << "broker RSS growth while flooding: " << growth_kib << " KiB\n";
// ASan quarantines freed memory and TSan shadows all of it: RSS says nothing under either.
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  EXPECT_LT(growth_kib, kQueueLimit / 1024 + 16 * 1024) << "RSS grew by " << growth_kib << " KiB";
#endif
  EXPECT_EQ(broker.stop(), 0);
}

// A reader of a tiny topic whose socket is full must not keep alive the large batches its small
// deliveries came in: it once held 75 MiB of other topics' articles with 51 KB counted against
// its limit, and no 4001. Here 300 batches of 200 KiB pass by a stalled reader of "tiny".
TEST(Backpressure, AStalledReaderPinsNoMoreThanItsQueueCounts) {
  // Freed memory must be reusable for RSS to mean anything under ASan.
  const char* asan = std::getenv("ASAN_OPTIONS");
  const std::string options = std::string(asan != nullptr ? asan : "") +
                              ":quarantine_size_mb=0:thread_local_quarantine_size_kb=0";
  ::setenv("ASAN_OPTIONS", options.c_str(), 1);
  BrokerProcess broker({"--store", "memory", "--publish-rate", "0", "--send-queue-bytes",
                        std::to_string(16 << 20), "--max-message-bytes", std::to_string(1 << 20)});
  RawWebSocket stalled(broker.port());
  subscribe(stalled, "tiny");
  Connected publisher(broker.url(), "publisher");
  // Fill the stalled reader's socket buffers with "tiny" articles, so that its writes wait.
  const std::string filler(128 * 1024, 'f');
  for (int i = 0; i < 64; ++i) {
    auto a = article("urn:fill:" + std::to_string(i), {"tiny"});
    a.set_body(filler);
    publisher.publish(std::move(a));
  }
  std::this_thread::sleep_for(300ms);
  const long before = rss_kib(broker.process().pid());
  // Each publish is acknowledged before the next: a batch of its own, 200 KiB, with one small
  // delivery for the stalled reader beside a large one for nobody.
  const std::string large(200 * 1024, 'L');
  for (int i = 0; i < 300; ++i) {
    auto big = article("urn:big:" + std::to_string(i), {"big"});
    big.set_body(large);
    auto small = article("urn:small:" + std::to_string(i), {"tiny"});
    std::vector<std::future<v1::PublishResult>> acks;
    acks.push_back(publisher->publish(std::move(big)));
    acks.push_back(publisher->publish(std::move(small)));
    for (auto& ack : acks) ack.get();
  }
  std::this_thread::sleep_for(300ms);
  const long growth = rss_kib(broker.process().pid()) - before;
  std::cout << "broker RSS growth past a stalled reader: " << growth << " KiB\n";
  EXPECT_LT(growth, 24 * 1024) << "300 batches of 200 KiB (60 MiB) kept alive";
  ::setenv("ASAN_OPTIONS", asan != nullptr ? asan : "", 1);
}

}  // namespace
}  // namespace kabar::test
