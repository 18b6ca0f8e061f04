// Replaying history to a recovering subscription (broker/src/net/recovery.hpp), page by page,
// and its hand-over to the live stream (Catchup), without a store or a socket.
#include "net/recovery.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace kabar::broker {
namespace {

v1::TopicPosition position(const std::string& topic, std::uint64_t offset) {
  v1::TopicPosition out;
  out.set_topic(topic);
  out.mutable_position()->set_offset(offset);
  out.mutable_position()->set_epoch("e");
  return out;
}

DeliveryRef delivery(const std::string& topic, std::uint64_t offset, std::uint32_t urgency = 3) {
  DeliveryRef ref;
  ref.topic = topic;
  ref.offset = offset;
  ref.urgency = urgency;
  ref.language = "en";
  return ref;
}

// A page of history holding `deliveries`, the topics standing at `last` offsets.
ReadResult page(std::vector<DeliveryRef> deliveries,
                const std::vector<std::pair<std::string, std::uint64_t>>& last,
                bool complete = true) {
  ReadResult result;
  auto batch = std::make_shared<DeliveryBatch>();
  batch->deliveries = std::move(deliveries);
  result.batch = std::move(batch);
  for (const auto& [topic, offset] : last) {
    result.topics.push_back(
        {.topic = topic, .epoch = "e", .first_offset = 1, .last_offset = offset});
  }
  result.complete = complete;
  return result;
}

Recovery recovery_from(std::vector<v1::TopicPosition> from, v1::Filter filter = {}) {
  return {.request_id = 1,
          .pattern = "news.>",
          .filter = std::move(filter),
          .subscription_id = 1,
          .from = std::move(from),
          .replied = false,
          .bytes = 0};
}

std::vector<std::string> replay(Recovery& recovery, const ReadResult& result, Catchup& catchup,
                                bool& live) {
  std::vector<std::string> delivered;
  live = recovery.replay(result, catchup,
                         [&](const std::shared_ptr<const DeliveryBatch>&, const DeliveryRef& ref) {
                           delivered.push_back(ref.topic + "#" + std::to_string(ref.offset));
                         });
  return delivered;
}

TEST(Recovery, ReadsItsNextPageFromThePositionsItHasReached) {
  auto recovery = recovery_from({position("news.a", 4)});
  const auto request = recovery.next_page();
  EXPECT_EQ(request.pattern, "news.>");
  ASSERT_EQ(request.from.size(), 1U);
  EXPECT_EQ(request.from[0].position().offset(), 4U);
  EXPECT_TRUE(request.check_from);
  EXPECT_EQ(request.max_bytes, Recovery::kPageBytes);
}

TEST(Recovery, APageDeliversWhatTheFilterAcceptsAndMovesEveryTopicPastWhatItReplayed) {
  v1::Filter flash_only;
  flash_only.set_max_urgency(1);
  auto recovery = recovery_from({position("news.a", 4)}, flash_only);
  Catchup catchup;
  recovery.start(catchup);
  bool live = false;
  const auto delivered =
      replay(recovery,
             page({delivery("news.a", 5, 1), delivery("news.a", 6, 5), delivery("news.b", 1, 1)},
                  {{"news.a", 6}, {"news.b", 1}}),
             catchup, live);
  EXPECT_EQ(delivered, (std::vector<std::string>{"news.a#5", "news.b#1"}));
  EXPECT_TRUE(live);
  ASSERT_EQ(recovery.from.size(), 2U);
  EXPECT_EQ(recovery.from[0].topic(), "news.a");
  EXPECT_EQ(recovery.from[0].position().offset(), 6U) << "a filtered delivery is replayed too";
  EXPECT_EQ(recovery.from[1].position().offset(), 1U);
}

TEST(Recovery, AnIncompletePageNeverGoesLive) {
  auto recovery = recovery_from({});
  Catchup catchup;
  recovery.start(catchup);
  bool live = true;
  replay(recovery, page({delivery("news.a", 1)}, {{"news.a", 9}}, false), catchup, live);
  EXPECT_FALSE(live);
  EXPECT_TRUE(catchup.replaying);
  EXPECT_EQ(recovery.next_page().from[0].position().offset(), 1U);
}

// Live deliveries held back during the replay (offsets 7 and 8) must come from history: the
// subscription goes live only once a page has reached them, then takes only what follows.
TEST(Recovery, GoesLiveOnlyOnceTheReplayHasReachedEveryLiveOffsetHeldBack) {
  auto recovery = recovery_from({position("news.a", 4)});
  Catchup catchup;
  recovery.start(catchup);
  EXPECT_FALSE(catchup.admit(delivery("news.a", 7)));
  EXPECT_FALSE(catchup.admit(delivery("news.a", 8)));
  bool live = true;
  replay(recovery, page({delivery("news.a", 5), delivery("news.a", 6)}, {{"news.a", 6}}), catchup,
         live);
  EXPECT_FALSE(live) << "complete as of its read, but the live stream is ahead of it";
  const auto delivered =
      replay(recovery, page({delivery("news.a", 7), delivery("news.a", 8)}, {{"news.a", 8}}),
             catchup, live);
  EXPECT_TRUE(live);
  EXPECT_EQ(delivered, (std::vector<std::string>{"news.a#7", "news.a#8"}));
  EXPECT_FALSE(catchup.admit(delivery("news.a", 8))) << "replayed already: no duplicate";
  EXPECT_TRUE(catchup.admit(delivery("news.a", 9)));
}

TEST(Recovery, WhatTheClientHadIsNeverSentAgainLive) {
  auto recovery = recovery_from({position("news.a", 10)});
  Catchup catchup;
  recovery.start(catchup);
  bool live = false;
  replay(recovery, page({}, {{"news.a", 10}}), catchup, live);
  ASSERT_TRUE(live);
  EXPECT_FALSE(catchup.admit(delivery("news.a", 10)));
  EXPECT_TRUE(catchup.admit(delivery("news.a", 11)));
}

// A topic created during the recovery shows up in a later page's topics: the next page reads
// it from its start.
TEST(Recovery, ATopicCreatedDuringTheRecoveryIsReadFromItsStart) {
  auto recovery = recovery_from({position("news.a", 2)});
  Catchup catchup;
  recovery.start(catchup);
  bool live = true;
  replay(recovery, page({delivery("news.a", 3)}, {{"news.a", 5}, {"news.new", 2}}, false), catchup,
         live);
  ASSERT_EQ(recovery.from.size(), 2U);
  EXPECT_EQ(recovery.from[1].topic(), "news.new");
  EXPECT_EQ(recovery.from[1].position().offset(), 0U);
}

TEST(Recovery, GivingUpGoesLiveFromTheStoresPositionsAndSkipsEverythingBefore) {
  Catchup catchup;
  EXPECT_FALSE(catchup.admit(delivery("news.a", 12)));
  Recovery::give_up(page({}, {{"news.a", 12}}), catchup);
  EXPECT_FALSE(catchup.replaying);
  EXPECT_FALSE(catchup.admit(delivery("news.a", 12)));
  EXPECT_TRUE(catchup.admit(delivery("news.a", 13)));
}

TEST(Recoveries, AreServedOneAtATimeInTheOrderAskedWithTheirBytesCounted) {
  Recoveries recoveries;
  auto first = recovery_from({});
  first.bytes = 100;
  auto second = recovery_from({});
  second.request_id = 2;
  second.bytes = 50;
  EXPECT_TRUE(recoveries.add(std::move(first))) << "the only one: read its page now";
  EXPECT_FALSE(recoveries.add(std::move(second))) << "waits for the first";
  EXPECT_EQ(recoveries.bytes(), 150U);
  EXPECT_EQ(recoveries.front().request_id, 1U);
  EXPECT_TRUE(recoveries.next()) << "the second one's turn";
  EXPECT_EQ(recoveries.front().request_id, 2U);
  EXPECT_EQ(recoveries.bytes(), 50U);
  EXPECT_FALSE(recoveries.next());
  EXPECT_TRUE(recoveries.empty());
  EXPECT_EQ(recoveries.bytes(), 0U);
}

}  // namespace
}  // namespace kabar::broker
