// Several brokers on one NATS JetStream stream (--store nats): a real three-node cluster of
// nats-server processes and real brokers on free loopback ports.
#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <future>
#include <iostream>
#include <map>
#include <set>
#include <thread>

#include "broker.hpp"
#include "client_support.hpp"
#include "http_connection.hpp"
#include "kabar/common/time.hpp"
#include "nats_cluster.hpp"
#include "raw_ws.hpp"
#include "tls.hpp"

namespace kabar::test {
namespace {

// Publishes `count` articles `prefix`N to `topics`, pipelined; the acknowledgements in order.
std::vector<v1::PublishResult> publish_many(Connected& publisher, const std::string& prefix,
                                            const std::vector<std::string>& topics, int count) {
  std::vector<std::future<v1::PublishResult>> acks;
  acks.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    acks.push_back(publisher->publish(article(prefix + std::to_string(i), topics)));
  }
  std::vector<v1::PublishResult> results;
  results.reserve(acks.size());
  for (auto& ack : acks) results.push_back(ack.get());
  return results;
}

// A three-node cluster and two brokers on its stream `stream`.
struct TwoBrokers {
  explicit TwoBrokers(const std::string& stream, const std::vector<std::string>& flags = {})
      : a(nats_broker(cluster, stream, flags)), b(nats_broker(cluster, stream, flags)) {}
  NatsCluster cluster;
  std::unique_ptr<BrokerProcess> a;
  std::unique_ptr<BrokerProcess> b;
};

// Publishes `a`, retrying while it is answered UNAVAILABLE (a broker still attaching, NATS coming
// back), until `deadline`; throws on any other refusal, or the last one past the deadline.
v1::PublishResult publish_when_available(Connected& publisher, const v1::Article& a,
                                         Clock::time_point deadline) {
  for (;;) {
    try {
      return publisher.publish(a);
    } catch (const client::RequestError& e) {
      if (e.code() != v1::Error::UNAVAILABLE || Clock::now() >= deadline) throw;
      std::this_thread::sleep_for(100ms);
    }
  }
}

// Each topic's deliveries are its offsets 1..N, in order, once each.
void expect_contiguous(const std::vector<v1::Delivery>& deliveries,
                       const std::map<std::string, std::uint64_t>& expected_last) {
  std::map<std::string, std::uint64_t> last;
  for (const auto& delivery : deliveries) {
    auto& previous = last[delivery.topic()];
    ASSERT_EQ(delivery.offset(), previous + 1) << delivery.topic();
    previous = delivery.offset();
  }
  EXPECT_EQ(last, expected_last);
}

TEST(Nats, APublishOnOneBrokerReachesReadersOnEveryBrokerInOffsetOrder) {
  TwoBrokers two("reach");
  const auto& a = two.a;
  const auto& b = two.b;
  Connected reader_a(a->url(), "reader-a");
  Connected reader_b(b->url(), "reader-b");
  Inbox inbox_a;
  Inbox inbox_b;
  reader_a.subscribe("world", inbox_a);
  reader_b.subscribe("world", inbox_b);

  Connected publisher(a->url(), "cms");
  const auto acks = publish_many(publisher, "story-", {"world"}, 50);
  for (std::size_t i = 0; i < acks.size(); ++i) {
    ASSERT_EQ(acks[i].offsets_size(), 1);
    EXPECT_EQ(acks[i].offsets(0).offset(), i + 1);
    EXPECT_FALSE(acks[i].duplicate());
    EXPECT_TRUE(acks[i].epoch().starts_with("nats-")) << acks[i].epoch();
  }
  ASSERT_TRUE(inbox_a.wait_for(50));
  ASSERT_TRUE(inbox_b.wait_for(50));
  expect_contiguous(inbox_a.items(), {{"world", 50}});
  expect_contiguous(inbox_b.items(), {{"world", 50}});
  EXPECT_EQ(inbox_b.items()[7].article().id(), "story-7");
  EXPECT_EQ(inbox_b.items()[7].epoch(), acks[0].epoch());

  // The same history over HTTP from the broker that did not take the publishes.
  HttpConnection http(b->port());
  const auto page = http.request("GET", "/v1/topics/world/articles?since=40&limit=100");
  ASSERT_EQ(page.status, 200) << page.body;
  EXPECT_NE(page.body.find("story-49"), std::string::npos);
  EXPECT_EQ(page.body.find("story-38"), std::string::npos);
}

TEST(Nats, BrokersPublishingAtOnceNeverShareOrSkipAnOffset) {
  TwoBrokers two("race");
  const auto& a = two.a;
  const auto& b = two.b;
  Connected reader(b->url(), "reader");
  Inbox inbox;
  reader.subscribe(">", inbox);

  constexpr int kEach = 300;
  auto publish_on = [&](const BrokerProcess& broker, const std::string& prefix) {
    Connected publisher(broker.url(), prefix);
    // Every third article is on two topics: both offsets or neither.
    std::vector<std::future<v1::PublishResult>> acks;
    for (int i = 0; i < kEach; ++i) {
      std::vector<std::string> topics{"alerts"};
      if (i % 3 == 0) topics.emplace_back("defense.asia");
      acks.push_back(publisher->publish(article(prefix + std::to_string(i), topics)));
    }
    std::vector<v1::PublishResult> results;
    for (auto& ack : acks) results.push_back(ack.get());
    return results;
  };
  auto from_a = std::async(std::launch::async, publish_on, std::cref(*a), "a-");
  auto from_b = std::async(std::launch::async, publish_on, std::cref(*b), "b-");
  auto results = from_a.get();
  for (auto& result : from_b.get()) results.push_back(std::move(result));

  std::map<std::string, std::set<std::uint64_t>> offsets;
  std::size_t deliveries = 0;
  for (const auto& result : results) {
    EXPECT_FALSE(result.duplicate());
    for (const auto& offset : result.offsets()) {
      EXPECT_TRUE(offsets[offset.topic()].insert(offset.offset()).second)
          << offset.topic() << " offset " << offset.offset() << " given twice";
      ++deliveries;
    }
  }
  ASSERT_EQ(offsets["alerts"].size(), 2u * kEach);
  EXPECT_EQ(*offsets["alerts"].rbegin(), 2u * kEach);  // 1..600, no gap
  ASSERT_EQ(offsets["defense.asia"].size(), 2u * 100);
  EXPECT_EQ(*offsets["defense.asia"].rbegin(), 200u);
  ASSERT_TRUE(inbox.wait_for(deliveries, std::chrono::seconds(20)));
  expect_contiguous(inbox.items(), {{"alerts", 600}, {"defense.asia", 200}});
}

TEST(Nats, TheSameArticleOnTwoBrokersAtOnceIsStoredOnceWithTheSameOffsets) {
  TwoBrokers two("twice");
  const auto& a = two.a;
  const auto& b = two.b;
  constexpr int kArticles = 100;
  auto publish_on = [&](const BrokerProcess& broker) {
    Connected publisher(broker.url(), "cms");
    return publish_many(publisher, "wire-", {"wires", "world"}, kArticles);
  };
  auto on_a = std::async(std::launch::async, publish_on, std::cref(*a));
  auto on_b = std::async(std::launch::async, publish_on, std::cref(*b));
  const auto from_a = on_a.get();
  const auto from_b = on_b.get();
  std::set<std::uint64_t> offsets;
  for (int i = 0; i < kArticles; ++i) {
    const auto& one = from_a[static_cast<std::size_t>(i)];
    const auto& other = from_b[static_cast<std::size_t>(i)];
    ASSERT_EQ(one.offsets_size(), 2);
    ASSERT_EQ(other.offsets_size(), 2);
    EXPECT_EQ(one.offsets(0).offset(), other.offsets(0).offset()) << "wire-" << i;
    EXPECT_EQ(one.offsets(1).offset(), other.offsets(1).offset()) << "wire-" << i;
    EXPECT_NE(one.duplicate(), other.duplicate()) << "wire-" << i << ": exactly one stored it";
    offsets.insert(one.offsets(0).offset());
  }
  EXPECT_EQ(offsets.size(), static_cast<std::size_t>(kArticles));
  EXPECT_EQ(*offsets.rbegin(), static_cast<std::uint64_t>(kArticles));

  // A correction needs a higher version, whichever broker stored the first.
  Connected cms(b->url(), "cms");
  auto stale = article("wire-3", {"wires"});
  stale.set_version(4);
  auto correction = article("wire-3", {"wires"});
  correction.set_version(5);
  EXPECT_EQ(cms.publish(correction).offsets(0).offset(), kArticles + 1u);
  try {
    (void)cms.publish(stale);
    ADD_FAILURE() << "an older version was accepted";
  } catch (const client::RequestError& e) {
    EXPECT_EQ(e.code(), v1::Error::BAD_REQUEST);
    EXPECT_NE(std::string(e.what()).find("older than its stored version 5"), std::string::npos)
        << e.what();
  }
}

TEST(Nats, AReaderResumesOnAnotherBrokerWithNoGapOrDuplicate) {
  TwoBrokers two("resume");
  const auto& a = two.a;
  const auto& b = two.b;
  Connected publisher(a->url(), "cms");
  std::uint64_t seen = 0;
  std::string epoch;
  {
    Connected reader(a->url(), "reader");
    Inbox inbox;
    reader.subscribe("world", inbox);
    publish_many(publisher, "before-", {"world"}, 20);
    ASSERT_TRUE(inbox.wait_for(20));
    seen = inbox.items().back().offset();
    epoch = inbox.items().back().epoch();
  }
  // Published while the reader is away, and while it resumes.
  publish_many(publisher, "away-", {"world"}, 30);
  auto during = std::async(std::launch::async, [&] {
    Connected other(b->url(), "cms-2");
    return publish_many(other, "during-", {"world"}, 30);
  });
  Connected reader(b->url(), "reader");
  Inbox inbox;
  v1::Subscribe resume;
  resume.set_topic("world");
  resume.mutable_since()->set_offset(seen);
  resume.mutable_since()->set_epoch(epoch);
  const auto result = reader->subscribe(resume, inbox.handler()).get();
  EXPECT_TRUE(result.recovered()) << result.not_recovered_reason();
  during.get();
  ASSERT_TRUE(inbox.wait_for(60, std::chrono::seconds(20)));
  std::this_thread::sleep_for(200ms);  // nothing more, nothing twice
  const auto items = inbox.items();
  ASSERT_EQ(items.size(), 60u);
  for (std::size_t i = 0; i < items.size(); ++i) EXPECT_EQ(items[i].offset(), seen + 1 + i);
}

TEST(Nats, WithNatsUnreachablePublishesAreUnavailableReadersStayAndTheBrokerRecovers) {
  NatsCluster cluster;
  const auto broker = nats_broker(cluster, "outage", {"--nats-publish-timeout-ms", "1500"});
  Connected reader(broker->url(), "reader");
  Inbox inbox;
  reader.subscribe("world", inbox);
  Connected publisher(broker->url(), "cms");
  EXPECT_EQ(publisher.publish(article("first", {"world"})).offsets(0).offset(), 1u);

  for (int node = 0; node < cluster.size(); ++node) cluster.kill(node);
  const auto started = Clock::now();
  try {
    (void)publisher.publish(article("lost", {"world"}));
    ADD_FAILURE() << "a publish was acknowledged with no NATS server up";
  } catch (const client::RequestError& e) {
    EXPECT_EQ(e.code(), v1::Error::UNAVAILABLE) << e.what();
    EXPECT_LT(Clock::now() - started, 6s);
  }
  EXPECT_GE(
      metric_sample(http_get(broker->port(), "/metrics").body, "kabar_store_log_unavailable_total"),
      1);

  for (int node = 0; node < cluster.size(); ++node) cluster.start(node);
  // Publishing resumes by itself; the reader, still connected, gets what is stored after.
  const auto resumed =
      publish_when_available(publisher, article("after", {"world"}), Clock::now() + 30s);
  ASSERT_TRUE(inbox.wait_for_topic("world"));
  ASSERT_TRUE(inbox.wait_for(2, std::chrono::seconds(10)));
  const auto items = inbox.items();
  EXPECT_EQ(items.back().article().id(), "after");
  // "lost" was never acknowledged; if the stream took it anyway it has its own offset, no gap.
  EXPECT_EQ(items.back().offset(), resumed.offsets(0).offset());
  for (std::size_t i = 0; i < items.size(); ++i) EXPECT_EQ(items[i].offset(), i + 1);
}

// NATS secured as production runs it: TLS both ways and a password. The broker verifies the
// nodes' certificate (--nats-ca), presents its own (--nats-cert, --nats-key), and never logs the
// password; without its certificate the nodes refuse it, and nothing is acknowledged.
TEST(Nats, TlsBothWaysWithAPasswordAndNeverThePasswordInTheLog) {
  const TempDir certificates;
  const auto nodes = make_self_signed_certificate(certificates.path(), {"127.0.0.1"}, "nats");
  const auto kabar = make_self_signed_certificate(certificates.path(), {"kabar"}, "kabar");
  const std::string password = "pw-5f3a9c";
  const NatsCluster cluster(
      3, NatsSecurity{nodes.certificate, nodes.private_key, kabar.certificate, "kabar", password});
  EXPECT_NE(cluster.urls().find(password), std::string::npos);
  const std::vector<std::string> tls{"--nats-ca",   nodes.certificate.string(),
                                     "--nats-cert", kabar.certificate.string(),
                                     "--nats-key",  kabar.private_key.string()};
  const auto broker = nats_broker(cluster, "secure", tls);
  Connected reader(broker->url(), "reader");
  Inbox inbox;
  reader.subscribe("world", inbox);
  Connected publisher(broker->url(), "cms");
  EXPECT_EQ(publisher.publish(article("sealed", {"world"})).offsets(0).offset(), 1u);
  ASSERT_TRUE(inbox.wait_for(1));
  EXPECT_NE(broker->process().out().find("connected to NATS at nats://kabar:***@127.0.0.1"),
            std::string::npos)
      << broker->process().out();
  EXPECT_EQ(broker->process().out().find(password), std::string::npos);
  EXPECT_EQ(broker->process().err().find(password), std::string::npos);

  // No client certificate: the nodes close the connection, publishes are UNAVAILABLE.
  BrokerProcess refused(
      nats_flags(cluster, "secure",
                 {"--nats-ca", nodes.certificate.string(), "--nats-publish-timeout-ms", "1000"}));
  Connected desk(refused.url(), "desk");
  try {
    (void)desk.publish(article("unsealed", {"world"}));
    ADD_FAILURE() << "acknowledged by a broker the nodes refuse";
  } catch (const client::RequestError& e) {
    EXPECT_EQ(e.code(), v1::Error::UNAVAILABLE) << e.what();
  }
  EXPECT_TRUE(refused.process().wait_for_output("NATS (nats://kabar:***@127.0.0.1", 5s))
      << refused.process().out();
  EXPECT_EQ(refused.process().out().find(password), std::string::npos);
}

// An SRE stopping a broker while NATS is down: it exits within its grace period, and the
// publish it was holding is not acknowledged.
TEST(Nats, ABrokerStopsInTimeWithNatsUnreachable) {
  NatsCluster cluster;
  const auto broker = nats_broker(cluster, "stop", {"--nats-publish-timeout-ms", "10000"});
  Connected publisher(broker->url(), "cms");
  EXPECT_EQ(publisher.publish(article("first", {"world"})).offsets(0).offset(), 1u);
  for (int node = 0; node < cluster.size(); ++node) cluster.kill(node);
  auto held = publisher->publish(article("held", {"world"}));
  std::this_thread::sleep_for(300ms);  // in the engine, waiting for NATS
  const auto started = Clock::now();
  EXPECT_EQ(broker->stop(6s), 0) << broker->process().out() << broker->process().err();
  EXPECT_LT(Clock::now() - started, 3500ms) << broker->process().out();  // grace: 1.5 s
  try {
    const auto ack = held.get();
    ADD_FAILURE() << "acknowledged with no NATS server up: " << ack.ShortDebugString();
  } catch (const std::exception& e) {
    SUCCEED() << e.what();
  }
}

TEST(Nats, AStreamDeletedAndCreatedAgainIsANewEpochNeverASilentGap) {
  const NatsCluster cluster;
  const auto broker = nats_broker(cluster, "reborn");
  Connected publisher(broker->url(), "cms");
  const auto before = publish_many(publisher, "old-", {"world"}, 5);
  cluster.delete_stream("reborn");
  ASSERT_TRUE(broker->process().wait_for_output("created again", 10s) ||
              broker->process().wait_for_output("is gone", 1s))
      << broker->process().out();
  ASSERT_TRUE(
      broker->process().wait_for_output("following NATS stream reborn from sequence 1", 10s));
  // Publishing works on the new history, under a new epoch.
  const auto after =
      publish_when_available(publisher, article("new-0", {"world"}), Clock::now() + 15s);
  EXPECT_NE(after.epoch(), before.back().epoch());
  EXPECT_EQ(after.offsets(0).offset(), 1u);

  Connected reader(broker->url(), "reader");
  Inbox inbox;
  v1::Subscribe resume;
  resume.set_topic("world");
  resume.mutable_since()->set_offset(before.back().offsets(0).offset());
  resume.mutable_since()->set_epoch(before.back().epoch());
  const auto result = reader->subscribe(resume, inbox.handler()).get();
  EXPECT_FALSE(result.recovered());
  EXPECT_FALSE(result.not_recovered_reason().empty());
}

// Publishes one article at a time to "wires" on `url` until `stop`, retrying one that is not
// acknowledged (the same id: idempotent): every acknowledgement, and the longest wait for one.
struct Published {
  std::vector<v1::PublishResult> acks;
  Clock::duration longest_wait{};
};

Published publish_until(const std::string& url, const std::string& prefix,
                        const std::atomic<bool>& stop) {
  Published published;
  Connected publisher(url, prefix);
  for (int i = 0; !stop.load(); ++i) {
    const auto started = Clock::now();
    for (;;) {
      // An election takes 5 to 9 s on 2.9.10, longer on a loaded machine: wait well past it.
      auto ack = publisher->publish(article(prefix + std::to_string(i), {"wires"}));
      if (ack.wait_for(45s) != std::future_status::ready)
        throw std::runtime_error("no ack in 45 s");
      try {
        published.acks.push_back(ack.get());
        break;
      } catch (const client::RequestError& e) {
        if (e.code() != v1::Error::UNAVAILABLE) throw;
      }
    }
    published.longest_wait = std::max(published.longest_wait, Clock::now() - started);
  }
  return published;
}

// Every acknowledged article is read back from `broker` at its offset, and "wires" has no gap.
void expect_everything_readable(const BrokerProcess& broker, const Published& published) {
  Connected reader(broker.url(), "auditor");
  Inbox inbox;
  v1::Subscribe request;
  request.set_topic("wires");
  request.mutable_since();
  const auto result = reader->subscribe(request, inbox.handler()).get();
  ASSERT_TRUE(result.recovered()) << result.not_recovered_reason();
  ASSERT_EQ(result.positions_size(), 1);
  const auto last = result.positions(0).position().offset();
  ASSERT_TRUE(inbox.wait_for(last, std::chrono::seconds(30)))
      << inbox.items().size() << "/" << last;
  const auto items = inbox.items();
  for (std::size_t i = 0; i < items.size(); ++i) ASSERT_EQ(items[i].offset(), i + 1);
  for (const auto& ack : published.acks) {
    const auto offset = ack.offsets(0).offset();
    ASSERT_LE(offset, items.size());
    EXPECT_EQ(items[offset - 1].article().id(), ack.id()) << "offset " << offset;
  }
}

double milliseconds_of(Clock::duration duration) {
  return std::chrono::duration<double, std::milli>(duration).count();
}

TEST(NatsFaults, KillingTheStreamLeaderLosesNoAcknowledgedArticle) {
  NatsCluster cluster;
  const auto a = nats_broker(cluster, "leader", {"--nats-publish-timeout-ms", "30000"});
  const auto b = nats_broker(cluster, "leader", {"--nats-publish-timeout-ms", "30000"});
  std::atomic<bool> stop{false};
  auto on_a = std::async(std::launch::async, publish_until, a->url(), "a-", std::cref(stop));
  auto on_b = std::async(std::launch::async, publish_until, b->url(), "b-", std::cref(stop));
  std::this_thread::sleep_for(1s);
  const auto leader = cluster.stream_leader("leader");
  ASSERT_GE(leader, 0);
  cluster.kill(leader);
  std::this_thread::sleep_for(12s);  // an election takes 5 to 9 s on 2.9.10
  stop = true;
  const auto from_a = on_a.get();
  const auto from_b = on_b.get();
  std::cout << "stream leader n" << leader + 1 << " killed: " << from_a.acks.size() << " + "
            << from_b.acks.size() << " acknowledged, longest wait for an acknowledgement "
            << milliseconds_of(std::max(from_a.longest_wait, from_b.longest_wait)) << " ms\n";
  Published all = from_a;
  all.acks.insert(all.acks.end(), from_b.acks.begin(), from_b.acks.end());
  ASSERT_GT(from_a.acks.size(), 10u);
  expect_everything_readable(*a, all);
  expect_everything_readable(*b, all);
}

TEST(NatsFaults, KillingTheNodeABrokerIsConnectedToLosesNothing) {
  NatsCluster cluster;
  // The first broker creates the stream; the second is given one node that does not lead it,
  // and learns the others from it (as NATS clients do) for when it goes.
  const auto creator = nats_broker(cluster, "node");
  const auto leader = cluster.stream_leader("node");
  ASSERT_GE(leader, 0);
  const int node = (leader + 1) % cluster.size();
  auto flags = nats_flags(cluster, "node", {"--nats-publish-timeout-ms", "30000"});
  flags[3] = cluster.url(node);  // --nats-url
  BrokerProcess broker_process(flags);
  ASSERT_TRUE(broker_process.process().wait_for_output("caught up", 20s));
  auto* broker = &broker_process;
  Connected reader(broker->url(), "reader");
  Inbox live;
  reader.subscribe("wires", live);
  std::atomic<bool> stop{false};
  auto publishing =
      std::async(std::launch::async, publish_until, broker->url(), "p-", std::cref(stop));
  std::this_thread::sleep_for(1s);
  cluster.kill(node);
  std::this_thread::sleep_for(3s);
  stop = true;
  const auto published = publishing.get();
  std::cout << "node n" << node + 1
            << " (the broker's, not the stream leader) killed: " << published.acks.size()
            << " acknowledged, longest wait for an acknowledgement "
            << milliseconds_of(published.longest_wait) << " ms\n";
  // The live reader, never disconnected, got everything in order.
  ASSERT_TRUE(live.wait_for(published.acks.size(), std::chrono::seconds(20)));
  const auto items = live.items();
  for (std::size_t i = 0; i < items.size(); ++i) ASSERT_EQ(items[i].offset(), i + 1);
  expect_everything_readable(*broker, published);
}

TEST(NatsFaults, ReadersOfABrokerKilledMidStreamResumeOnAnotherWithNothingLost) {
  TwoBrokers two("broker");
  const auto& a = two.a;
  const auto& b = two.b;
  std::atomic<bool> stop{false};
  std::future<Published> publishing;
  // Whatever happens below, the publisher stops.
  const std::unique_ptr<std::atomic<bool>, void (*)(std::atomic<bool>*)> stopper(
      &stop, [](std::atomic<bool>* flag) { *flag = true; });
  std::uint64_t seen = 0;
  std::string epoch;
  {
    Connected reader(a->url(), "reader");
    Inbox inbox;
    reader.subscribe("wires", inbox);  // before the first article: it sees them all
    publishing = std::async(std::launch::async, publish_until, b->url(), "p-", std::cref(stop));
    ASSERT_TRUE(inbox.wait_for(50));
    a->kill();  // kill -9 while articles stream in
    const auto items = inbox.items();
    for (std::size_t i = 0; i < items.size(); ++i) ASSERT_EQ(items[i].offset(), i + 1);
    seen = items.back().offset();
    epoch = items.back().epoch();
  }
  Connected reader(b->url(), "reader");
  Inbox inbox;
  v1::Subscribe resume;
  resume.set_topic("wires");
  resume.mutable_since()->set_offset(seen);
  resume.mutable_since()->set_epoch(epoch);
  const auto result = reader->subscribe(resume, inbox.handler()).get();
  EXPECT_TRUE(result.recovered()) << result.not_recovered_reason();
  std::this_thread::sleep_for(1s);
  stop = true;
  const auto published = publishing.get();
  ASSERT_TRUE(inbox.wait_for(published.acks.size() - seen, std::chrono::seconds(20)));
  std::this_thread::sleep_for(200ms);
  const auto items = inbox.items();
  ASSERT_EQ(items.size(), published.acks.size() - seen);  // nothing twice
  for (std::size_t i = 0; i < items.size(); ++i) EXPECT_EQ(items[i].offset(), seen + 1 + i);
}

TEST(NatsFlags, AreCheckedBeforeTheBrokerStartsWithTheFlagNamed) {
  struct Case {
    std::vector<std::string> flags;
    std::string said;
  };
  const std::string url = "nats://127.0.0.1:1";
  std::string many;
  for (int i = 0; i < 65; ++i) many += (i == 0 ? "" : ",") + url;
  for (const auto& [flags, said] : std::vector<Case>{
           {{"--store", "nats"}, "needs --nats-url"},
           {{"--store", "nats", "--nats-url", "http://127.0.0.1:1"}, "--nats-url"},
           {{"--store", "nats", "--nats-url", "nats://host\x01:1"}, "(unprintable)"},
           {{"--store", "nats", "--nats-url", many}, "more than 64"},
           {{"--store", "nats", "--nats-url", url, "--nats-stream", "a.b"}, "--nats-stream"},
           {{"--store", "nats", "--nats-url", url, "--nats-stream", std::string(33, 'S')},
            "--nats-stream"},
           {{"--store", "nats", "--nats-url", url, "--nats-replicas", "6"}, "--nats-replicas"},
           {{"--store", "nats", "--nats-url", url, "--nats-publish-timeout-ms", "99"},
            "--nats-publish-timeout-ms"},
           {{"--store", "nats", "--nats-url", url, "--nats-cache-mb", "65537"},
            "--nats-cache-mb"}}) {
    auto argv = std::vector<std::string>{broker_path(), "--listen", "127.0.0.1:0"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    const auto result = run(argv, 10s);
    EXPECT_NE(result.status, 0) << said;
    EXPECT_NE((result.err + result.out).find(said), std::string::npos)
        << said << ": " << result.err << result.out;
  }
}

// scripts/cluster: three NATS nodes and two brokers with one command, stopped cleanly by one
// signal (the brokers drain first).
TEST(NatsCluster, TheScriptStartsNodesAndBrokersThatShareOneHistoryAndStopsThemAll) {
  TempDir dir;
  // Its ports are consecutive from the ones given (routes at the NATS port + 2000): look for a
  // run of free ones (free_port()'s range leaves room for them below the ephemeral ports).
  std::uint16_t port = 0;
  std::uint16_t nats_port = 0;
  for (int attempt = 0; attempt < 50 && nats_port == 0; ++attempt) {
    const auto base = free_port();
    bool all_free = true;
    for (const int offset : {1, 2, 2000, 2001, 2002, 3000, 3001}) {
      all_free &= port_is_free(static_cast<std::uint16_t>(base + offset));
    }
    if (all_free) {
      nats_port = base;
      port = static_cast<std::uint16_t>(base + 3000);
    }
  }
  ASSERT_NE(nats_port, 0);
  ::setenv("KABAR_BROKER", broker_path().c_str(), 1);
  Process cluster({std::string(KABAR_SOURCE_DIR) + "/scripts/cluster", "--brokers", "2", "--port",
                   std::to_string(port), "--nats-port", std::to_string(nats_port), "--dir",
                   dir.path().string()});
  ASSERT_TRUE(cluster.wait_for_output("cluster: running", 20s)) << cluster.out() << cluster.err();
  const auto url = [](std::uint16_t p) { return "ws://127.0.0.1:" + std::to_string(p) + "/v1/ws"; };
  // Both brokers listen at once and attach (the stream is created by one of them) before they
  // store publishes.
  const auto deadline = Clock::now() + 30s;
  for (const std::uint16_t p : {port, std::uint16_t(port + 1)}) {
    while (!listening(p)) {
      ASSERT_LT(Clock::now(), deadline) << "no broker on port " << p << ": " << cluster.err()
                                        << "\nbroker 1: " << read_file(dir.path() / "broker1.log")
                                        << "\nbroker 2: " << read_file(dir.path() / "broker2.log");
      std::this_thread::sleep_for(50ms);
    }
  }
  Connected reader(url(port + 1), "reader");
  Inbox inbox;
  reader.subscribe("international", inbox);
  Connected publisher(url(port), "cms");
  const auto published =
      publish_when_available(publisher, article("via-script", {"international"}), deadline);
  ASSERT_TRUE(inbox.wait_for(1));
  EXPECT_EQ(inbox.items()[0].article().id(), "via-script");
  EXPECT_EQ(inbox.items()[0].offset(), published.offsets(0).offset());

  cluster.signal(SIGTERM);
  const auto status = cluster.wait(40s);  // brokers drain, then three nodes stop
  ASSERT_TRUE(status.has_value()) << "scripts/cluster did not stop: " << cluster.out()
                                  << cluster.err()
                                  << "\nbroker 1: " << read_file(dir.path() / "broker1.log")
                                  << "\nbroker 2: " << read_file(dir.path() / "broker2.log");
  EXPECT_EQ(*status, 0) << cluster.out() << cluster.err();
  EXPECT_NE(cluster.out().find("cluster: stopped"), std::string::npos) << cluster.out();
  // Nothing of it listens any more.
  for (const std::uint16_t p : {port, std::uint16_t(port + 1), nats_port}) {
    EXPECT_FALSE(listening(p)) << p;
  }
}

TEST(Nats, AnEmbargoLiftsOnceForEveryBrokerAndARetractionOnAnotherWins) {
  TwoBrokers two("embargo");
  Connected desk_a(two.a->url(), "desk-a");
  Connected desk_b(two.b->url(), "desk-b");
  Inbox inbox;
  Connected reader(two.b->url(), "reader");
  reader.subscribe("world", inbox);
  const auto lifts = google::protobuf::util::TimeUtil::NanosecondsToTimestamp(
      current_nanoseconds() + 2'500'000'000);
  auto held = article("held", {"world"});
  *held.mutable_embargoed() = lifts;
  const auto ack = desk_a.publish(held);
  EXPECT_EQ(ack.offsets_size(), 0);
  EXPECT_EQ(ack.embargoed_until(), lifts);
  // The same again, on the other broker: a duplicate, still held.
  const auto again = desk_b.publish(held);
  EXPECT_TRUE(again.duplicate());
  EXPECT_EQ(again.embargoed_until(), lifts);
  // Held on one broker, retracted on the other before it lifts: never released.
  auto pulled = article("pulled", {"world"});
  *pulled.mutable_embargoed() = lifts;
  (void)desk_a.publish(pulled);
  auto retraction = article("pulled", {"world"});
  retraction.set_version(2);
  retraction.set_pubstatus(v1::PUB_STATUS_CANCELED);
  EXPECT_EQ(desk_b.publish(retraction).offsets(0).offset(), 1u);

  ASSERT_TRUE(inbox.wait_for(2, std::chrono::seconds(15)));
  std::this_thread::sleep_for(1500ms);  // both brokers' timers have fired: still one release
  const auto items = inbox.items();
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].article().id(), "pulled");
  EXPECT_EQ(items[0].article().version(), 2u);
  EXPECT_EQ(items[1].article().id(), "held");
  EXPECT_EQ(items[1].offset(), 2u);
  EXPECT_GE(current_nanoseconds(), google::protobuf::util::TimeUtil::TimestampToNanoseconds(lifts));
  // Published again after it lifted: a duplicate with its offset now.
  const auto later = desk_a.publish(held);
  EXPECT_TRUE(later.duplicate());
  ASSERT_EQ(later.offsets_size(), 1);
  EXPECT_EQ(later.offsets(0).offset(), 2u);
}

// Retention on the shared log: every broker trims a topic to the same limits and refuses a
// resume from before them; an embargo lifting after the stream drops its entry is refused.
TEST(Nats, RetentionTrimsEveryBrokerAlikeAndAnEmbargoPastTheStreamsAgeIsRefused) {
  TwoBrokers two("retention", {"--retention-count", "5", "--retention-sweep-ms", "50",
                               "--retention-hours", "1"});
  Connected desk(two.a->url(), "desk");
  const auto epoch = publish_many(desk, "story-", {"world"}, 20).front().epoch();
  for (const auto* broker : {two.a.get(), two.b.get()}) {
    const auto deadline = Clock::now() + 10s;
    nlohmann::json page;
    do {
      HttpConnection http(broker->port());
      page = nlohmann::json::parse(http.request("GET", "/v1/topics/world/articles?limit=100").body);
    } while (page.value("firstOffset", "0") != "16" && Clock::now() < deadline);
    EXPECT_EQ(page["firstOffset"], "16") << page.dump();
    EXPECT_EQ(page["deliveries"].size(), 5U);

    Connected late(broker->url(), "late");
    v1::Subscribe resume;
    resume.set_topic("world");
    resume.mutable_since()->set_offset(3);
    resume.mutable_since()->set_epoch(epoch);
    Inbox nothing;
    const auto refused = late->subscribe(resume, nothing.handler()).get();
    EXPECT_FALSE(refused.recovered());
    EXPECT_NE(refused.not_recovered_reason().find("no longer reaches back"), std::string::npos)
        << refused.not_recovered_reason();

    Connected reader(broker->url(), "reader");
    resume.mutable_since()->set_offset(17);
    Inbox inbox;
    const auto tail = reader->subscribe(resume, inbox.handler()).get();
    EXPECT_TRUE(tail.recovered()) << tail.not_recovered_reason();
    ASSERT_TRUE(inbox.wait_for(3));
    EXPECT_EQ(inbox.items()[0].offset(), 18u);
    EXPECT_EQ(inbox.items()[2].article().id(), "story-19");
  }

  // For monitoring: the writer's quorum writes timed, both brokers at the same entry.
  const auto scrape_a = http_get(two.a->port(), "/metrics").body;
  const auto scrape_b = http_get(two.b->port(), "/metrics").body;
  EXPECT_GE(metric_sample(scrape_a, "kabar_store_commit_seconds_count"), 1);
  const auto applied = metric_sample(scrape_a, "kabar_store_log_applied_sequence");
  EXPECT_GE(applied, 1);
  EXPECT_EQ(metric_sample(scrape_b, "kabar_store_log_applied_sequence"), applied);
  EXPECT_EQ(metric_sample(scrape_b, "kabar_store_log_behind_entries"), 0);

  // The stream keeps entries 1 h (--retention-hours 1): held 30 min is fine, 2 h is refused.
  const auto in = [](std::int64_t minutes) {
    return google::protobuf::util::TimeUtil::NanosecondsToTimestamp(current_nanoseconds() +
                                                                    minutes * 60 * 1'000'000'000);
  };
  auto soon = article("soon", {"world"});
  *soon.mutable_embargoed() = in(30);
  EXPECT_TRUE(desk.publish(soon).has_embargoed_until());
  auto later = article("later", {"world"});
  *later.mutable_embargoed() = in(120);
  try {
    (void)desk.publish(later);
    ADD_FAILURE() << "an embargo past the stream's MaxAge was accepted";
  } catch (const client::RequestError& e) {
    EXPECT_EQ(e.code(), v1::Error::BAD_REQUEST);
    EXPECT_NE(std::string(e.what()).find("more than 1 h from now"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace kabar::test
