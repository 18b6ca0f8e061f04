// The index every broker on --store nats keeps of the shared log: deciding publishes and
// planning reads without NATS.
#include "store/log_index.hpp"

#include <gtest/gtest.h>

#include <google/protobuf/util/time_util.h>

#include "kabar/common/time.hpp"

namespace kabar::broker {
namespace {

PublishRequest request(const std::string& id, std::vector<std::string> topics,
                       std::uint32_t version = 1) {
  PublishRequest publish;
  publish.article.set_id(id);
  publish.article.set_version(version);
  publish.article.set_headline("headline of " + id);
  for (auto& topic : topics) publish.article.add_topics(std::move(topic));
  publish.done = [](PublishOutcome) {};
  return publish;
}

// Plans `requests` and applies the entry at the next sequence, as the stream would; the results.
std::vector<v1::PublishResult> store(LogIndex& index, const std::vector<PublishRequest>& requests,
                                     LogIndex::Plan* plan_out = nullptr) {
  auto plan = index.plan(requests, "nats-e", current_nanoseconds());
  DeliveryBatch batch;
  std::vector<v1::PublishResult> results;
  index.apply(index.applied_seq() + 1, current_nanoseconds(), plan.entry, "nats-e", false, batch,
              &results);
  if (plan_out != nullptr) *plan_out = std::move(plan);
  return results;
}

TEST(LogIndex, AGroupGetsContiguousOffsetsOnEachOfItsTopics) {
  LogIndex index;
  const auto results = store(
      index, {request("a", {"world"}), request("b", {"world", "asia"}), request("c", {"asia"})});
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0].offsets(0).offset(), 1u);
  EXPECT_EQ(results[1].offsets(0).offset(), 2u);
  EXPECT_EQ(results[1].offsets(1).offset(), 1u);
  EXPECT_EQ(results[2].offsets(0).offset(), 2u);
  const auto more = store(index, {request("d", {"world"})});
  EXPECT_EQ(more[0].offsets(0).offset(), 3u);
  const auto topics = index.topics(">", false, "nats-e");
  ASSERT_EQ(topics.size(), 2u);
  EXPECT_EQ(topics[0].topic, "asia");
  EXPECT_EQ(topics[0].first_offset, 1u);
  EXPECT_EQ(topics[1].last_offset, 3u);
  EXPECT_EQ(topics[1].epoch, "nats-e");
}

TEST(LogIndex, ADuplicateIsAnsweredWithItsFirstOffsetsAndAStaleVersionIsRefused) {
  LogIndex index;
  (void)store(index, {request("a", {"world", "asia"}, 2)});
  auto plan = index.plan(
      {request("a", {"world", "asia"}, 2), request("a", {"world"}, 1), request("a", {"world"}, 3)},
      "nats-e", current_nanoseconds());
  ASSERT_TRUE(plan.answered[0]);
  EXPECT_TRUE(plan.answered[0]->result.duplicate());
  ASSERT_EQ(plan.answered[0]->result.offsets_size(), 2);
  EXPECT_EQ(plan.answered[0]->result.offsets(1).topic(), "asia");
  ASSERT_TRUE(plan.answered[1]);
  ASSERT_TRUE(plan.answered[1]->rejection);
  EXPECT_NE(plan.answered[1]->rejection->message.find("older than its stored version 2"),
            std::string::npos);
  EXPECT_FALSE(plan.answered[2]);  // the correction is written
  EXPECT_EQ(plan.entry.stored_size(), 1);
  EXPECT_EQ(plan.entry.stored(0).offsets(0), 2u);
}

TEST(LogIndex, TheSameArticleTwiceInOneGroupIsWrittenOnce) {
  LogIndex index;
  const auto plan = index.plan({request("a", {"world"}), request("a", {"world"})}, "nats-e",
                               current_nanoseconds());
  EXPECT_EQ(plan.entry.stored_size(), 1);
  ASSERT_TRUE(plan.same_as[1]);
  EXPECT_EQ(*plan.same_as[1], 0u);
}

TEST(LogIndex, AnEntryAppliedTwiceCountsOnce) {
  LogIndex index;
  const auto plan = index.plan({request("a", {"world"})}, "nats-e", current_nanoseconds());
  DeliveryBatch batch;
  EXPECT_TRUE(index.apply(1, 0, plan.entry, "nats-e", false, batch, nullptr));
  EXPECT_FALSE(index.apply(1, 0, plan.entry, "nats-e", false, batch, nullptr));
  EXPECT_EQ(batch.deliveries.size(), 1u);
  EXPECT_EQ(index.topics("world", false, "nats-e").at(0).last_offset, 1u);
}

TEST(LogIndex, ReadsAreLocatedAndRetentionTrimsTheOldest) {
  LogIndex index;
  for (int i = 0; i < 10; ++i) (void)store(index, {request("a" + std::to_string(i), {"world"})});
  const auto located = index.locate("world", 7, 100);
  ASSERT_EQ(located.size(), 3u);
  EXPECT_EQ(located[0].seq, 8u);
  Retention retention;
  retention.defaults.max_count = 4;
  EXPECT_EQ(index.trim(retention, current_nanoseconds()), 6u);
  const auto topic = index.topics("world", false, "nats-e").at(0);
  EXPECT_EQ(topic.first_offset, 7u);
  EXPECT_EQ(topic.last_offset, 10u);
  EXPECT_EQ(index.locate("world", 0, 100).size(), 4u);
  // A new article still follows the last offset, trimmed or not.
  EXPECT_EQ(store(index, {request("b", {"world"})})[0].offsets(0).offset(), 11u);
}

TEST(LogIndex, AnEmbargoedArticleIsHeldThenReleasedByTheFirstEntryAfterItLifts) {
  LogIndex index;
  const auto now = current_nanoseconds();
  auto held = request("held", {"world", "asia"});
  *held.article.mutable_embargoed() =
      google::protobuf::util::TimeUtil::NanosecondsToTimestamp(now + 1'000'000'000);
  const auto results = store(index, {request("a", {"world"}), held});
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[1].offsets_size(), 0);
  EXPECT_TRUE(results[1].has_embargoed_until());
  EXPECT_EQ(index.next_release_ns(), now + 1'000'000'000);
  // Before it lifts: nothing to release; after: the next entry releases it before what it stores.
  EXPECT_EQ(index.plan({}, "nats-e", now).entry.releases_size(), 0);
  auto plan = index.plan({request("b", {"world"})}, "nats-e", now + 2'000'000'000);
  ASSERT_EQ(plan.entry.releases_size(), 1);
  EXPECT_EQ(plan.entry.releases(0).offsets(0), 2u);  // world: after "a"
  EXPECT_EQ(plan.entry.releases(0).offsets(1), 1u);  // asia
  EXPECT_EQ(plan.entry.stored(0).offsets(0), 3u);
  DeliveryBatch batch;
  index.apply(index.applied_seq() + 1, now, plan.entry, "nats-e", false, batch, nullptr);
  EXPECT_EQ(batch.deliveries.size(), 3u);  // held on two topics, then "b"
  EXPECT_FALSE(index.next_release_ns());
  // Its duplicate now answers with its offsets.
  const auto again = index.plan({request("held", {"world", "asia"})}, "nats-e", now);
  ASSERT_TRUE(again.answered[0]);
  EXPECT_EQ(again.answered[0]->result.offsets_size(), 2);
}

TEST(LogIndex, ANewerVersionSupersedesAHeldOneForGood) {
  LogIndex index;
  const auto now = current_nanoseconds();
  auto held = request("story", {"world"}, 1);
  *held.article.mutable_embargoed() =
      google::protobuf::util::TimeUtil::NanosecondsToTimestamp(now + 1'000'000'000);
  (void)store(index, {held});
  auto retraction = request("story", {"world"}, 2);
  retraction.article.set_pubstatus(v1::PUB_STATUS_CANCELED);
  (void)store(index, {retraction});
  EXPECT_FALSE(index.next_release_ns());
  EXPECT_EQ(index.plan({}, "nats-e", now + 2'000'000'000).entry.releases_size(), 0);
}

}  // namespace
}  // namespace kabar::broker
