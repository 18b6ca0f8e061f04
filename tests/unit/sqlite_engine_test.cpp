// The durable engine on a real SQLite file in a fresh directory per test.
#include "kabar/broker/sqlite_engine.hpp"

#include <gmock/gmock.h>
#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <random>
#include <thread>

#include "kabar/common/time.hpp"

namespace kabar::broker {
namespace {

using google::protobuf::util::TimeUtil;
using testing::HasSubstr;
namespace fs = std::filesystem;

v1::Article article(const std::string& id, std::uint32_t version,
                    std::initializer_list<const char*> topics) {
  v1::Article a;
  a.set_id(id);
  a.set_version(version);
  a.set_headline(id + " v" + std::to_string(version));
  for (const char* topic : topics) a.add_topics(topic);
  return a;
}

class SqliteEngineTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        fs::temp_directory_path() / ("kabar-engine-test-" + std::to_string(std::random_device{}()));
    fs::remove_all(dir_);
  }
  void TearDown() override {
    engine_.reset();
    fs::remove_all(dir_);
  }

  SqliteEngine& open(Retention retention = {}, bool allow_empty_store = false) {
    engine_.reset();
    engine_ = std::make_unique<SqliteEngine>(
        StoreOptions{dir_, Durability::kFull, retention, allow_empty_store},
        [this](std::shared_ptr<const DeliveryBatch> batch) {
          std::lock_guard lock(mutex_);
          for (const auto& ref : batch->deliveries) {
            sunk_.push_back(ref.topic + "#" + std::to_string(ref.offset));
            v1::ServerMessage message;
            message.ParseFromArray(batch->bytes.data() + ref.begin, static_cast<int>(ref.size));
            const auto& article = message.deliveries(0).article();
            versions_.push_back(article.id() + " v" + std::to_string(article.version()));
          }
        });
    return *engine_;
  }

  PublishOutcome publish(v1::Article a) {
    std::promise<PublishOutcome> done;
    std::vector<PublishRequest> requests;
    requests.push_back({std::move(a), current_timestamp(),
                        [&](PublishOutcome outcome) { done.set_value(std::move(outcome)); }});
    engine_->publish(std::move(requests));
    return done.get_future().get();
  }

  ReadResult read(ReadRequest request) {
    std::promise<ReadResult> done;
    engine_->read(std::move(request),
                  [&](ReadResult result) { done.set_value(std::move(result)); });
    return done.get_future().get();
  }

  ReadResult read_from(const std::string& topic, std::uint64_t offset, const std::string& epoch,
                       std::size_t max_count = SIZE_MAX) {
    ReadRequest request{topic, {}, true, 1 << 20, max_count};
    auto& from = request.from.emplace_back();
    from.set_topic(topic);
    from.mutable_position()->set_offset(offset);
    from.mutable_position()->set_epoch(epoch);
    return read(std::move(request));
  }

  // What reached the sink. The engine acknowledges a batch just before it hands it to the sink,
  // on its writer thread: a flush queued behind that work makes sure both happened.
  std::vector<std::string> sunk() {
    std::promise<void> flushed;
    engine_->flush([&] { flushed.set_value(); });
    flushed.get_future().wait();
    std::lock_guard lock(mutex_);
    return sunk_;
  }

  fs::path dir_;
  std::unique_ptr<SqliteEngine> engine_;
  std::mutex mutex_;
  std::vector<std::string> sunk_;
  std::vector<std::string> versions_;  // "id vN" of each delivery sunk

  std::vector<std::string> versions() {
    static_cast<void>(sunk());
    std::lock_guard lock(mutex_);
    return versions_;
  }

  // Waits until `deadline` has passed on the wall clock, plus the engine's timer slack.
  static void wait_past(const google::protobuf::Timestamp& deadline) {
    while (current_timestamp() <= deadline + TimeUtil::MillisecondsToDuration(300)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
};

google::protobuf::Timestamp in_ms(std::int64_t ms) {
  return current_timestamp() + TimeUtil::MillisecondsToDuration(ms);
}

TEST_F(SqliteEngineTest, KeepsOffsetsAndEpochsAcrossARestart) {
  open();
  const auto first = publish(article("urn:a", 1, {"international", "defense"}));
  ASSERT_FALSE(first.rejection);
  ASSERT_EQ(first.result.offsets_size(), 2);
  EXPECT_EQ(first.result.offsets(1).offset(), 1U);
  const auto epoch = first.result.offsets(1).epoch();
  EXPECT_EQ(epoch.size(), 16U);
  EXPECT_EQ(sunk(), (std::vector<std::string>{"international#1", "defense#1"}));

  open();  // a new engine on the same directory
  const auto second = publish(article("urn:b", 1, {"defense"}));
  EXPECT_EQ(second.result.offsets(0).offset(), 2U);
  EXPECT_EQ(second.result.offsets(0).epoch(), epoch);
  const auto history = read_from("defense", 0, "");
  ASSERT_FALSE(history.not_recoverable);
  ASSERT_EQ(history.batch->deliveries.size(), 2U);
  EXPECT_EQ(history.batch->deliveries[1].offset, 2U);
  EXPECT_TRUE(history.complete);
}

TEST_F(SqliteEngineTest, DuplicateCorrectionAndOlderVersion) {
  open();
  const auto first = publish(article("urn:a", 1, {"defense"}));
  const auto again = publish(article("urn:a", 1, {"defense", "sports"}));
  EXPECT_TRUE(again.result.duplicate());
  ASSERT_EQ(again.result.offsets_size(), 1);  // the first stored copy's offsets
  EXPECT_EQ(again.result.offsets(0).offset(), 1U);

  const auto correction = publish(article("urn:a", 2, {"defense"}));
  EXPECT_FALSE(correction.result.duplicate());
  EXPECT_EQ(correction.result.offsets(0).offset(), 2U);

  const auto older = publish(article("urn:a", 1, {"defense"}));
  EXPECT_TRUE(older.result.duplicate());  // version 1 is still stored
  const auto unknown_older = publish(article("urn:b", 3, {"defense"}));
  ASSERT_FALSE(unknown_older.rejection);
  const auto refused = publish(article("urn:b", 2, {"defense"}));
  ASSERT_TRUE(refused.rejection);
  EXPECT_THAT(refused.rejection->message, HasSubstr("older than its stored version 3"));
  EXPECT_EQ(sunk().size(), 3U);
}

TEST_F(SqliteEngineTest, HoldsAnEmbargoedArticleUntilItLiftsEvenAcrossARestart) {
  open();
  auto held = article("urn:embargo", 1, {"defense"});
  *held.mutable_embargoed() = current_timestamp() + TimeUtil::MillisecondsToDuration(1500);
  const auto outcome = publish(held);
  ASSERT_FALSE(outcome.rejection);
  EXPECT_TRUE(outcome.result.has_embargoed_until());
  EXPECT_EQ(outcome.result.offsets_size(), 0);
  EXPECT_TRUE(publish(held).result.duplicate());
  open();  // restart while held
  EXPECT_TRUE(sunk().empty());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (sunk().empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(sunk(), (std::vector<std::string>{"defense#1"}));
}

// Embargoed v1, then v2 (a retraction) with no embargo: readers get v2 at once and v1 never,
// across a restart too.
TEST_F(SqliteEngineTest, ARetractionSupersedesAnEmbargoedVersionForGood) {
  open();
  auto v1 = article("urn:kill", 1, {"defense"});
  *v1.mutable_embargoed() = in_ms(1500);
  const auto lifts = v1.embargoed();
  ASSERT_TRUE(publish(v1).result.has_embargoed_until());
  auto kill = article("urn:kill", 2, {"defense"});
  kill.set_pubstatus(v1::PUB_STATUS_CANCELED);
  ASSERT_FALSE(publish(kill).rejection);
  EXPECT_EQ(versions(), (std::vector<std::string>{"urn:kill v2"}));
  open();  // restart while v1's embargo would still hold
  wait_past(lifts);
  EXPECT_EQ(versions(), (std::vector<std::string>{"urn:kill v2"}));
  const auto retry = publish(v1);  // the publisher retries v1: a duplicate, nothing released
  EXPECT_TRUE(retry.result.duplicate());
  EXPECT_EQ(retry.result.offsets_size(), 0);
  EXPECT_EQ(versions(), (std::vector<std::string>{"urn:kill v2"}));
}

// v2 embargoed later or earlier than v1: only v2 goes out, at its own time.
TEST_F(SqliteEngineTest, OnlyTheNewestEmbargoedVersionIsReleased) {
  for (const std::int64_t v2_ms : {2500, 1000}) {
    SCOPED_TRACE(v2_ms);
    SetUp();
    open();
    auto v1 = article("urn:both", 1, {"defense"});
    *v1.mutable_embargoed() = in_ms(2000);
    ASSERT_TRUE(publish(v1).result.has_embargoed_until());
    auto v2 = article("urn:both", 2, {"defense"});
    *v2.mutable_embargoed() = in_ms(v2_ms);
    ASSERT_TRUE(publish(v2).result.has_embargoed_until());
    // v2 comes out at its time (however slow this build is), and v1 not even past its own.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (versions().empty() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    wait_past(std::max(v1.embargoed(), v2.embargoed()));
    EXPECT_EQ(versions(), (std::vector<std::string>{"urn:both v2"}));
    TearDown();
    versions_.clear();
    sunk_.clear();
  }
}

// "Hold until further notice": an embargo in 9999 holds, past what int64 nanoseconds count.
TEST_F(SqliteEngineTest, AFarFutureEmbargoHoldsAndIsReportedExactly) {
  open();
  auto held = article("urn:hold", 1, {"defense"});
  held.mutable_embargoed()->set_seconds(253'402'300'799);  // 9999-12-31T23:59:59Z
  const auto outcome = publish(held);
  ASSERT_FALSE(outcome.rejection);
  EXPECT_EQ(outcome.result.embargoed_until().seconds(), 253'402'300'799);
  EXPECT_EQ(outcome.result.offsets_size(), 0);
  open();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_TRUE(sunk().empty());
  const auto again = publish(held);
  EXPECT_TRUE(again.result.duplicate());
  EXPECT_EQ(again.result.embargoed_until().seconds(), 253'402'300'799);
  EXPECT_TRUE(sunk().empty());
}

// --retention-hours 10000000, a "keep forever", keeps everything (it once wrapped to "none").
TEST_F(SqliteEngineTest, RetentionOfTenMillionHoursKeepsEverything) {
  Retention retention;
  retention.defaults.max_age = std::chrono::hours(10'000'000);
  retention.rules.push_back({"sports", {1'000'000'000'000'000, std::chrono::hours(1'000'000'000)}});
  retention.sweep_interval = std::chrono::milliseconds(10);
  open(retention);
  for (int i = 0; i < 5; ++i)
    publish(article("urn:" + std::to_string(i), 1, {"defense", "sports"}));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // many sweeps
  EXPECT_EQ(read_from("defense", 0, "").batch->deliveries.size(), 5U);
  EXPECT_EQ(read_from("sports", 0, "").batch->deliveries.size(), 5U);
}

TEST_F(SqliteEngineTest, AZeroLengthDatabaseIsRefusedUnlessAllowed) {
  fs::create_directories(dir_);
  std::ofstream(dir_ / "kabar.db").close();
  try {
    open();
    FAIL() << "opened a zero-length database as a new history";
  } catch (const StoreError& e) {
    EXPECT_THAT(e.what(), HasSubstr("is empty (0 bytes)"));
    EXPECT_THAT(e.what(), HasSubstr("--allow-empty-store"));
  }
  EXPECT_EQ(fs::file_size(dir_ / "kabar.db"), 0U);  // left as found
  open({}, true);
  EXPECT_FALSE(publish(article("urn:a", 1, {"defense"})).rejection);
}

TEST_F(SqliteEngineTest, RefusesRecoveryFromAnotherEpochOrATrimmedPosition) {
  Retention retention;
  retention.rules.push_back({"defense", {3, std::chrono::hours(1)}});  // others keep everything
  retention.sweep_interval = std::chrono::milliseconds(20);
  open(retention);
  std::string epoch;
  for (int i = 0; i < 10; ++i) {
    epoch = publish(article("urn:" + std::to_string(i), 1, {"defense", "sports"})).result.epoch();
  }
  EXPECT_THAT(read_from("defense", 5, "another").not_recoverable.value_or(""),
              HasSubstr("new history"));
  EXPECT_THAT(read_from("defense", 11, epoch).not_recoverable.value_or(""), HasSubstr("past"));
  // A sweep may run between two publishes and trim part of the way: wait for the one after the
  // last publish, which leaves the last 3.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (read_from("defense", 7, epoch).topics.at(0).first_offset != 8 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_THAT(read_from("defense", 5, epoch).not_recoverable.value_or(""),
              HasSubstr("no longer reaches back"));
  const auto tail = read_from("defense", 7, epoch);
  ASSERT_FALSE(tail.not_recoverable);
  EXPECT_EQ(tail.batch->deliveries.size(), 3U);
  EXPECT_EQ(tail.topics.at(0).first_offset, 8U);
  EXPECT_EQ(read_from("sports", 0, "").batch->deliveries.size(), 10U);
}

TEST_F(SqliteEngineTest, ADamagedDatabaseIsRefusedAtStartup) {
  open();
  for (int i = 0; i < 300; ++i) publish(article("urn:" + std::to_string(i), 1, {"defense"}));
  engine_.reset();  // checkpoints the log into kabar.db
  {
    std::fstream file(dir_ / "kabar.db", std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(2 * 4096);  // page 3 on: b-tree pages of the tables and indexes
    file << std::string(3 * 4096, '\x5a');
  }
  try {
    open();
    FAIL() << "opened a damaged database";
  } catch (const StoreError& e) {
    EXPECT_THAT(e.what(), HasSubstr("kabar.db"));
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "one line: " << e.what();
  }
}

TEST_F(SqliteEngineTest, ReadsInPages) {
  open();
  for (int i = 0; i < 10; ++i) publish(article("urn:" + std::to_string(i), 1, {"defense"}));
  const auto page = read_from("defense", 2, "", 4);
  EXPECT_TRUE(page.not_recoverable);  // an offset needs its epoch
  const auto epoch = read({"defense", {}, false, 0, 0}).topics.at(0).epoch;
  const auto first = read_from("defense", 2, epoch, 4);
  ASSERT_EQ(first.batch->deliveries.size(), 4U);
  EXPECT_EQ(first.batch->deliveries.front().offset, 3U);
  EXPECT_FALSE(first.complete);
  const auto rest = read_from("defense", 6, epoch, 100);
  EXPECT_EQ(rest.batch->deliveries.size(), 4U);
  EXPECT_TRUE(rest.complete);
}

TEST_F(SqliteEngineTest, ACorruptDatabaseIsOneClearError) {
  fs::create_directories(dir_);
  std::ofstream(dir_ / "kabar.db") << std::string(8192, 'x');
  try {
    open();
    FAIL() << "opened a corrupt database";
  } catch (const StoreError& e) {
    EXPECT_THAT(e.what(), HasSubstr("kabar.db"));
    EXPECT_THAT(e.what(), HasSubstr("not a database"));
  }
}

}  // namespace
}  // namespace kabar::broker
