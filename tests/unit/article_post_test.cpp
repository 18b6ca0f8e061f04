// POST /v1/articles without sockets: the body formats, the query's topics, the answers' JSON.
#include "net/article_post.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace kabar::broker::article_post {
namespace {

TEST(ArticlePost, ReadsTheBodyFormatFromTheContentType) {
  EXPECT_EQ(std::get<BodyFormat>(body_format("application/json")), BodyFormat::kNinjs);
  EXPECT_EQ(std::get<BodyFormat>(body_format("Application/Ninjs+JSON; charset=utf-8")),
            BodyFormat::kNinjs);
  EXPECT_EQ(std::get<BodyFormat>(body_format(" application/x-protobuf ")), BodyFormat::kProtobuf);
  const auto refused = std::get<Refusal>(body_format("text/html"));
  EXPECT_EQ(refused.status, 415U);
  EXPECT_NE(refused.error.message.find("'text/html'"), std::string::npos);
  EXPECT_NE(std::get<Refusal>(body_format("")).error.message.find("no Content-Type"),
            std::string::npos);
  // What a client sends is quoted escaped and cut, never as it came.
  const auto hostile = std::get<Refusal>(body_format(std::string(500, 'a') + "\n\x1b[31m"));
  EXPECT_EQ(hostile.error.message.find('\x1b'), std::string::npos);
  EXPECT_LT(hostile.error.message.size(), 300U);
}

TEST(ArticlePost, AddsTheQuerysTopicsAfterTheBodysOwnEachOnce) {
  const auto body = R"({"uri": "urn:test:1", "headlines": [{"role": "main", "value": "A"}]})";
  const auto article = std::get<v1::Article>(
      parse("/v1/articles?topic=international&topic=defense%2Easia&topic=international",
            BodyFormat::kNinjs, body));
  ASSERT_EQ(article.topics_size(), 2);
  EXPECT_EQ(article.topics(0), "international");
  EXPECT_EQ(article.topics(1), "defense.asia");

  v1::Article proto;
  proto.set_id("urn:test:2");
  proto.add_topics("defense");
  const auto both = std::get<v1::Article>(parse("/v1/articles?topic=defense&topic=sports",
                                                BodyFormat::kProtobuf, proto.SerializeAsString()));
  ASSERT_EQ(both.topics_size(), 2);
  EXPECT_EQ(both.topics(1), "sports");
}

TEST(ArticlePost, RefusesWhatItCannotPublishSayingWhy) {
  const auto body = R"({"uri": "urn:test:1", "headlines": [{"role": "main", "value": "A"}]})";
  // No topic is not refused here: routing by subject may give it some (check_publish).
  EXPECT_EQ(std::get<v1::Article>(parse("/v1/articles", BodyFormat::kNinjs, body)).topics_size(),
            0);
  EXPECT_NE(std::get<Refusal>(parse("/v1/articles?topics=x", BodyFormat::kNinjs, body))
                .error.message.find("unknown query parameter 'topics'"),
            std::string::npos);
  std::string many = "/v1/articles?";
  for (std::size_t i = 0; i <= kMaxQueryTopics; ++i) many += "topic=t" + std::to_string(i) + "&";
  EXPECT_NE(std::get<Refusal>(parse(many, BodyFormat::kNinjs, body))
                .error.message.find("more than 16 topic parameters"),
            std::string::npos);
  const auto json = std::get<Refusal>(parse("/v1/articles?topic=x", BodyFormat::kNinjs, "{\"a\":"));
  EXPECT_EQ(json.status, 400U);
  EXPECT_NE(json.error.message.find("not valid JSON"), std::string::npos);
  EXPECT_NE(json.error.message.find("column"), std::string::npos) << json.error.message;
  EXPECT_EQ(
      std::get<Refusal>(parse("/v1/articles?topic=x", BodyFormat::kProtobuf, "\x0a\xff")).status,
      400U);
}

TEST(ArticlePost, AnswersInJson) {
  EXPECT_EQ(status_for(v1::Error::BAD_REQUEST), 400U);
  EXPECT_EQ(status_for(v1::Error::UNAUTHORIZED), 401U);
  EXPECT_EQ(status_for(v1::Error::FORBIDDEN), 403U);
  EXPECT_EQ(status_for(v1::Error::TOO_LARGE), 413U);
  EXPECT_EQ(status_for(v1::Error::RATE_LIMITED), 429U);
  EXPECT_EQ(status_for(v1::Error::UNAVAILABLE), 503U);
  EXPECT_EQ(status_for(v1::Error::INTERNAL), 500U);

  const auto error = nlohmann::json::parse(error_json({v1::Error::TOO_LARGE, "big \xff"}));
  EXPECT_EQ(error["code"], "TOO_LARGE");
  EXPECT_EQ(error["message"], "big \xef\xbf\xbd") << "invalid UTF-8 replaced, not thrown on";

  v1::PublishResult result;
  result.set_id("urn:test:1");
  result.set_version(1);
  auto* offset = result.add_offsets();
  offset->set_topic("international");
  offset->set_offset(7);
  const auto answer = nlohmann::json::parse(result_json(result));
  EXPECT_EQ(answer["duplicate"], false);
  EXPECT_EQ(answer["offsets"][0]["offset"], "7");
}

}  // namespace
}  // namespace kabar::broker::article_post
