// History as ninjs: GET /v1/topics/{topic}/articles with Accept: application/ninjs+json against
// the real broker. What it answers validates against IPTC's ninjs 2.0 schema (docs/ninjs/, by
// scripts/validate-ninjs) and maps back to the very articles that were published.
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "broker.hpp"
#include "http_connection.hpp"
#include "kabar/common/ninjs.hpp"
#include "process.hpp"

namespace kabar::test {
namespace {

using nlohmann::json;

constexpr std::string_view kAcceptNinjs = "Accept: application/ninjs+json\r\n";

std::string read_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// What the shared fixtures do not carry: subjects, type, a canonical url, a retraction.
std::string tagged_ninjs() {
  return json{{"uri", "urn:test:tagged"},
              {"type", "text"},
              {"pubstatus", "canceled"},
              {"headlines", {{{"role", "main"}, {"value", "Retracted: \u201cquoted\u201d"}}}},
              {"infosources", {{{"name", "Antara"}}}},
              {"keywords", {"Jakarta"}},
              {"links", {{{"rel", "canonical"}, {"href", "https://news.example/1"}}}},
              {"subjects",
               {{{"code", "medtop:16000000"},
                 {"name", "conflict, war and peace"},
                 {"uri", "http://cv.iptc.org/newscodes/mediatopic/16000000"},
                 {"rel", "about"}}}}}
      .dump();
}

// The schema check, by the script a user runs on the same answer.
void expect_valid_ninjs(const std::string& body) {
  TempDir dir;
  const auto path = dir.path() / "page.json";
  std::ofstream(path, std::ios::binary) << body;
  const auto checked = run({std::string(KABAR_SOURCE_DIR) + "/scripts/validate-ninjs", path});
  EXPECT_EQ(checked.status, 0) << checked.out << checked.err;
}

TEST(NinjsOut, HistoryAsNinjsValidatesAndMapsBackToThePublishedArticles) {
  BrokerProcess broker;
  HttpConnection cms(broker.port());
  std::vector<std::string> published;
  for (const char* name : {"korea-utara-pasukan-rusia.json", "pakistan-ancam-india.json",
                           "korea-utara-pasukan-rusia.v2.json"}) {
    published.push_back(read_file(fixtures_dir() + "/" + name));
  }
  published.push_back(tagged_ninjs());
  for (const auto& body : published) {
    const auto answer = cms.post("/v1/articles?topic=international", "application/json", body);
    ASSERT_EQ(answer.status, 201) << answer.body;
  }

  const auto page = cms.request("GET", "/v1/topics/international/articles", {}, kAcceptNinjs);
  ASSERT_EQ(page.status, 200) << page.body;
  EXPECT_EQ(page.header("content-type"), "application/ninjs+json");
  EXPECT_EQ(page.header("vary"), "Accept");
  EXPECT_EQ(page.header("kabar-last-offset"), "4");
  EXPECT_FALSE(page.header("kabar-epoch").empty());
  EXPECT_EQ(page.header("link"), "") << "everything fitted in one page";
  expect_valid_ninjs(page.body);

  const auto documents = json::parse(page.body);
  ASSERT_EQ(documents.size(), published.size());
  for (std::size_t i = 0; i < published.size(); ++i) {
    SCOPED_TRACE(i);
    // The stored article, as ninjs, maps back to what the publisher sent (topics aside).
    auto sent = article_from_ninjs(published[i]);
    const auto read = article_from_ninjs(documents[i].dump());
    if (sent.version() == 0) sent.set_version(1);  // the broker stores an absent version as 1
    std::string differences;
    google::protobuf::util::MessageDifferencer differ;
    differ.ReportDifferencesToString(&differences);
    EXPECT_TRUE(differ.Compare(sent, read)) << differences;
  }
  EXPECT_EQ(documents[0]["headlines"][0]["value"],
            "Korea Utara Akui Kirim Pasukan Tempur ke Rusia");
  EXPECT_EQ(documents[2]["version"], "2");
  EXPECT_EQ(documents[3]["pubstatus"], "canceled");
  EXPECT_EQ(documents[3]["subjects"][0]["literal"], "medtop:16000000");
}

TEST(NinjsOut, PagesLinkToTheNextOne) {
  BrokerProcess broker;
  HttpConnection cms(broker.port());
  for (int i = 1; i <= 3; ++i) {
    const auto body = json{{"uri", "urn:test:page:" + std::to_string(i)}, {"headline", "h"}};
    ASSERT_EQ(cms.post("/v1/articles?topic=wire", "application/json", body.dump()).status, 201);
  }
  auto page = cms.request("GET", "/v1/topics/wire/articles?limit=2", {}, kAcceptNinjs);
  ASSERT_EQ(page.status, 200) << page.body;
  EXPECT_EQ(json::parse(page.body).size(), 2U);
  const auto link = page.header("link");
  EXPECT_EQ(link, "</v1/topics/wire/articles?since=2&limit=2>; rel=\"next\"");
  const auto next = link.substr(1, link.find('>') - 1);
  page = cms.request("GET", next, {}, kAcceptNinjs);
  ASSERT_EQ(page.status, 200) << page.body;
  const auto rest = json::parse(page.body);
  ASSERT_EQ(rest.size(), 1U);
  EXPECT_EQ(rest[0]["uri"], "urn:test:page:3");
  EXPECT_EQ(page.header("link"), "");
  // Nothing after the last offset: an empty array, still ninjs.
  page = cms.request("GET", "/v1/topics/wire/articles?since=3", {}, kAcceptNinjs);
  EXPECT_EQ(page.body, "[]\n");
  // A topic never stored is still a 404, as for the other formats.
  EXPECT_EQ(cms.request("GET", "/v1/topics/nothing/articles", {}, kAcceptNinjs).status, 404);
}

}  // namespace
}  // namespace kabar::test
