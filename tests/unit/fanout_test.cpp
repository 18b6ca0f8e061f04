#include "kabar/broker/fanout.hpp"

#include <gtest/gtest.h>

#include "kabar/broker/frames.hpp"

namespace kabar::broker {
namespace {

// Records what the Fanout hands it, decoded.
class FakeSubscriber final : public Subscriber {
 public:
  void enqueue(const std::shared_ptr<const DeliveryBatch>& batch, const DeliveryRef& ref) override {
    pending_.append(batch->bytes, ref.begin, ref.size);
  }
  void end_of_batch() override {
    v1::ServerMessage message;
    ASSERT_TRUE(message.ParseFromString(pending_));
    pending_.clear();
    ++flushes;
    for (const auto& delivery : message.deliveries()) {
      received.push_back(delivery.topic() + "#" + std::to_string(delivery.offset()));
    }
  }
  std::vector<std::string> received;
  int flushes = 0;

 private:
  std::string pending_;
};

class BatchBuilder {
 public:
  BatchBuilder& add(const std::string& topic, std::uint64_t offset, std::uint32_t urgency = 0,
                    const std::string& language = "id") {
    v1::Article article;
    article.set_id(topic + std::to_string(offset));
    const auto begin = batch_->bytes.size();
    append_delivery(batch_->bytes, {topic, offset, "e", nullptr}, article.SerializeAsString());
    batch_->deliveries.push_back(
        {topic, offset, ++sequence_, urgency, language, begin, batch_->bytes.size() - begin});
    return *this;
  }
  std::shared_ptr<const DeliveryBatch> take() {
    auto batch = std::move(batch_);
    batch_ = std::make_shared<DeliveryBatch>();
    return batch;
  }

 private:
  std::shared_ptr<DeliveryBatch> batch_ = std::make_shared<DeliveryBatch>();
  std::uint64_t sequence_ = 0;
};

using Received = std::vector<std::string>;

TEST(Fanout, DeliversToExactAndPatternSubscribersOnly) {
  Fanout fanout;
  FakeSubscriber international, defense_all, everything_one, sports;
  fanout.subscribe(international, "international", {});
  fanout.subscribe(defense_all, "defense.>", {});
  fanout.subscribe(everything_one, "*", {});
  fanout.subscribe(sports, "sports", {});
  BatchBuilder batch;
  fanout.dispatch(batch.add("international", 1).add("defense", 1).add("defense.asia", 1).take());
  EXPECT_EQ(international.received, (Received{"international#1"}));
  EXPECT_EQ(defense_all.received, (Received{"defense.asia#1"}));
  EXPECT_EQ(everything_one.received, (Received{"international#1", "defense#1"}));
  EXPECT_TRUE(sports.received.empty());
  EXPECT_EQ(sports.flushes, 0);
}

TEST(Fanout, DeliversEachTopicOffsetOnceHoweverManySubscriptionsMatch) {
  Fanout fanout;
  FakeSubscriber reader;
  for (const char* pattern : {"defense.asia", "defense.>", "*.asia", ">", "defense.*"}) {
    fanout.subscribe(reader, pattern, {});
  }
  BatchBuilder batch;
  fanout.dispatch(batch.add("defense.asia", 1).add("defense.asia", 2).take());
  EXPECT_EQ(reader.received, (Received{"defense.asia#1", "defense.asia#2"}));
  EXPECT_EQ(reader.flushes, 1) << "one flush, so one write, per batch";
}

TEST(Fanout, CountsEachReceiverOnceAndDeliveryDedupeStillWorksAfter) {
  Fanout fanout;
  FakeSubscriber reader, desk, other;
  for (const char* pattern : {"defense.asia", "defense.>", "*.asia", ">"}) {
    fanout.subscribe(reader, pattern, {});
  }
  v1::Filter flash;
  flash.set_max_urgency(1);
  fanout.subscribe(desk, "defense.asia", flash);  // filtered: still a receiver of the topic
  fanout.subscribe(other, "sports", {});
  EXPECT_EQ(fanout.receivers("defense.asia"), 2U);
  EXPECT_EQ(fanout.receivers("defense.asia"), 2U) << "counting again counts the same";
  EXPECT_EQ(fanout.receivers("sports"), 2U);
  EXPECT_EQ(fanout.receivers("weather"), 1U);
  fanout.remove(reader);
  EXPECT_EQ(fanout.receivers("defense.asia"), 1U);
  EXPECT_EQ(fanout.receivers("weather"), 0U);
  BatchBuilder batch;
  fanout.dispatch(batch.add("defense.asia", 1, 1).take());
  EXPECT_EQ(desk.received, (Received{"defense.asia#1"}));
}

TEST(Fanout, AppliesEachSubscriptionsOwnFilter) {
  Fanout fanout;
  FakeSubscriber alerts, mixed;
  v1::Filter flash_and_urgent;
  flash_and_urgent.set_max_urgency(2);
  fanout.subscribe(alerts, "international", flash_and_urgent);
  // Filtered on one subscription, unfiltered on another: the unfiltered one lets it through.
  fanout.subscribe(mixed, "international", flash_and_urgent);
  fanout.subscribe(mixed, "*", {});
  BatchBuilder batch;
  fanout.dispatch(batch.add("international", 1, 1).add("international", 2, 3).take());
  EXPECT_EQ(alerts.received, (Received{"international#1"}));
  EXPECT_EQ(mixed.received, (Received{"international#1", "international#2"}));
}

TEST(Fanout, UnsubscribeNeedsTheExactStringAndRemoveDropsEverything) {
  Fanout fanout;
  FakeSubscriber reader;
  fanout.subscribe(reader, "defense.>", {});
  fanout.subscribe(reader, "international", {});
  EXPECT_FALSE(fanout.unsubscribe(reader, "defense.asia"));
  EXPECT_TRUE(fanout.unsubscribe(reader, "defense.>"));
  EXPECT_FALSE(fanout.unsubscribe(reader, "defense.>"));
  BatchBuilder batch;
  fanout.dispatch(batch.add("defense.asia", 1).add("international", 1).take());
  EXPECT_EQ(reader.received, (Received{"international#1"}));
  fanout.remove(reader);
  EXPECT_EQ(fanout.subscription_count(), 0U);
  fanout.dispatch(batch.add("international", 2).take());
  EXPECT_EQ(reader.received.size(), 1U);
}

TEST(Fanout, ResubscribingReplacesTheFilter) {
  Fanout fanout;
  FakeSubscriber reader;
  v1::Filter flash;
  flash.set_max_urgency(1);
  fanout.subscribe(reader, "international", flash);
  fanout.subscribe(reader, "international", {});
  EXPECT_EQ(fanout.subscription_count(), 1U);
  BatchBuilder batch;
  fanout.dispatch(batch.add("international", 1, 5).take());
  EXPECT_EQ(reader.received, (Received{"international#1"}));
}

DeliveryRef live(const std::string& topic, std::uint64_t offset) {
  DeliveryRef ref;
  ref.topic = topic;
  ref.offset = offset;
  return ref;
}

// The gapless switch from replay to live: while replaying, live deliveries are held back (their
// offsets noted); the switch waits until the replay has reached every offset noted; after it,
// live skips what the replay already delivered, topic by topic.
TEST(Catchup, HoldsLiveBackWhileReplayingAndSkipsWhatTheReplayDelivered) {
  Catchup catchup;
  EXPECT_TRUE(catchup.caught_up());  // nothing held back yet
  EXPECT_FALSE(catchup.admit(live("defense", 11)));
  EXPECT_FALSE(catchup.admit(live("defense", 12)));
  catchup.replayed["defense"] = 10;  // a page ended early, before the live offsets
  EXPECT_FALSE(catchup.caught_up());
  catchup.replayed["defense"] = 12;  // the next page reached them
  EXPECT_TRUE(catchup.caught_up());
  catchup.replaying = false;
  catchup.live_seen.clear();
  EXPECT_FALSE(catchup.admit(live("defense", 12))) << "delivered by the replay";
  EXPECT_TRUE(catchup.admit(live("defense", 13)));
  EXPECT_TRUE(catchup.admit(live("defense", 14)));
}

TEST(Catchup, ATopicCreatedDuringRecoveryWaitsForTheReplayToo) {
  Catchup catchup;
  catchup.replayed["defense.asia"] = 3;
  EXPECT_FALSE(catchup.admit(live("defense.europe", 1)));  // a topic the replay had not seen
  EXPECT_FALSE(catchup.caught_up()) << "defense.europe#1 must come from the replay";
  catchup.replayed["defense.europe"] = 1;
  EXPECT_TRUE(catchup.caught_up());
  catchup.replaying = false;
  EXPECT_TRUE(catchup.admit(live("defense.europe", 2)));
  EXPECT_TRUE(catchup.admit(live("defense.asia", 4)));
  EXPECT_TRUE(catchup.admit(live("international", 1))) << "never replayed: live from the start";
}

TEST(SubscriptionIndex, MatchesManySubscribersAndPrunesOnRemoval) {
  SubscriptionIndex<int> index;
  for (int i = 0; i < 10'000; ++i) index.add("topic" + std::to_string(i % 100) + ".x", i);
  index.add("topic7.>", -1);
  int matched = 0;
  index.match("topic7.x", [&](int) { ++matched; });
  EXPECT_EQ(matched, 101);
  for (int i = 0; i < 10'000; ++i)
    EXPECT_TRUE(index.remove("topic" + std::to_string(i % 100) + ".x", i));
  EXPECT_TRUE(index.remove("topic7.>", -1));
  EXPECT_FALSE(index.remove("topic7.>", -1));
  EXPECT_EQ(index.size(), 0U);
}

}  // namespace
}  // namespace kabar::broker
