// GET /metrics: the Prometheus text format, counting what really happened.
#include <gtest/gtest.h>

#include "broker.hpp"
#include "client_support.hpp"
#include "raw_ws.hpp"

namespace kabar::test {
namespace {

TEST(Metrics, CountConnectionsSubscriptionsPublishesDeliveriesAndRejections) {
  BrokerProcess broker;
  Connected reader(broker.url(), "reader");
  Inbox inbox;
  reader.subscribe("international", inbox);
  reader.subscribe("defense.>", inbox);
  Connected other(broker.url(), "other");
  Inbox other_inbox;
  other.subscribe("international", other_inbox);
  Connected cms(broker.url(), "cms");
  for (int i = 0; i < 3; ++i)
    cms.publish(article("urn:test:" + std::to_string(i), {"international"}));
  EXPECT_THROW(cms.publish(article("urn:test:bad", {"Bad"})), client::RequestError);
  ASSERT_TRUE(inbox.wait_for(3));
  ASSERT_TRUE(other_inbox.wait_for(3));
  {
    RawWebSocket ws(broker.port());
    ws.connect();
    ws.send_text("hello");  // refused: 1003
    ws.read();
  }

  const auto metrics = http_get(broker.port(), "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.content_type, "text/plain; version=0.0.4; charset=utf-8");
  const auto& text = metrics.body;
  EXPECT_GE(metric_sample(text, "kabar_connections"), 3) << text;
  EXPECT_EQ(metric_sample(text, "kabar_publishes_total"), 3);
  EXPECT_EQ(metric_sample(text, "kabar_deliveries_total"), 6);
  EXPECT_EQ(metric_sample(text, "kabar_subscriptions{topic=\"international\"}"), 2);
  EXPECT_EQ(metric_sample(text, "kabar_subscriptions{topic=\"defense.>\"}"), 1);
  EXPECT_EQ(metric_sample(text, "kabar_rejected_total{reason=\"bad_request\"}"), 1);
  EXPECT_EQ(metric_sample(text, "kabar_rejected_total{reason=\"text_frame\"}"), 1);
  EXPECT_GT(metric_sample(text, "kabar_received_bytes_total"), 0);
  EXPECT_GT(metric_sample(text, "kabar_sent_bytes_total"), 6 * 60);  // six deliveries and replies
  EXPECT_EQ(metric_sample(text, "kabar_slow_consumer_disconnects_total"), 0);
  EXPECT_GE(metric_sample(text, "kabar_store_commit_seconds_count"), 1);
  EXPECT_EQ(metric_sample(text, "kabar_store_commit_seconds_bucket{le=\"+Inf\"}"),
            metric_sample(text, "kabar_store_commit_seconds_count"));
  EXPECT_GE(metric_sample(text, "kabar_fanout_seconds_count"), 1);
  // Where articles waited: each of the three valid publishes was handed to the engine once (the
  // refused one never was), and every write took a write turn.
  EXPECT_EQ(metric_sample(text, "kabar_publish_wait_seconds_count"), 3);
  EXPECT_GE(metric_sample(text, "kabar_write_wait_seconds_count"), 3);
  EXPECT_EQ(metric_sample(text, "kabar_write_wait_seconds_bucket{le=\"+Inf\"}"),
            metric_sample(text, "kabar_write_wait_seconds_count"));
  EXPECT_GE(metric_sample(text, "kabar_write_wait_seconds_bucket{le=\"1e-05\"}"), 0);
  EXPECT_NE(text.find("# TYPE kabar_deliveries_total counter"), std::string::npos);
}

// Clients choose patterns: the series per pattern are bounded (the most subscribed first, the
// rest summed), so that a few connections with thousands of patterns cannot make a huge scrape.
TEST(Metrics, SubscriptionSeriesAreBoundedHoweverManyPatterns) {
  BrokerProcess broker;
  RawWebSocket ws(broker.port());
  ws.connect();
  v1::ClientMessage message;
  for (int i = 0; i < 300; ++i) {
    message.set_id(static_cast<std::uint32_t>(i));
    message.mutable_subscribe()->set_topic("desk" + std::to_string(i) + ".>");
    ws.send(message);
  }
  for (int i = 0; i < 300; ++i) ASSERT_TRUE(ws.read().message.reply().has_subscribe()) << i;
  Connected popular(broker.url()), also(broker.url());
  Inbox inbox;
  popular.subscribe("international", inbox);
  also.subscribe("international", inbox);
  const auto text = http_get(broker.port(), "/metrics").body;
  std::size_t series = 0;
  for (std::size_t at = 0; (at = text.find("\nkabar_subscriptions{", at)) != std::string::npos;
       ++at) {
    ++series;
  }
  EXPECT_EQ(series, 201U) << "200 patterns and _other";
  EXPECT_EQ(metric_sample(text, "kabar_subscriptions{topic=\"international\"}"), 2);
  EXPECT_EQ(metric_sample(text, "kabar_subscriptions{topic=\"_other\"}"), 101);
}

}  // namespace
}  // namespace kabar::test
