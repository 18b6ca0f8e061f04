// The routing table (--routes): parsing with errors that name the line, and routing by subject.
#include "core/routes.hpp"

#include <gtest/gtest.h>

#include <string>

#include "kabar/common/article.hpp"

namespace kabar::broker {
namespace {

constexpr std::string_view kTable = R"(# IPTC media topics -> kabar topics
[subjects]
"medtop:20000053" = ["defense"]
"Armed Conflict" = ["defense", "international"]
"http://cv.iptc.org/newscodes/mediatopic/11000000" = "politics"
)";

v1::Article tagged(std::initializer_list<v1::Subject> subjects) {
  v1::Article article;
  article.set_id("urn:a");
  article.set_headline("h");
  for (const auto& subject : subjects) *article.add_subjects() = subject;
  return article;
}

v1::Subject subject(std::string code, std::string name = {}, std::string uri = {}) {
  v1::Subject s;
  s.set_code(std::move(code));
  s.set_name(std::move(name));
  s.set_uri(std::move(uri));
  return s;
}

std::vector<std::string> topics(const v1::Article& article) {
  return {article.topics().begin(), article.topics().end()};
}

std::string parse_error(std::string_view toml) {
  try {
    (void)Routes::parse(toml, "routes.toml");
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "parsed";
}

TEST(Routes, AddsTheTopicsOfEachMatchingSubjectOnceAfterTheArticlesOwn) {
  const auto routes = Routes::parse(kTable, "routes.toml");
  EXPECT_EQ(routes.size(), 3U);
  auto article = tagged({subject("medtop:20000053"), subject("", "armed conflict")});
  article.add_topics("international");
  routes.route(article);
  EXPECT_EQ(topics(article), (std::vector<std::string>{"international", "defense"}));
}

TEST(Routes, MatchesCodeUriOrNameWithoutRegardToCase) {
  const auto routes = Routes::parse(kTable, "routes.toml");
  auto by_code = tagged({subject("MEDTOP:20000053")});
  auto by_name = tagged({subject("medtop:99", "ARMED conflict")});
  auto by_uri = tagged({subject("", "", "http://cv.iptc.org/newscodes/mediatopic/11000000")});
  auto none = tagged({subject("medtop:1", "sport"), subject("", "", "http://x")});
  for (auto* article : {&by_code, &by_name, &by_uri, &none}) routes.route(*article);
  EXPECT_EQ(topics(by_code), std::vector<std::string>{"defense"});
  EXPECT_EQ(topics(by_name), (std::vector<std::string>{"defense", "international"}));
  EXPECT_EQ(topics(by_uri), std::vector<std::string>{"politics"});
  EXPECT_TRUE(topics(none).empty());
}

TEST(Routes, LooksAtNoMoreSubjectsThanAnArticleMayCarry) {
  const auto routes = Routes::parse(kTable, "routes.toml");
  v1::Article article;
  for (std::size_t i = 0; i < kMaxSubjectsPerArticle; ++i) *article.add_subjects() = subject("x");
  *article.add_subjects() = subject("medtop:20000053");  // the 65th: validation refuses it
  routes.route(article);
  EXPECT_TRUE(topics(article).empty());
}

TEST(Routes, AnEmptyTableRoutesNothing) {
  auto article = tagged({subject("medtop:20000053")});
  Routes{}.route(article);
  EXPECT_TRUE(topics(article).empty());
  EXPECT_EQ(Routes::parse("", "empty.toml").size(), 0U);
}

TEST(Routes, ErrorsNameTheFileTheLineAndWhatIsWrong) {
  EXPECT_EQ(parse_error("[subjects]\n\"a\" = [\n"),
            "routes.toml:2: not valid TOML: Error while parsing array: encountered end-of-file");
  EXPECT_EQ(parse_error("[topics]\na = \"b\"\n"),
            "routes.toml:1: unknown key 'topics': the routing table has [subjects] only");
  EXPECT_EQ(parse_error("subjects = 3\n"), "routes.toml:1: 'subjects' must be a table");
  EXPECT_EQ(parse_error("[subjects]\na = 3\n"),
            "routes.toml:2: 'a' must map to a topic or an array of topics");
  EXPECT_EQ(parse_error("[subjects]\na = [\"defense\", 4]\n"),
            "routes.toml:2: 'a' must map to a topic or an array of topics");
  EXPECT_EQ(parse_error("[subjects]\na = []\n"), "routes.toml:2: 'a' maps to no topic");
  EXPECT_NE(parse_error("[subjects]\na = \"defense.>\"\n").find("routes.toml:2: topic 'defense.>'"),
            std::string::npos);
  EXPECT_EQ(parse_error("[subjects]\na = [\"x\", \"x\"]\n"),
            "routes.toml:2: 'a' names topic 'x' twice");
  EXPECT_EQ(parse_error("[subjects]\nArmed = \"x\"\n\n\"armed\" = \"y\"\n"),
            "routes.toml:4: 'armed' is listed twice (subjects are compared without case)");
  EXPECT_EQ(parse_error("[subjects]\n\"\" = \"x\"\n"),
            "routes.toml:2: a subject must be 1 to 1024 bytes");
}

TEST(Routes, BoundsAreCheckedAtTheirEdges) {
  std::string many = "[subjects]\na = [";
  for (std::size_t i = 0; i < kMaxTopicsPerArticle; ++i) many += "\"t" + std::to_string(i) + "\",";
  EXPECT_EQ(Routes::parse(many + "]\n", "r").size(), 1U);  // 16 topics: an article's limit
  EXPECT_EQ(parse_error(many + "\"one-more\"]\n"),
            "routes.toml:2: 'a' maps to more than 16 topics (an article's limit)");
  const std::string longest(Routes::kMaxKeyLength, 'k');
  EXPECT_EQ(Routes::parse("[subjects]\n" + longest + " = \"x\"\n", "r").size(), 1U);
  EXPECT_EQ(parse_error("[subjects]\n" + longest + "k = \"x\"\n"),
            "routes.toml:2: a subject must be 1 to 1024 bytes");
  std::string table = "[subjects]\n";
  for (std::size_t i = 0; i < Routes::kMaxEntries; ++i)
    table += "s" + std::to_string(i) + "=\"x\"\n";
  EXPECT_EQ(Routes::parse(table, "r").size(), Routes::kMaxEntries);
  EXPECT_EQ(parse_error(table + "one-more = \"x\"\n"),
            "routes.toml:1: [subjects] lists 100001 subjects; at most 100000");
  EXPECT_NE(parse_error(std::string(Routes::kMaxFileBytes + 1, '#')).find("larger than"),
            std::string::npos);
}

}  // namespace
}  // namespace kabar::broker
