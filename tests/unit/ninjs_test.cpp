#include "kabar/common/ninjs.hpp"

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace kabar {
namespace {

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(KABAR_FIXTURES_DIR) + "/" + name, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(NinjsMapping, MapsTheKoreaFixtureFieldByField) {
  const auto article = article_from_ninjs(fixture("korea-utara-pasukan-rusia.json"));
  EXPECT_EQ(article.id(), "urn:example:ikolom:2025-04-28:korea-utara-pasukan-rusia");
  EXPECT_EQ(article.version(), 1U);
  EXPECT_EQ(article.headline(), "Korea Utara Akui Kirim Pasukan Tempur ke Rusia");
  EXPECT_EQ(article.summary().rfind("Korea Utara untuk pertama kalinya", 0), 0U);
  // UTF-8 intact: the en dash and the curly quotes of the body.
  EXPECT_NE(article.body().find("INTERNASIONAL \xE2\x80\x93 Korea Utara"), std::string::npos);
  EXPECT_NE(article.body().find("\xE2\x80\x9Cpersahabatan militer"), std::string::npos);
  EXPECT_EQ(article.language(), "id");
  EXPECT_EQ(article.urgency(), 3U);
  EXPECT_EQ(article.byline(), "IKOLOM.NEWS");
  EXPECT_EQ(article.located(), "Internasional");
  ASSERT_EQ(article.keywords_size(), 6);
  EXPECT_EQ(article.keywords(4), "Kim Jong Un");
  EXPECT_EQ(article.pubstatus(), v1::PUB_STATUS_USABLE);
  // 14:00 at +07:00 is 07:00 UTC.
  EXPECT_EQ(article.first_created().seconds(), 1745823600);
  EXPECT_TRUE(article.topics().empty()) << "topics come from the publisher, not from ninjs";
}

TEST(NinjsMapping, MapsTheCorrectionAsVersionTwoWithItsEdNote) {
  const auto article = article_from_ninjs(fixture("korea-utara-pasukan-rusia.v2.json"));
  EXPECT_EQ(article.version(), 2U);
  EXPECT_EQ(article.headline(), "Korea Utara Akui Kirim 14.000 Pasukan Tempur ke Rusia");
  EXPECT_FALSE(article.ednote().empty());
  EXPECT_GT(article.version_created().seconds(), article.first_created().seconds());
}

TEST(NinjsMapping, MapsAHeadlineOnlyFlash) {
  const auto article = article_from_ninjs(fixture("pakistan-ancam-india.json"));
  EXPECT_EQ(article.urgency(), 1U);
  EXPECT_TRUE(article.body().empty());
  EXPECT_FALSE(article.headline().empty());
}

TEST(NinjsMapping, MapsPubstatusEmbargoSourceAndCanonicalLink) {
  const auto article = article_from_ninjs(R"({
    "uri": "urn:x", "version": 3, "pubstatus": "canceled",
    "embargoed": "2030-01-01T00:00:00Z", "headline": "h",
    "infosources": [{"name": "Antara"}],
    "links": [{"rel": "alternate", "href": "a"}, {"rel": "canonical", "href": "https://x/1"}]})");
  EXPECT_EQ(article.version(), 3U);
  EXPECT_EQ(article.pubstatus(), v1::PUB_STATUS_CANCELED);
  EXPECT_EQ(article.embargoed().seconds(), 1893456000);
  EXPECT_EQ(article.headline(), "h");
  EXPECT_EQ(article.source(), "Antara");
  EXPECT_EQ(article.url(), "https://x/1");
}

TEST(NinjsMapping, CarriesTypeAndSubjects) {
  const auto article = article_from_ninjs(R"({
    "uri": "urn:s", "type": "text", "headlines": [{"role": "main", "value": "h"}],
    "subjects": [
      {"name": "armed conflict", "code": "medtop:20000053", "rel": "about",
       "uri": "http://cv.iptc.org/newscodes/mediatopic/20000053", "relevance": 90},
      {"name": "Jakarta"},
      {"literal": "medtop:16000000", "code": ""}
    ]})");
  EXPECT_EQ(article.type(), "text");
  ASSERT_EQ(article.subjects_size(), 3);
  EXPECT_EQ(article.subjects(0).code(), "medtop:20000053");
  EXPECT_EQ(article.subjects(0).name(), "armed conflict");
  EXPECT_EQ(article.subjects(0).uri(), "http://cv.iptc.org/newscodes/mediatopic/20000053");
  EXPECT_EQ(article.subjects(0).rel(), "about");
  EXPECT_EQ(article.subjects(1).name(), "Jakarta");
  EXPECT_TRUE(article.subjects(1).code().empty());
  EXPECT_EQ(article.subjects(2).code(), "medtop:16000000");  // ninjs 2.0's literal
}

TEST(NinjsMapping, RefusesBadDocumentsNamingTheField) {
  auto message = [](const char* json) -> std::string {
    try {
      (void)article_from_ninjs(json);
    } catch (const NinjsError& e) {
      return e.what();
    }
    return "accepted";
  };
  EXPECT_EQ(message(R"({"uri": "u", "urgency": 12})"),
            "ninjs field 'urgency' must be a whole number from 1 to 9");
  EXPECT_EQ(message(R"({"uri": "u", "version": 4294967296})"),
            "ninjs field 'version' must be at most 4294967295");
  EXPECT_EQ(message(R"({"uri": "u", "version": "two"})"),
            "ninjs field 'version' 'two' is not a whole number");
  EXPECT_EQ(message(R"({"uri": "u", "firstcreated": "yesterday"})"),
            "ninjs field 'firstcreated' 'yesterday' is not an RFC 3339 date-time");
  EXPECT_EQ(message(R"({"uri": "u", "pubstatus": "gone"})"),
            "ninjs field 'pubstatus' 'gone' is not usable, withheld or canceled");
  EXPECT_EQ(message(R"({"headline": "h"})"), "ninjs field 'uri' is required");
  EXPECT_EQ(message(R"({"uri": "u", "subjects": {"name": "x"}})"),
            "ninjs field 'subjects' must be an array of objects");
  EXPECT_EQ(message(R"({"uri": "u", "subjects": [{"name": "x"}, "y"]})"),
            "ninjs field 'subjects[1]' must be an object");
  EXPECT_EQ(message(R"({"uri": "u", "subjects": [{"code": 7}]})"),
            "ninjs field 'subjects[0].code' must be a string");
  EXPECT_EQ(message(R"({"uri": "u", "type": ["text"]})"), "ninjs field 'type' must be a string");
  EXPECT_EQ(message("[1]"), "a ninjs document must be a JSON object");
  EXPECT_EQ(message("{").rfind("not valid JSON", 0), 0U);
  // Found by kabar-fuzz-ninjs: a number too large for a double is not a parse error to the JSON
  // library but an out-of-range one; it must still be a NinjsError, not an abort.
  EXPECT_EQ(message("7777774E185121").rfind("not valid JSON", 0), 0U);
  EXPECT_EQ(message(R"({"uri": "u", "urgency": 1E999})").rfind("not valid JSON", 0), 0U);
}

// ninjs -> Article -> ninjs -> Article gives the same Article: the output mapping is the inverse.
void expect_round_trip(const std::string& ninjs) {
  const auto article = article_from_ninjs(ninjs);
  const auto written = ninjs_from_article(article);
  const auto again = article_from_ninjs(written);
  std::string differences;
  google::protobuf::util::MessageDifferencer differ;
  differ.ReportDifferencesToString(&differences);
  EXPECT_TRUE(differ.Compare(article, again)) << differences << "\nwritten: " << written;
  EXPECT_EQ(ninjs_from_article(again), written) << "writing is deterministic";
}

TEST(NinjsRoundTrip, EveryFixtureComesBackAsTheSameArticle) {
  int fixtures = 0;
  for (const auto& entry : std::filesystem::directory_iterator(KABAR_FIXTURES_DIR)) {
    if (entry.path().extension() != ".json") continue;
    SCOPED_TRACE(entry.path().filename().string());
    expect_round_trip(fixture(entry.path().filename().string()));
    ++fixtures;
  }
  EXPECT_GE(fixtures, 3);
}

TEST(NinjsRoundTrip, EveryMappedFieldComesBack) {
  for (const char* ninjs : {
           R"({"uri": "urn:x"})",
           R"({"uri": "urn:x", "version": 4294967295, "urgency": 9, "pubstatus": "withheld",
               "firstcreated": "1970-01-01T00:00:00Z", "versioncreated": "9999-12-31T23:59:59.999999999Z",
               "embargoed": "2030-01-01T07:00:00+07:00", "type": "picture", "language": "id",
               "by": "b", "located": "l", "ednote": "e", "copyrightholder": "c",
               "headline": "h1", "body_text": "b1",
               "descriptions": [{"role": "other", "value": "s0"}, {"role": "summary", "value": "s"}],
               "keywords": ["", "k", "Kim Jong Un"],
               "links": [{"rel": "canonical", "href": "https://x/1"}],
               "subjects": [{}, {"name": "n", "rel": "keyword", "literal": "c"},
                            {"code": "a", "literal": "b", "uri": "http://u", "rel": "about"},
                            {"name": "Jakarta", "rel": "keyword", "uri": "http://geo/1"}]})",
           R"({"uri": "urn:x", "pubstatus": "canceled", "headlines": [{"value": "\u0000\"\\"}],
               "infosources": [{"name": "Antara"}], "subjects": [{"name": "k", "rel": "keyword"}],
               "renditions": [{"name": "canonical", "href": "https://x/2"}]})",
       }) {
    SCOPED_TRACE(ninjs);
    expect_round_trip(ninjs);
  }
}

TEST(NinjsOutput, WritesNinjs20NamesAndLeavesOutWhatIsNotSet) {
  auto article = article_from_ninjs(fixture("korea-utara-pasukan-rusia.json"));
  article.add_topics("international");
  article.set_url("https://ikolom.example/1");
  const auto doc = nlohmann::json::parse(ninjs_from_article(article));
  EXPECT_EQ(doc["standard"]["version"], "2.0");
  EXPECT_EQ(doc["uri"], article.id());
  EXPECT_EQ(doc["version"], "1") << "ninjs 2.0 writes version as a string";
  EXPECT_EQ(doc["firstcreated"], "2025-04-28T07:00:00Z");
  EXPECT_EQ(doc["headlines"][0]["role"], "main");
  EXPECT_EQ(doc["headlines"][0]["value"], article.headline());
  EXPECT_EQ(doc["descriptions"][0]["role"], "summary");
  EXPECT_EQ(doc["bodies"][0]["value"], article.body());
  EXPECT_EQ(doc["urgency"], 3);
  EXPECT_EQ(doc["subjects"].size(), 6U) << "keywords as subjects with rel keyword";
  EXPECT_EQ(doc["subjects"][4], (nlohmann::json{{"name", "Kim Jong Un"}, {"rel", "keyword"}}));
  EXPECT_EQ(doc["renditions"][0]["href"], "https://ikolom.example/1");
  EXPECT_FALSE(doc.contains("topics")) << "topics are kabar's, not ninjs";
  EXPECT_FALSE(doc.contains("keywords")) << "not a ninjs 2.0 property";
  EXPECT_FALSE(doc.contains("embargoed"));
  EXPECT_FALSE(doc.contains("ednote"));
}

}  // namespace
}  // namespace kabar
