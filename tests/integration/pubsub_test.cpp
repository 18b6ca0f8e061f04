// The real kabar-broker, driven through the real client library.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "broker.hpp"
#include "client_support.hpp"
#include "kabar/common/ninjs.hpp"
#include "raw_ws.hpp"

namespace kabar::test {
namespace {

struct Fixture {
  std::string file;
  v1::Article article;  // as published: topics from topics.tsv
};

std::vector<Fixture> load_fixtures() {
  std::ifstream tsv(fixtures_dir() + "/topics.tsv");
  std::vector<Fixture> fixtures;
  std::string line;
  std::getline(tsv, line);  // header
  while (std::getline(tsv, line)) {
    if (line.empty()) continue;
    const auto tab = line.find('\t');
    Fixture fixture{line.substr(0, tab), {}};
    std::ifstream in(fixtures_dir() + "/" + fixture.file, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    fixture.article = article_from_ninjs(text.str());
    std::stringstream topics(line.substr(tab + 1));
    for (std::string topic; std::getline(topics, topic, ',');) fixture.article.add_topics(topic);
    fixtures.push_back(std::move(fixture));
  }
  return fixtures;
}

// Deliveries of one topic, as "topic#offset".
std::vector<std::string> labels(const std::vector<v1::Delivery>& deliveries) {
  std::vector<std::string> out;
  for (const auto& d : deliveries) out.push_back(d.topic() + "#" + std::to_string(d.offset()));
  return out;
}

TEST(PubSub, EveryFixtureReachesMatchingSubscribersByteForByte) {
  BrokerProcess broker;
  const auto fixtures = load_fixtures();
  ASSERT_GE(fixtures.size(), 3U);

  Connected reader(broker.url(), "reader");
  Inbox international, defense, everything, sports, defense_deeper;
  reader.subscribe("international", international);
  Connected desk(broker.url(), "desk");
  desk.subscribe("defense", defense);
  Connected wall(broker.url(), "wall");
  wall.subscribe("*", everything);
  Connected sports_fan(broker.url(), "sports");
  sports_fan.subscribe("sports", sports);
  sports_fan.subscribe("marker", sports);  // proves the broker got this far
  Connected asia_desk(broker.url(), "asia");
  asia_desk.subscribe("defense.>", defense_deeper);
  asia_desk.subscribe("marker", defense_deeper);

  Connected publisher(broker.url(), "cms");
  std::vector<std::string> expected_bytes;
  for (const auto& fixture : fixtures) {
    const auto ack = publisher.publish(fixture.article);
    EXPECT_FALSE(ack.duplicate());
    ASSERT_EQ(ack.offsets_size(), fixture.article.topics_size()) << fixture.file;
    auto stored = fixture.article;
    stored.set_version(stored.version() == 0 ? 1 : stored.version());
    expected_bytes.push_back(stored.SerializeAsString());
  }
  publisher.publish(article("urn:test:asia", {"defense.asia"}));
  publisher.publish(article("urn:test:marker", {"marker"}));

  const auto n = fixtures.size();
  ASSERT_TRUE(international.wait_for(n));
  ASSERT_TRUE(defense.wait_for(n));
  ASSERT_TRUE(everything.wait_for(2 * n + 1));  // both topics of each fixture, then the marker
  ASSERT_TRUE(sports.wait_for_topic("marker"));
  ASSERT_TRUE(defense_deeper.wait_for_topic("marker"));

  for (auto* inbox : {&international, &defense}) {
    const auto items = inbox->items();
    ASSERT_EQ(items.size(), n);
    for (std::size_t i = 0; i < n; ++i) {
      EXPECT_EQ(items[i].article().SerializeAsString(), expected_bytes[i]) << fixtures[i].file;
      EXPECT_EQ(items[i].offset(), i + 1);
      EXPECT_FALSE(items[i].epoch().empty());
      EXPECT_TRUE(items[i].has_accepted_at());
    }
  }
  const auto all = everything.items();
  std::set<std::string> once;
  for (const auto& item : all)
    EXPECT_TRUE(once.insert(item.topic() + "#" + std::to_string(item.offset())).second);
  EXPECT_EQ(all.front().article().body(), fixtures.front().article.body()) << "UTF-8 intact";
  EXPECT_NE(all.front().article().body().find("\xE2\x80\x9C"), std::string::npos);

  EXPECT_EQ(labels(sports.items()), (std::vector<std::string>{"marker#1"}));
  EXPECT_EQ(labels(defense_deeper.items()),
            (std::vector<std::string>{"defense.asia#1", "marker#1"}));
  EXPECT_EQ(broker.stop(), 0);
}

TEST(PubSub, UrgencyFilterDeliversTheFlashAndNotTheRoutineStory) {
  BrokerProcess broker;
  const auto fixtures = load_fixtures();
  Connected alerts(broker.url(), "alert-desk");
  Inbox inbox;
  v1::Filter flash_and_urgent;
  flash_and_urgent.set_max_urgency(2);
  alerts.subscribe("international", inbox, flash_and_urgent);
  Connected publisher(broker.url(), "cms");
  for (const auto& fixture : fixtures) publisher.publish(fixture.article);
  publisher.publish(article("urn:test:last-flash", {"international"}, 1));
  ASSERT_TRUE(inbox.wait_for(2));
  std::vector<std::string> ids;
  for (const auto& item : inbox.items()) ids.push_back(item.article().id());
  EXPECT_EQ(ids, (std::vector<std::string>{"urn:example:ikolom:2025-04-28:pakistan-ancam-india",
                                           "urn:test:last-flash"}));
}

TEST(PubSub, LanguageFilterPassesOnlyThatLanguage) {
  BrokerProcess broker;
  Connected reader(broker.url());
  Inbox inbox;
  v1::Filter english;
  english.add_languages("en");
  reader.subscribe(">", inbox, english);
  Connected publisher(broker.url());
  auto indonesian = article("urn:test:id", {"a"});
  indonesian.set_language("id");
  auto british = article("urn:test:en", {"a"});
  british.set_language("en-GB");
  publisher.publish(indonesian);
  publisher.publish(british);
  ASSERT_TRUE(inbox.wait_for(1));
  british.set_version(2);  // a correction; the same version again would be a duplicate
  publisher.publish(british);
  ASSERT_TRUE(inbox.wait_for(2));
  for (const auto& item : inbox.items()) EXPECT_EQ(item.article().language(), "en-GB");
}

// A broker and one reader subscribed to "international".
class PubSubToOneReader : public ::testing::Test {
 protected:
  PubSubToOneReader() { reader_.subscribe("international", inbox_); }

  BrokerProcess broker_;
  Connected reader_{broker_.url()};
  Inbox inbox_;
};

TEST_F(PubSubToOneReader, ThousandPipelinedPublishesArriveInOrderWithConsecutiveOffsets) {
  Connected publisher(broker_.url());
  constexpr int kCount = 1000;
  std::vector<std::future<v1::PublishResult>> acks;
  for (int i = 0; i < kCount; ++i) {
    acks.push_back(publisher->publish(article("urn:test:" + std::to_string(i), {"international"})));
  }
  for (int i = 0; i < kCount; ++i) {
    ASSERT_EQ(acks[static_cast<std::size_t>(i)].wait_for(10s), std::future_status::ready);
    EXPECT_EQ(acks[static_cast<std::size_t>(i)].get().offsets(0).offset(),
              static_cast<std::uint64_t>(i + 1));
  }
  ASSERT_TRUE(inbox_.wait_for(kCount));
  const auto items = inbox_.items();
  ASSERT_EQ(items.size(), static_cast<std::size_t>(kCount));
  for (int i = 0; i < kCount; ++i) {
    EXPECT_EQ(items[static_cast<std::size_t>(i)].offset(), static_cast<std::uint64_t>(i + 1));
    EXPECT_EQ(items[static_cast<std::size_t>(i)].article().id(), "urn:test:" + std::to_string(i));
  }
}

// Both ways of sending: a pass's writes through io_uring (the default), one sendmsg each.
class PubSubBySendPath : public ::testing::TestWithParam<const char*> {};

INSTANTIATE_TEST_SUITE_P(IoUring, PubSubBySendPath, ::testing::Values("true", "false"),
                         [](const auto& param_info) {
                           return std::string(param_info.param) == "true" ? "IoUring" : "Sendmsg";
                         });

TEST_P(PubSubBySendPath, SeveralPublishersAndHundredsOfSubscribersGetEveryArticleOnceInOrder) {
  BrokerProcess broker({"--io-uring", GetParam()});
  constexpr std::size_t kSubscribers = 120;
  constexpr std::size_t kPublishers = 4;
  constexpr std::size_t kPerPublisher = 50;
  // Subscribers share a few I/O threads; each has its own connection.
  std::vector<std::unique_ptr<IoRunner>> runners;
  for (int i = 0; i < 4; ++i) runners.push_back(std::make_unique<IoRunner>());
  std::vector<std::unique_ptr<client::Client>> clients;
  std::vector<std::unique_ptr<Inbox>> inboxes;
  std::vector<std::future<v1::SubscribeResult>> subscribed;
  for (std::size_t i = 0; i < kSubscribers; ++i) {
    client::Options options;
    options.url = broker.url();
    clients.push_back(
        std::make_unique<client::Client>(runners[i % runners.size()]->context(), options));
    inboxes.push_back(std::make_unique<Inbox>());
    clients.back()->connect([](client::Response) {});
    v1::Subscribe request;
    request.set_topic(i % 2 == 0 ? "breaking" : "*");
    subscribed.push_back(clients.back()->subscribe(request, inboxes.back()->handler()));
  }
  for (auto& s : subscribed) {
    ASSERT_EQ(s.wait_for(10s), std::future_status::ready);
    s.get();
  }
  std::vector<std::unique_ptr<Connected>> publishers;
  for (std::size_t p = 0; p < kPublishers; ++p) {
    publishers.push_back(std::make_unique<Connected>(broker.url(), "pub" + std::to_string(p)));
  }
  std::vector<std::thread> threads;
  for (std::size_t p = 0; p < kPublishers; ++p) {
    threads.emplace_back([&, p] {
      std::vector<std::future<v1::PublishResult>> acks;
      for (std::size_t i = 0; i < kPerPublisher; ++i) {
        acks.push_back((**publishers[p])
                           .publish(article("urn:p" + std::to_string(p) + ":" + std::to_string(i),
                                            {"breaking"})));
      }
      for (auto& ack : acks) ack.wait_for(10s);
    });
  }
  for (auto& thread : threads) thread.join();
  constexpr std::size_t kTotal = kPublishers * kPerPublisher;
  for (std::size_t i = 0; i < kSubscribers; ++i) {
    ASSERT_TRUE(inboxes[i]->wait_for(kTotal)) << "subscriber " << i;
    const auto items = inboxes[i]->items();
    ASSERT_EQ(items.size(), kTotal);
    for (std::size_t k = 0; k < kTotal; ++k) ASSERT_EQ(items[k].offset(), k + 1);
  }
  for (auto& c : clients) c->close();
  EXPECT_EQ(broker.stop(), 0);
}

TEST(PubSub, UnsubscribeStopsDeliveriesAndNeedsTheExactString) {
  BrokerProcess broker;
  Connected reader(broker.url());
  Inbox inbox;
  reader.subscribe("defense.>", inbox);
  reader.subscribe("marker", inbox);
  std::promise<client::Response> wrong, right;
  reader->unsubscribe("defense.asia", [&](client::Response r) { wrong.set_value(std::move(r)); });
  reader->unsubscribe("defense.>", [&](client::Response r) { right.set_value(std::move(r)); });
  const auto refused = wrong.get_future().get();
  EXPECT_EQ(refused.reply.error().code(), v1::Error::NOT_FOUND);
  EXPECT_TRUE(right.get_future().get().ok());
  Connected publisher(broker.url());
  publisher.publish(article("urn:a", {"defense.asia"}));
  publisher.publish(article("urn:m", {"marker"}));
  ASSERT_TRUE(inbox.wait_for_topic("marker"));
  EXPECT_EQ(labels(inbox.items()), (std::vector<std::string>{"marker#1"}));
}

TEST(PubSub, SubscribeReportsCurrentPositionsAndPingAnswers) {
  BrokerProcess broker;
  Connected publisher(broker.url());
  publisher.publish(article("urn:1", {"defense.asia", "defense.europe"}));
  publisher.publish(article("urn:2", {"defense.asia"}));
  Connected reader(broker.url());
  Inbox inbox;
  const auto result = reader.subscribe("defense.>", inbox);
  ASSERT_EQ(result.positions_size(), 2);
  EXPECT_EQ(result.positions(0).topic(), "defense.asia");
  EXPECT_EQ(result.positions(0).position().offset(), 2U);
  EXPECT_EQ(result.positions(1).position().offset(), 1U);
  std::promise<client::Response> pong;
  reader->ping([&](client::Response r) { pong.set_value(std::move(r)); });
  auto response = pong.get_future().get();
  ASSERT_TRUE(response.ok());
  EXPECT_GT(response.reply.pong().broker_time().seconds(), 0);
}

// The broker reads a small message into a buffer of the session's own and a larger one on into
// a buffer allocated for it (kept by a publisher): every size and fragmentation arrives whole.
TEST_F(PubSubToOneReader, MessagesOfEverySizeAndFragmentationArriveWhole) {
  RawWebSocket ws(broker_.port());
  ASSERT_TRUE(ws.connect().has_connect());
  const std::vector<std::size_t> bodies = {10, 200, 255, 256, 300, 5000, 70'000, 10, 100'000, 20};
  std::uint32_t id = 100;
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    auto a = article("urn:size:" + std::to_string(i), {"international"});
    a.set_body(std::string(bodies[i], static_cast<char>('a' + i)));
    v1::ClientMessage message;
    message.set_id(++id);
    *message.mutable_publish()->mutable_article() = a;
    if (i % 2 == 0) {
      ws.send(message);
    } else {
      ws.send_fragmented(message, i == 5 ? 1000 : 7);  // a 5 KiB article in 1 KB frames
    }
    const auto frame = ws.read();
    ASSERT_FALSE(frame.closed) << i << ": " << frame.close_reason;
    ASSERT_TRUE(frame.message.reply().has_publish()) << i << ": " << frame.message.DebugString();
    EXPECT_EQ(frame.message.reply().id(), id);
  }
  ASSERT_TRUE(inbox_.wait_for(bodies.size()));
  const auto deliveries = inbox_.items();
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    EXPECT_EQ(deliveries[i].article().id(), "urn:size:" + std::to_string(i));
    EXPECT_EQ(deliveries[i].article().body(), std::string(bodies[i], static_cast<char>('a' + i)));
  }
}

TEST(PubSub, ShutdownClosesSubscribersWithReconnectNowAndExitsZeroWithinTwoSeconds) {
  BrokerProcess broker;
  IoRunner io;
  client::Options options;
  options.url = broker.url();
  options.reconnect.enabled = false;  // to see the close code, not a reconnect
  client::Client subscriber(io.context(), options);
  std::promise<client::CloseInfo> closed;
  subscriber.on_close([&](const client::CloseInfo& info) { closed.set_value(info); });
  subscriber.connect().get();
  Inbox inbox;
  v1::Subscribe request;
  request.set_topic("international");
  subscriber.subscribe(request, inbox.handler()).get();

  const auto started = Clock::now();
  EXPECT_EQ(broker.stop(2s), 0);
  EXPECT_LT(Clock::now() - started, 2s);
  auto info = closed.get_future();
  ASSERT_EQ(info.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(info.get().code, 4002);
}

// A peer that never answers the closing handshake (a frozen tab, a dead NAT entry) is dropped
// at the end of the grace period, with its read still pending: the broker exits 0 all the same.
// Such pending reads once crashed the exit (Boost 1.81 freeing a nested type-erased handler).
TEST(PubSub, ShutdownDropsAPeerThatNeverAnswersTheCloseAndStillExitsZero) {
  BrokerProcess broker({"--shutdown-grace-ms", "300"});
  RawWebSocket frozen(broker.port());
  (void)frozen.connect();
  Connected reader(broker.url(), "reader");  // and a well-behaved one beside it
  const auto started = Clock::now();
  EXPECT_EQ(broker.stop(3s), 0) << broker.process().out() << broker.process().err();
  EXPECT_LT(Clock::now() - started, 3s);
  EXPECT_NE(broker.process().out().find("closing handshakes still open after 300 ms"),
            std::string::npos)
      << broker.process().out();
}

}  // namespace
}  // namespace kabar::test
