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
  // Before it lifts: nothing to release; after: the next entry stores it again, released with
  // its offsets, before what it stores.
  const auto held_seq = index.applied_seq();
  EXPECT_EQ(index.plan({}, "nats-e", now).entry.stored_size(), 0);
  auto plan = index.plan({request("b", {"world"})}, "nats-e", now + 2'000'000'000);
  ASSERT_EQ(plan.entry.stored_size(), 2);
  const auto& release = plan.entry.stored(0);
  EXPECT_EQ(release.releases_seq(), held_seq);
  EXPECT_EQ(release.releases_index(), 1u);
  EXPECT_EQ(release.offsets(0), 2u);  // world: after "a"
  EXPECT_EQ(release.offsets(1), 1u);  // asia
  EXPECT_EQ(plan.slot[0], 1u);
  EXPECT_EQ(plan.entry.stored(1).offsets(0), 3u);
  DeliveryBatch batch;
  std::vector<v1::PublishResult> applied;
  index.apply(held_seq + 1, now, plan.entry, "nats-e", false, batch, &applied);
  EXPECT_EQ(batch.deliveries.size(), 3u);  // held on two topics, then "b"
  ASSERT_EQ(applied.size(), 2u);           // one per stored: the release's answers no one
  EXPECT_EQ(applied[1].offsets(0).offset(), 3u);
  EXPECT_FALSE(index.next_release_ns());
  // Read from the entry that released it: the stream keeps that one longer.
  EXPECT_EQ(index.locate("asia", 0, 1).at(0).seq, held_seq + 1);
  // A second release of it (another broker's timer, written before it saw this one) is ignored.
  DeliveryBatch again_batch;
  log::v1::Entry late;
  *late.add_stored() = release;
  index.apply(held_seq + 2, now, late, "nats-e", false, again_batch, nullptr);
  EXPECT_TRUE(again_batch.deliveries.empty());
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
  EXPECT_EQ(index.plan({}, "nats-e", now + 2'000'000'000).entry.stored_size(), 0);
}

TEST(LogIndex, AnEmbargoLiftingAfterTheStreamDropsItsEntryIsRefused) {
  const LogIndex index;
  const auto now = current_nanoseconds();
  const auto hour = kNanosecondsPerHour;
  auto within = request("within", {"world"});
  *within.article.mutable_embargoed() =
      google::protobuf::util::TimeUtil::NanosecondsToTimestamp(now + hour);
  auto after = request("after", {"world"});
  *after.article.mutable_embargoed() =
      google::protobuf::util::TimeUtil::NanosecondsToTimestamp(now + hour + 1);
  auto never = request("never", {"world"});  // "until further notice": past 2262
  never.article.mutable_embargoed()->set_seconds(kMaxTimestampSeconds);
  const auto plan = index.plan({within, after, never}, "nats-e", now, hour);
  EXPECT_FALSE(plan.answered[0]);
  ASSERT_TRUE(plan.answered[1] && plan.answered[1]->rejection);
  EXPECT_EQ(plan.answered[1]->rejection->code, v1::Error::BAD_REQUEST);
  EXPECT_NE(plan.answered[1]->rejection->message.find("more than 1 h from now"), std::string::npos)
      << plan.answered[1]->rejection->message;
  EXPECT_TRUE(plan.answered[2] && plan.answered[2]->rejection);
  // A stream that keeps everything holds any embargo.
  const auto forever = index.plan({after, never}, "nats-e", now, 0);
  EXPECT_FALSE(forever.answered[0]);
  EXPECT_FALSE(forever.answered[1]);
}

}  // namespace
}  // namespace kabar::broker
