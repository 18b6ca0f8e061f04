#include "kabar/common/article.hpp"

#include <gtest/gtest.h>

namespace kabar {
namespace {

v1::Article valid() {
  v1::Article article;
  article.set_id("urn:test:1");
  article.add_topics("international");
  article.set_headline("A headline");
  return article;
}

std::string refusal(v1::Article article, std::size_t max_bytes = 1 << 20) {
  const auto rejection = validate_article(article, max_bytes);
  return rejection ? rejection->message : "";
}

TEST(ArticleValidation, AcceptsAMinimalArticleAndReadsVersionZeroAsOne) {
  auto article = valid();
  EXPECT_EQ(validate_article(article, 1 << 20), std::nullopt);
  EXPECT_EQ(article.version(), 1U);
}

TEST(ArticleValidation, RefusesEachMissingOrInvalidFieldWithItsName) {
  auto a = valid();
  a.clear_id();
  EXPECT_EQ(refusal(a), "article.id is required");
  a = valid();
  a.clear_topics();
  EXPECT_EQ(refusal(a), "article.topics needs at least one topic");
  a = valid();
  a.add_topics("Bad Topic");
  EXPECT_EQ(refusal(a),
            "article.topics: 'Bad Topic': segment 1 must start with a lowercase letter or digit");
  a = valid();
  a.add_topics("defense.>");
  EXPECT_EQ(refusal(a),
            "article.topics: 'defense.>': wildcards ('*', '>') are only allowed in subscriptions");
  a = valid();
  a.add_topics("international");
  EXPECT_EQ(refusal(a), "article.topics names 'international' twice");
  a = valid();
  a.clear_headline();
  EXPECT_EQ(refusal(a), "article needs a headline or a body");
  a.set_body("only a body");
  EXPECT_EQ(refusal(a), "");
  a = valid();
  a.set_urgency(10);
  EXPECT_EQ(refusal(a), "article.urgency must be 0 (not set) or 1 (flash) to 9, not 10");
  a = valid();
  a.set_language("not a tag");
  EXPECT_EQ(refusal(a), "article.language 'not a tag' is not a BCP 47 language tag");
  a = valid();
  a.set_pubstatus(static_cast<v1::PubStatus>(7));
  EXPECT_EQ(refusal(a), "article.pubstatus 7 is not usable (0), withheld (1) or canceled (2)");
}

TEST(ArticleValidation, SubjectsAreBoundedAndTypeIsANinjsType) {
  auto a = valid();
  for (std::size_t i = 0; i < kMaxSubjectsPerArticle; ++i) a.add_subjects()->set_name("s");
  EXPECT_EQ(refusal(a), "");
  a.add_subjects()->set_name("one more");
  EXPECT_EQ(refusal(a), "article.subjects has more than 64 subjects");
  a = valid();
  for (const auto type : kArticleTypes) {
    a.set_type(std::string(type));
    EXPECT_EQ(refusal(a), "") << type;
  }
  a.set_type("article");
  EXPECT_EQ(refusal(a),
            "article.type 'article' is not a ninjs type: text, audio, video, picture, graphic, "
            "composite or component");
  a.set_type("Text");  // the schema's enum is case-sensitive
  EXPECT_NE(refusal(a), "");
  a.set_type(std::string(100'000, 't'));  // quoted in the message no longer than 80 bytes
  EXPECT_LT(refusal(a).size(), 200U);
}

TEST(ArticleValidation, TimestampsOutsideRfc3339AreRefusedNamingTheField) {
  auto a = valid();
  a.mutable_embargoed()->set_seconds(253'402'300'799);  // 9999-12-31T23:59:59Z: the last second
  a.mutable_embargoed()->set_nanos(999'999'999);
  EXPECT_EQ(refusal(a), "");
  a.mutable_embargoed()->set_seconds(253'402'300'800);
  EXPECT_EQ(refusal(a),
            "article.embargoed.seconds 253402300800 is outside "
            "0001-01-01T00:00:00Z..9999-12-31T23:59:59Z");
  a = valid();
  a.mutable_first_created()->set_seconds(-62'135'596'800);  // 0001-01-01T00:00:00Z
  EXPECT_EQ(refusal(a), "");
  a.mutable_first_created()->set_seconds(-62'135'596'801);
  EXPECT_EQ(refusal(a).rfind("article.first_created.seconds -62135596801 is outside", 0), 0U);
  a = valid();
  a.mutable_version_created()->set_nanos(-1);
  EXPECT_EQ(refusal(a), "article.version_created.nanos -1 is outside 0..999999999");
  a.mutable_version_created()->set_nanos(1'000'000'000);
  EXPECT_EQ(refusal(a), "article.version_created.nanos 1000000000 is outside 0..999999999");
  a = valid();
  a.mutable_embargoed()->set_seconds(INT64_MAX);
  EXPECT_NE(refusal(a), "");
}

TEST(FilterValidation, LanguagesPerFilterAreBounded) {
  v1::Filter filter;
  for (std::size_t i = 0; i < kMaxFilterLanguages; ++i) filter.add_languages("en");
  EXPECT_EQ(filter_error(filter), std::nullopt);
  filter.add_languages("id");
  EXPECT_EQ(filter_error(filter).value_or(""),
            "filter.languages has more than " + std::to_string(kMaxFilterLanguages) + " languages");
}

TEST(ArticleValidation, RefusesAnArticleOverTheSizeLimitAsTooLarge) {
  auto article = valid();
  article.set_body(std::string(2000, 'x'));
  const auto rejection = validate_article(article, 1000);
  ASSERT_TRUE(rejection);
  EXPECT_EQ(rejection->code, v1::Error::TOO_LARGE);
}

TEST(SubscriptionFilter, MaxUrgencyPassesFlashAndUrgentOnly) {
  v1::Filter filter;
  filter.set_max_urgency(2);
  EXPECT_TRUE(filter_accepts(filter, 1, "id"));
  EXPECT_TRUE(filter_accepts(filter, 2, "id"));
  EXPECT_FALSE(filter_accepts(filter, 3, "id"));
  EXPECT_FALSE(filter_accepts(filter, 0, "id")) << "urgency not set passes only without a filter";
  EXPECT_TRUE(filter_accepts(v1::Filter{}, 0, "id"));
}

TEST(SubscriptionFilter, LanguageMatchesTagAndItsSubtags) {
  v1::Filter filter;
  filter.add_languages("en");
  filter.add_languages("id");
  EXPECT_TRUE(filter_accepts(filter, 0, "id"));
  EXPECT_TRUE(filter_accepts(filter, 0, "en-GB"));
  EXPECT_TRUE(filter_accepts(filter, 0, "EN"));
  EXPECT_FALSE(filter_accepts(filter, 0, "eng"));
  EXPECT_FALSE(filter_accepts(filter, 0, ""));
}

TEST(SubscriptionFilter, RefusesImpossibleValues) {
  v1::Filter filter;
  filter.set_max_urgency(12);
  EXPECT_TRUE(filter_error(filter));
  filter.set_max_urgency(2);
  filter.add_languages("x y");
  EXPECT_EQ(filter_error(filter), "filter.languages: 'x y' is not a BCP 47 language tag");
}

}  // namespace
}  // namespace kabar
