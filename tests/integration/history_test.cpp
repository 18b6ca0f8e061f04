// History, recovery and the newsroom's verbs, against the real broker and its SQLite store.
#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "broker.hpp"
#include "client_support.hpp"
#include "kabar/common/time.hpp"
#include "raw_ws.hpp"

namespace kabar::test {
namespace {

using google::protobuf::util::TimeUtil;

// Publishes `count` articles to `topic`, pipelined; returns the acknowledgements in order.
std::vector<v1::PublishResult> publish_many(client::Client& client, const std::string& prefix,
                                            const std::string& topic, int count) {
  std::vector<std::future<v1::PublishResult>> acks;
  acks.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    acks.push_back(client.publish(article(prefix + std::to_string(i), {topic})));
  }
  std::vector<v1::PublishResult> results;
  for (auto& ack : acks) results.push_back(ack.get());
  return results;
}

v1::Subscribe since(const std::string& topic, std::uint64_t offset, const std::string& epoch) {
  v1::Subscribe request;
  request.set_topic(topic);
  request.mutable_since()->set_offset(offset);
  request.mutable_since()->set_epoch(epoch);
  return request;
}

// Subscribes `reader` to `topic` recovering everything stored ("since 0"), then live.
void subscribe_from_start(Connected& reader, const std::string& topic, Inbox& inbox) {
  v1::Subscribe request;
  request.set_topic(topic);
  request.mutable_since();
  reader->subscribe(request, inbox.handler()).get();
}

// Publishes `count` articles of 200 KiB to "longreads", pipelined, and waits for every ack.
void publish_long_reads(BrokerProcess& broker, const std::string& prefix, int count) {
  Connected cms(broker.url(), "cms");
  const std::string body(200 * 1024, 'l');
  std::vector<std::future<v1::PublishResult>> acks;
  for (int i = 0; i < count; ++i) {
    auto a = article(prefix + std::to_string(i), {"longreads"});
    a.set_body(body);
    acks.push_back(cms->publish(std::move(a)));
  }
  for (auto& ack : acks) ack.get();
}

// Offsets of one topic's deliveries, checked to be first, first + 1, ... last.
void expect_consecutive(const std::vector<v1::Delivery>& items, const std::string& topic,
                        std::uint64_t first, std::uint64_t last) {
  std::uint64_t expected = first;
  for (const auto& item : items) {
    if (item.topic() != topic) continue;
    ASSERT_EQ(item.offset(), expected) << topic << ": gap or duplicate";
    ++expected;
  }
  EXPECT_EQ(expected, last + 1) << topic;
}

TEST(History, ResumeReplaysWhatWasMissedWhileTenThousandMoreArePublished) {
  BrokerProcess broker;
  Connected publisher(broker.url(), "cms");
  const auto before = publish_many(*publisher, "urn:test:before-", "defense", 5000);
  const auto epoch = before.front().epoch();

  Connected live_publisher(broker.url(), "wire");
  std::thread during([&] { publish_many(*live_publisher, "urn:test:during-", "defense", 10000); });
  Connected reader(broker.url(), "dashboard");
  Inbox inbox;
  const auto result = reader->subscribe(since("defense", 100, epoch), inbox.handler()).get();
  during.join();
  EXPECT_TRUE(result.recovered());
  ASSERT_TRUE(inbox.wait_for(15000 - 100, 30s)) << inbox.items().size();
  expect_consecutive(inbox.items(), "defense", 101, 15000);
  EXPECT_EQ(inbox.items().size(), 15000U - 100U);
}

TEST(History, APatternResumesEachTopicAndReplaysTopicsCreatedSince) {
  BrokerProcess broker;
  Connected publisher(broker.url(), "cms");
  publish_many(*publisher, "urn:test:asia-", "defense.asia", 3);
  publish_many(*publisher, "urn:test:europe-", "defense.europe", 2);
  Connected first(broker.url());
  Inbox ignored;
  const auto positions = first.subscribe("defense.>", ignored).positions();
  ASSERT_EQ(positions.size(), 2);

  publish_many(*publisher, "urn:test:asia-late-", "defense.asia", 2);
  publish_many(*publisher, "urn:test:africa-", "defense.africa", 2);
  publish_many(*publisher, "urn:test:europe-late-", "defense.europe", 1);

  Connected resumed(broker.url());
  Inbox inbox;
  v1::Subscribe request;
  request.set_topic("defense.>");
  for (const auto& position : positions) *request.mutable_resume()->add_positions() = position;
  const auto result = resumed->subscribe(request, inbox.handler()).get();
  EXPECT_TRUE(result.recovered()) << result.not_recovered_reason();
  ASSERT_TRUE(inbox.wait_for(5));
  expect_consecutive(inbox.items(), "defense.asia", 4, 5);
  expect_consecutive(inbox.items(), "defense.africa", 1, 2);
  expect_consecutive(inbox.items(), "defense.europe", 3, 3);
}

TEST(History, DuplicatesCorrectionsRetractionsAndOlderVersions) {
  BrokerProcess broker;
  Connected reader(broker.url());
  Inbox inbox;
  reader.subscribe("international", inbox);
  Connected cms(broker.url(), "cms");

  auto story = article("urn:test:story", {"international"});
  story.set_version(1);
  EXPECT_FALSE(cms.publish(story).duplicate());
  const auto again = cms.publish(story);  // a retry
  EXPECT_TRUE(again.duplicate());
  ASSERT_EQ(again.offsets_size(), 1);
  EXPECT_EQ(again.offsets(0).offset(), 1U);

  story.set_version(2);
  story.set_headline("corrected headline");
  EXPECT_EQ(cms.publish(story).offsets(0).offset(), 2U);
  story.set_version(3);
  story.set_pubstatus(v1::PUB_STATUS_CANCELED);
  EXPECT_EQ(cms.publish(story).offsets(0).offset(), 3U);

  story.set_version(1);
  EXPECT_TRUE(cms.publish(story).duplicate());  // version 1 is still stored
  auto other = article("urn:test:other", {"international"});
  other.set_version(5);
  cms.publish(other);
  other.set_version(4);
  try {
    cms.publish(other);
    FAIL() << "an older version was accepted";
  } catch (const client::RequestError& e) {
    EXPECT_EQ(e.code(), v1::Error::BAD_REQUEST);
    EXPECT_NE(std::string(e.what()).find("older than its stored version 5"), std::string::npos)
        << e.what();
  }
  cms.publish(article("urn:test:marker", {"international"}));

  ASSERT_TRUE(inbox.wait_for(5));
  const auto items = inbox.items();
  ASSERT_EQ(items.size(), 5U);
  EXPECT_EQ(items[1].article().headline(), "corrected headline");
  EXPECT_EQ(items[2].article().pubstatus(), v1::PUB_STATUS_CANCELED);
  EXPECT_EQ(items[3].article().id(), "urn:test:other");
  EXPECT_EQ(items[4].article().id(), "urn:test:marker");
}

TEST(History, AnEmbargoedArticleIsDeliveredWhenItLiftsEvenAfterARestart) {
  TempDir data;
  auto held = article("urn:test:embargoed", {"international"});
  const auto lifts = current_timestamp() + TimeUtil::MillisecondsToDuration(2000);
  *held.mutable_embargoed() = lifts;
  {
    BrokerProcess broker(data.path(), {});
    Connected cms(broker.url(), "cms");
    const auto ack = cms.publish(held);
    EXPECT_EQ(ack.offsets_size(), 0);
    EXPECT_EQ(ack.embargoed_until(), lifts);
    EXPECT_TRUE(cms.publish(held).duplicate());
  }
  BrokerProcess restarted(data.path(), {});
  Connected reader(restarted.url());
  Inbox inbox;
  // From the start: on a slow machine the embargo may lift before this subscription is made,
  // and the article then comes from the history rather than live; either way, after it lifts.
  subscribe_from_start(reader, "international", inbox);
  ASSERT_TRUE(inbox.wait_for(1, 10s));
  EXPECT_GE(current_timestamp(), lifts);
  const auto items = inbox.items();
  EXPECT_EQ(items[0].article().id(), "urn:test:embargoed");
  EXPECT_EQ(items[0].offset(), 1U);
}

// README "Backups": kabar-broker --backup-to while the broker runs, the file restored as kabar.db.
TEST(History, ABackupTakenWhileServingRestoresItsArticlesUnderNewEpochs) {
  TempDir data, restored, backups;
  const auto backup = backups.path() / "kabar-backup.db";
  std::string old_epoch;
  {
    BrokerProcess broker(data.path(), {});
    Connected cms(broker.url(), "cms");
    old_epoch = cms.publish(article("urn:test:before-1", {"defense"})).epoch();
    cms.publish(article("urn:test:before-2", {"defense"}));
    const auto copied =
        run({broker_path(), "--data-dir", data.path().string(), "--backup-to", backup.string()});
    ASSERT_EQ(copied.status, 0) << copied.err;
    EXPECT_NE(copied.out.find("2 article versions in 1 topics"), std::string::npos) << copied.out;
    // Stored after the backup: not in it.
    EXPECT_EQ(cms.publish(article("urn:test:after", {"defense"})).offsets(0).offset(), 3U);
    // A backup is never written over.
    const auto again =
        run({broker_path(), "--data-dir", data.path().string(), "--backup-to", backup.string()});
    EXPECT_EQ(again.status, 1);
    EXPECT_NE(again.err.find("exists already"), std::string::npos) << again.err;
  }
  std::filesystem::copy_file(backup, restored.path() / "kabar.db");
  BrokerProcess broker(restored.path(), {});
  EXPECT_NE(broker.process().out().find("is a backup taken at"), std::string::npos)
      << broker.process().out();

  // Everything up to the backup is there, under a new epoch.
  Connected reader(broker.url());
  Inbox all;
  subscribe_from_start(reader, "defense", all);
  ASSERT_TRUE(all.wait_for(2));
  const auto items = all.items();
  EXPECT_EQ(items[0].article().id(), "urn:test:before-1");
  EXPECT_EQ(items[1].article().id(), "urn:test:before-2");
  EXPECT_NE(items[0].epoch(), old_epoch);

  // A reader that had the article stored after the backup is told it cannot be recovered,
  // rather than skipping whatever is stored under offset 3 from now on.
  Connected ahead(broker.url());
  Inbox inbox;
  auto result = ahead->subscribe(since("defense", 3, old_epoch), inbox.handler()).get();
  EXPECT_FALSE(result.recovered());
  Connected cms(broker.url(), "cms");
  const auto ack = cms.publish(article("urn:test:restored", {"defense"}));
  EXPECT_EQ(ack.offsets(0).offset(), 3U);
  EXPECT_NE(ack.epoch(), old_epoch);
  ASSERT_TRUE(inbox.wait_for(1));
  EXPECT_EQ(inbox.items()[0].article().id(), "urn:test:restored");

  // The mark is gone once used: the next start keeps the epoch it drew.
  EXPECT_EQ(broker.stop(), 0);
  BrokerProcess again(restored.path(), {});
  EXPECT_EQ(again.process().out().find("is a backup taken at"), std::string::npos);
  Connected after(again.url());
  auto resumed = after->subscribe(since("defense", 3, ack.epoch()), inbox.handler()).get();
  EXPECT_TRUE(resumed.recovered()) << resumed.not_recovered_reason();
}

TEST(History, ABackupOfAnythingButTheSqliteStoreIsRefusedClearly) {
  TempDir data;
  const auto memory =
      run({broker_path(), "--store", "memory", "--backup-to", (data.path() / "x.db").string()});
  EXPECT_EQ(memory.status, 2);
  EXPECT_NE(memory.err.find("copies the SQLite store"), std::string::npos) << memory.err;
  const auto nothing = run({broker_path(), "--data-dir", (data.path() / "none").string(),
                            "--backup-to", (data.path() / "x.db").string()});
  EXPECT_EQ(nothing.status, 1);
  EXPECT_NE(nothing.err.find("no store to back up"), std::string::npos) << nothing.err;
  EXPECT_FALSE(std::filesystem::exists(data.path() / "x.db"));
}

TEST(History, AWipedDataDirectoryMeansANewEpochAndRecoveredFalse) {
  TempDir data;
  std::string old_epoch;
  {
    BrokerProcess broker(data.path(), {});
    Connected cms(broker.url(), "cms");
    old_epoch = cms.publish(article("urn:test:a", {"defense"})).epoch();
  }
  std::filesystem::remove_all(data.path());
  BrokerProcess broker(data.path(), {});
  Connected reader(broker.url());
  Inbox inbox;
  auto result = reader->subscribe(since("defense", 1, old_epoch), inbox.handler()).get();
  EXPECT_FALSE(result.recovered());
  EXPECT_NE(result.not_recovered_reason().find("no history here"), std::string::npos);

  Connected cms(broker.url(), "cms");
  const auto ack = cms.publish(article("urn:test:b", {"defense"}));
  EXPECT_NE(ack.epoch(), old_epoch);
  ASSERT_TRUE(inbox.wait_for(1));  // live goes on after a failed recovery
  Connected other(broker.url());
  Inbox nothing;
  result = other->subscribe(since("defense", 1, old_epoch), nothing.handler()).get();
  EXPECT_FALSE(result.recovered());
  EXPECT_NE(result.not_recovered_reason().find("new history"), std::string::npos);
  ASSERT_EQ(result.positions_size(), 1);
  EXPECT_EQ(result.positions(0).position().epoch(), ack.epoch());
}

TEST(History, RetentionTrimsAndRecoveryFromATrimmedPositionIsRefused) {
  BrokerProcess broker({"--retention-count", "5", "--retention-sweep-ms", "50"});
  Connected cms(broker.url(), "cms");
  const auto epoch = publish_many(*cms, "urn:test:", "defense", 20).front().epoch();
  const auto deadline = Clock::now() + 10s;
  nlohmann::json history;
  do {
    history = nlohmann::json::parse(
        http_get(broker.port(), "/v1/topics/defense/articles?limit=100").body);
  } while (history.value("firstOffset", "0") != "16" && Clock::now() < deadline);
  EXPECT_EQ(history["firstOffset"], "16");
  EXPECT_EQ(history["deliveries"].size(), 5U);

  Connected late(broker.url());
  Inbox nothing;
  const auto refused = late->subscribe(since("defense", 3, epoch), nothing.handler()).get();
  EXPECT_FALSE(refused.recovered());
  EXPECT_NE(refused.not_recovered_reason().find("no longer reaches back"), std::string::npos);
  Connected reader(broker.url());
  Inbox inbox;
  const auto tail = reader->subscribe(since("defense", 17, epoch), inbox.handler()).get();
  EXPECT_TRUE(tail.recovered());
  ASSERT_TRUE(inbox.wait_for(3));
  expect_consecutive(inbox.items(), "defense", 18, 20);
}

// Killed while embargoed: v1 held 3 s, then the retraction v2 with no embargo. Readers get the
// retraction at once and never the story it killed, across a restart too.
TEST(History, ARetractionOfAnEmbargoedStoryWinsEvenAfterARestart) {
  TempDir data;
  auto story = article("urn:test:killed", {"international"});
  auto kill = article("urn:test:killed", {"international"});
  kill.set_version(2);
  kill.set_pubstatus(v1::PUB_STATUS_CANCELED);
  google::protobuf::Timestamp lifts;
  {
    BrokerProcess broker(data.path(), {});
    Connected cms(broker.url(), "cms");
    // Taken once connected, and long enough for a loaded machine: the embargo must still hold
    // when the publish is stored, or the story is (rightly) delivered at once.
    lifts = current_timestamp() + TimeUtil::MillisecondsToDuration(3000);
    *story.mutable_embargoed() = lifts;
    EXPECT_EQ(cms.publish(story).offsets_size(), 0);
    EXPECT_EQ(cms.publish(kill).offsets(0).offset(), 1U);
  }
  BrokerProcess restarted(data.path(), {});
  Connected reader(restarted.url());
  Inbox inbox;
  subscribe_from_start(reader, "international", inbox);
  ASSERT_TRUE(inbox.wait_for(1, 10s));
  while (current_timestamp() < lifts + TimeUtil::MillisecondsToDuration(700)) {
    std::this_thread::sleep_for(50ms);
  }
  Connected cms(restarted.url(), "cms");
  cms.publish(article("urn:test:after", {"international"}));  // a marker after the lift
  ASSERT_TRUE(inbox.wait_for(2, 10s));
  const auto items = inbox.items();
  ASSERT_EQ(items.size(), 2U);
  EXPECT_EQ(items[0].article().version(), 2U);
  EXPECT_EQ(items[0].article().pubstatus(), v1::PUB_STATUS_CANCELED);
  EXPECT_EQ(items[1].article().id(), "urn:test:after");
  EXPECT_EQ(items[1].offset(), 2U) << "the killed story never got an offset";
}

// A page is bounded in bytes as well as in count: a thousand 200 KiB articles do not make a
// 200 MiB answer.
TEST(History, AHistoryPageIsBoundedInBytes) {
  BrokerProcess broker({"--store", "sqlite"});
  publish_long_reads(broker, "urn:test:big:", 40);
  const auto page = http_get_accepting(broker.port(), "/v1/topics/longreads/articles?limit=1000",
                                       "application/x-protobuf");
  ASSERT_EQ(page.status, 200);
  v1::History history;
  ASSERT_TRUE(history.ParseFromString(page.body));
  EXPECT_TRUE(history.more());
  EXPECT_LT(page.body.size(), (4U << 20) + 300U * 1024) << "4 MiB and the article that crossed it";
  EXPECT_GE(history.deliveries_size(), 19);
  const auto rest = http_get_accepting(
      broker.port(),
      "/v1/topics/longreads/articles?limit=1000&since=" +
          std::to_string(history.deliveries(history.deliveries_size() - 1).offset()),
      "application/x-protobuf");
  v1::History next;
  ASSERT_TRUE(next.ParseFromString(rest.body));
  EXPECT_EQ(history.deliveries_size() + next.deliveries_size(), 40);
  EXPECT_FALSE(next.more());
}

// Each history read holds up to a page: a few run at once over the broker, the others are told to
// come back (503 with Retry-After), and none of it blocks the I/O threads.
TEST(History, ConcurrentHistoryReadsAreLimited) {
  BrokerProcess broker;
  publish_long_reads(broker, "urn:test:long:", 24);
  constexpr int kReaders = 24;
  std::vector<std::future<HttpResult>> pages;
  for (int i = 0; i < kReaders; ++i) {
    pages.push_back(std::async(std::launch::async, [&broker] {
      return http_get(broker.port(), "/v1/topics/longreads/articles?limit=1000");
    }));
  }
  int served = 0, refused = 0;
  for (auto& page : pages) {
    const auto result = page.get();
    if (result.status == 200) ++served;
    if (result.status == 503) {
      ++refused;
      EXPECT_NE(result.body.find("too many history reads"), std::string::npos) << result.body;
    }
  }
  EXPECT_EQ(served + refused, kReaders);
  EXPECT_GE(served, 1);
  EXPECT_GE(refused, 1) << "24 reads of 4 MiB pages at once, and none was refused";
  EXPECT_EQ(http_get(broker.port(), "/healthz").status, 200);
}

TEST(History, HttpReadPathServesJsonAndProtobuf) {
  BrokerProcess broker;
  Connected cms(broker.url(), "cms");
  const auto acks = publish_many(*cms, "urn:test:", "defense", 5);

  const auto json = http_get(broker.port(), "/v1/topics/defense/articles?since=2&limit=2");
  ASSERT_EQ(json.status, 200) << json.body;
  EXPECT_EQ(json.content_type, "application/json");
  const auto page = nlohmann::json::parse(json.body);
  EXPECT_EQ(page["topic"], "defense");
  EXPECT_EQ(page["epoch"], acks.front().epoch());
  EXPECT_EQ(page["lastOffset"], "5");
  EXPECT_EQ(page["more"], true);
  ASSERT_EQ(page["deliveries"].size(), 2U);
  EXPECT_EQ(page["deliveries"][0]["offset"], "3");
  EXPECT_EQ(page["deliveries"][1]["article"]["id"], "urn:test:3");

  const auto binary = http_get_accepting(broker.port(), "/v1/topics/defense/articles?since=3",
                                         "application/x-protobuf");
  ASSERT_EQ(binary.status, 200);
  v1::History history;
  ASSERT_TRUE(history.ParseFromString(binary.body));
  ASSERT_EQ(history.deliveries_size(), 2);
  EXPECT_EQ(history.deliveries(1).offset(), 5U);
  EXPECT_FALSE(history.more());

  EXPECT_EQ(http_get(broker.port(), "/v1/topics/sports/articles").status, 404);
  const auto bad_topic = http_get(broker.port(), "/v1/topics/Sports/articles");
  EXPECT_EQ(bad_topic.status, 400);
  EXPECT_NE(bad_topic.body.find("topic 'Sports'"), std::string::npos);
  const auto bad_since = http_get(broker.port(), "/v1/topics/defense/articles?since=-1");
  EXPECT_EQ(bad_since.status, 400);
  EXPECT_NE(bad_since.body.find("since must be an offset"), std::string::npos);
  EXPECT_EQ(http_get(broker.port(), "/v1/topics/defense/articles?limit=5000").status, 400);
}

// A reader of "international" through the client library, reconnecting fast (50-200 ms).
// `watch` installs its handlers before it connects; the destructor closes it.
class ReconnectingReader {
 public:
  ReconnectingReader(const std::string& url, const std::function<void(client::Client&)>& watch)
      : client_(io_.context(), options(url)) {
    watch(client_);
    client_.connect().get();
    v1::Subscribe request;
    request.set_topic("international");
    client_.subscribe(request, inbox.handler()).get();
  }
  ~ReconnectingReader() {
    std::promise<void> closed;
    client_.close([&] { closed.set_value(); });
    closed.get_future().wait_for(5s);
  }
  ReconnectingReader(const ReconnectingReader&) = delete;
  ReconnectingReader& operator=(const ReconnectingReader&) = delete;

  Inbox inbox;

 private:
  static client::Options options(const std::string& url) {
    client::Options o;
    o.url = url;
    o.reconnect.initial_delay = 50ms;
    o.reconnect.max_delay = 200ms;
    return o;
  }

  IoRunner io_;
  client::Client client_;
};

TEST(History, AClientResumesByItselfAfterTheBrokerRestarts) {
  TempDir data;
  auto broker = std::make_unique<BrokerProcess>(data.path(), std::vector<std::string>{});
  const auto port = std::to_string(broker->port());
  std::promise<v1::SubscribeResult> resumed;
  ReconnectingReader reader(broker->url(), [&](client::Client& client) {
    client.on_resume([&](const std::string&, const client::Response& response) {
      resumed.set_value(response.reply.subscribe());
    });
  });
  auto& inbox = reader.inbox;
  {
    Connected cms(broker->url(), "cms");
    publish_many(*cms, "urn:test:first-", "international", 50);
  }
  ASSERT_TRUE(inbox.wait_for(50));

  EXPECT_EQ(broker->stop(), 0);
  broker.reset();
  broker = std::make_unique<BrokerProcess>(
      data.path(), std::vector<std::string>{"--listen", "127.0.0.1:" + port});
  {
    Connected cms(broker->url(), "cms");
    publish_many(*cms, "urn:test:second-", "international", 50);
  }
  auto result = resumed.get_future();
  ASSERT_EQ(result.wait_for(10s), std::future_status::ready);
  EXPECT_TRUE(result.get().recovered());
  ASSERT_TRUE(inbox.wait_for(100));
  expect_consecutive(inbox.items(), "international", 1, 100);
}

TEST(History, SigtermDrainsThenClientsReconnectAndResumeOnTheRestartedBroker) {
  TempDir data;
  auto broker = std::make_unique<BrokerProcess>(data.path(), std::vector<std::string>{});
  const auto port = std::to_string(broker->port());
  std::promise<std::uint16_t> lost;
  ReconnectingReader reader(broker->url(), [&](client::Client& client) {
    client.on_reconnect([&, once = std::make_shared<std::once_flag>()](const client::CloseInfo& why,
                                                                       std::chrono::milliseconds) {
      std::call_once(*once, [&] { lost.set_value(why.code); });
    });
  });
  auto& inbox = reader.inbox;

  std::vector<std::uint64_t> acknowledged;
  {
    Connected cms(broker->url(), "cms");
    std::vector<std::future<v1::PublishResult>> acks;
    for (int i = 0; i < 300; ++i) {
      acks.push_back(
          cms->publish(article("urn:test:drain-" + std::to_string(i), {"international"})));
    }
    EXPECT_EQ(broker->stop(2s), 0);  // SIGTERM while publishes are in flight
    for (auto& ack : acks) {
      try {
        acknowledged.push_back(ack.get().offsets(0).offset());
      } catch (const client::RequestError&) {
        // read after the drain began: refused by the close, never stored; the CMS retries
      }
    }
  }
  auto code = lost.get_future();
  ASSERT_EQ(code.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(code.get(), 4002);

  broker = std::make_unique<BrokerProcess>(
      data.path(), std::vector<std::string>{"--listen", "127.0.0.1:" + port});
  // 404 when the SIGTERM came before any publish was read (a loaded machine): nothing stored.
  const auto page = http_get(broker->port(), "/v1/topics/international/articles?limit=1");
  const auto stored =
      page.status == 404
          ? 0ULL
          : std::stoull(nlohmann::json::parse(page.body).value("lastOffset", std::string("0")));
  EXPECT_GE(stored, acknowledged.size());
  for (const auto offset : acknowledged) EXPECT_LE(offset, stored);
  ASSERT_TRUE(inbox.wait_for(stored, 10s)) << inbox.items().size() << " of " << stored;
  expect_consecutive(inbox.items(), "international", 1, stored);
}

TEST(Store, ACorruptOrUnusableStoreIsOneClearErrorAtStartup) {
  TempDir data;
  std::ofstream(data.path() / "kabar.db") << std::string(4096, 'x');
  auto corrupt = run({broker_path(), "--data-dir", data.path().string()});
  EXPECT_EQ(corrupt.status, 1);
  EXPECT_NE(corrupt.out.find("cannot open the article store"), std::string::npos) << corrupt.out;
  EXPECT_NE(corrupt.out.find("file is not a database"), std::string::npos) << corrupt.out;

  const auto not_a_dir = data.path() / "kabar.db";  // a file where a directory should be
  const auto blocked = run({broker_path(), "--data-dir", not_a_dir.string()});
  EXPECT_EQ(blocked.status, 1);
  EXPECT_NE(blocked.out.find("cannot create data directory"), std::string::npos) << blocked.out;

  TempDir other;
  std::filesystem::create_directories(other.path() / "kabar.db");  // unopenable as a file
  const auto unopenable = run({broker_path(), "--data-dir", other.path().string()});
  EXPECT_EQ(unopenable.status, 1);
  EXPECT_NE(unopenable.out.find("unable to open database file"), std::string::npos)
      << unopenable.out;
}

}  // namespace
}  // namespace kabar::test
