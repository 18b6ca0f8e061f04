#include "kabar/common/topic.hpp"

#include <gtest/gtest.h>

namespace kabar {
namespace {

TEST(TopicName, AcceptsLowercaseSegments) {
  EXPECT_EQ(topic_error("international"), std::nullopt);
  EXPECT_EQ(topic_error("defense.asia"), std::nullopt);
  EXPECT_EQ(topic_error("a.b.c.d.e.f.g.h"), std::nullopt);
  EXPECT_EQ(topic_error("news_2025-q1"), std::nullopt);
  EXPECT_EQ(topic_error(std::string(64, 'a')), std::nullopt);
}

TEST(TopicName, RefusesWhatTheSpecExcludesAndSaysWhy) {
  EXPECT_EQ(topic_error(""), "topic is empty");
  EXPECT_EQ(topic_error("Defense"), "segment 1 must start with a lowercase letter or digit");
  EXPECT_EQ(topic_error("defense..asia"), "segment 2 is empty");
  EXPECT_EQ(topic_error("defense."), "segment 2 is empty");
  EXPECT_EQ(topic_error("_x"), "segment 1 must start with a lowercase letter or digit");
  EXPECT_EQ(topic_error("a.b c"),
            "segment 2 may only contain lowercase letters, digits, '_' and '-'");
  EXPECT_EQ(topic_error("a.b.c.d.e.f.g.h.i"), "topic has more than 8 segments");
  EXPECT_EQ(topic_error(std::string(65, 'a')), "segment 1 is longer than 64 characters");
  EXPECT_EQ(topic_error("berita.ekonomi\xC3\xA9"),
            "segment 2 may only contain lowercase letters, digits, '_' and '-'");
}

TEST(TopicName, RefusesWildcardsInPlainTopics) {
  EXPECT_EQ(topic_error("defense.*"), "wildcards ('*', '>') are only allowed in subscriptions");
  EXPECT_EQ(topic_error(">"), "wildcards ('*', '>') are only allowed in subscriptions");
}

TEST(TopicPattern, AcceptsStarAnywhereAndGreaterThanLast) {
  EXPECT_EQ(pattern_error("*"), std::nullopt);
  EXPECT_EQ(pattern_error(">"), std::nullopt);
  EXPECT_EQ(pattern_error("defense.>"), std::nullopt);
  EXPECT_EQ(pattern_error("*.asia"), std::nullopt);
  EXPECT_EQ(pattern_error("defense"), std::nullopt);
  EXPECT_EQ(pattern_error("defense.>.asia"), "'>' may only be the last segment");
  EXPECT_EQ(pattern_error("defense.a*"),
            "segment 2 may only contain lowercase letters, digits, '_' and '-'");
  EXPECT_TRUE(is_pattern("defense.*"));
  EXPECT_FALSE(is_pattern("defense.asia"));
}

TEST(TopicPattern, StarMatchesExactlyOneSegment) {
  EXPECT_TRUE(topic_matches("*", "international"));
  EXPECT_FALSE(topic_matches("*", "defense.asia"));
  EXPECT_TRUE(topic_matches("*.asia", "defense.asia"));
  EXPECT_FALSE(topic_matches("defense.*", "defense"));
}

TEST(TopicPattern, GreaterThanMatchesOneOrMoreTrailingSegments) {
  EXPECT_TRUE(topic_matches("defense.>", "defense.asia"));
  EXPECT_TRUE(topic_matches("defense.>", "defense.europe.east"));
  EXPECT_FALSE(topic_matches("defense.>", "defense"));
  EXPECT_TRUE(topic_matches(">", "international"));
  EXPECT_FALSE(topic_matches("defense.>", "sports.asia"));
}

TEST(TopicPattern, PlainTopicMatchesOnlyItself) {
  EXPECT_TRUE(topic_matches("defense", "defense"));
  EXPECT_FALSE(topic_matches("defense", "defense.asia"));
  EXPECT_FALSE(topic_matches("defense.asia", "defense"));
}

}  // namespace
}  // namespace kabar
