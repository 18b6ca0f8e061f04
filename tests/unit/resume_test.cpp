// Where a client's subscription resumes after a reconnect
// (clients/include/kabar/client/resume.hpp).
#include "kabar/client/resume.hpp"

#include <gtest/gtest.h>

namespace kabar::client {
namespace {

v1::Delivery delivery(const std::string& topic, std::uint64_t offset) {
  v1::Delivery out;
  out.set_topic(topic);
  out.set_offset(offset);
  out.set_epoch("e1");
  return out;
}

v1::SubscribeResult answer(bool recovered,
                           const std::vector<std::pair<std::string, std::uint64_t>>& ends) {
  v1::SubscribeResult result;
  result.set_recovered(recovered);
  for (const auto& [topic, offset] : ends) {
    auto* position = result.add_positions();
    position->set_topic(topic);
    position->mutable_position()->set_offset(offset);
    position->mutable_position()->set_epoch("e1");
  }
  return result;
}

v1::Subscribe resubscribe(const ResumePositions& positions, const std::string& topic) {
  v1::Subscribe subscribe;
  subscribe.set_topic(topic);
  positions.resume(subscribe);
  return subscribe;
}

TEST(ResumePositions, APlainSubscribeResumesAfterTheLastDeliveryHandedOver) {
  ResumePositions positions;
  v1::Subscribe request;
  request.set_topic("defense");
  positions.asked(request);
  positions.answered(answer(false, {{"defense", 10}}));
  EXPECT_EQ(resubscribe(positions, "defense").since().offset(), 10U) << "nothing delivered yet";
  positions.delivered(delivery("defense", 11));
  const auto again = resubscribe(positions, "defense");
  ASSERT_TRUE(again.has_since());
  EXPECT_EQ(again.since().offset(), 11U);
  EXPECT_EQ(again.since().epoch(), "e1");
  EXPECT_FALSE(again.has_resume());
}

TEST(ResumePositions, ATopicWithNothingSeenIsReadFromItsStart) {
  const ResumePositions positions;
  const auto subscribe = resubscribe(positions, "defense");
  ASSERT_TRUE(subscribe.has_since());
  EXPECT_EQ(subscribe.since().offset(), 0U);
  EXPECT_EQ(subscribe.since().epoch(), "");
}

TEST(ResumePositions, APatternResumesEachTopicItHasSeen) {
  ResumePositions positions;
  v1::Subscribe request;
  request.set_topic("defense.>");
  positions.asked(request);
  positions.answered(answer(false, {{"defense.asia", 3}}));
  positions.delivered(delivery("defense.europe", 7));
  const auto subscribe = resubscribe(positions, "defense.>");
  EXPECT_FALSE(subscribe.has_since());
  ASSERT_EQ(subscribe.resume().positions_size(), 2);
  EXPECT_EQ(subscribe.resume().positions(0).topic(), "defense.asia");
  EXPECT_EQ(subscribe.resume().positions(0).position().offset(), 3U);
  EXPECT_EQ(subscribe.resume().positions(1).topic(), "defense.europe");
  EXPECT_EQ(subscribe.resume().positions(1).position().offset(), 7U);
}

// A recovered answer names the topics' ends, which the replay has yet to deliver: a connection
// lost mid-replay must resume where the replay got to, not at the ends.
TEST(ResumePositions, ARecoveredAnswerLeavesThePositionsToTheReplay) {
  ResumePositions positions;
  v1::Subscribe request;
  request.set_topic("defense");
  request.mutable_since()->set_offset(4);
  request.mutable_since()->set_epoch("e1");
  positions.asked(request);
  positions.answered(answer(true, {{"defense", 20}}));
  EXPECT_EQ(resubscribe(positions, "defense").since().offset(), 4U);
  positions.delivered(delivery("defense", 5));
  EXPECT_EQ(resubscribe(positions, "defense").since().offset(), 5U);
}

TEST(ResumePositions, AnAnswerThatCouldNotRecoverStartsAtTheEndsGiven) {
  ResumePositions positions;
  v1::Subscribe request;
  request.set_topic("defense.>");
  request.mutable_resume()->add_positions()->set_topic("defense.asia");
  positions.asked(request);
  positions.answered(answer(false, {{"defense.asia", 30}}));
  const auto subscribe = resubscribe(positions, "defense.>");
  ASSERT_EQ(subscribe.resume().positions_size(), 1);
  EXPECT_EQ(subscribe.resume().positions(0).position().offset(), 30U);
}

}  // namespace
}  // namespace kabar::client
