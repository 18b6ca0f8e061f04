// Limits against abuse, each with its own precise answer, and nobody else slowed.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include "broker.hpp"
#include "client_support.hpp"
#include "raw_ws.hpp"

namespace kabar::test {
namespace {

TEST(Limits, ConnectionsPerAddressAreCappedWithA503SayingWhy) {
  BrokerProcess broker({"--max-connections-per-address", "2"});
  RawWebSocket first(broker.port()), second(broker.port());
  first.connect();
  second.connect();
  const auto third = http_get(broker.port(), "/healthz");
  EXPECT_EQ(third.status, 503);
  EXPECT_NE(third.body.find("127.0.0.1 is at its limit of 2 connections"), std::string::npos)
      << third.body;
  EXPECT_EQ(first.connect().error().code(), v1::Error::BAD_REQUEST);  // still served ("already")
}

TEST(Limits, TotalConnectionsAreCapped) {
  BrokerProcess broker({"--max-connections", "1"});
  RawWebSocket only(broker.port());
  only.connect();
  const auto refused = http_get(broker.port(), "/healthz");
  EXPECT_EQ(refused.status, 503);
  EXPECT_NE(refused.body.find("at the limit of 1 connections"), std::string::npos);
}

TEST(Limits, NewConnectionsArePacedByTheConnectionRate) {
  BrokerProcess broker({"--connection-rate", "5"});
  int refused = 0;
  for (int i = 0; i < 20; ++i) {
    const auto result = http_get(broker.port(), "/healthz");
    if (result.status == 503) {
      ++refused;
      EXPECT_NE(result.body.find("new connections over 5/s"), std::string::npos);
    }
  }
  EXPECT_GE(refused, 10);
  EXPECT_NE(http_get(broker.port(), "/metrics").status, 0);
}

TEST(Limits, SubscriptionsPerConnectionAreCapped) {
  BrokerProcess broker({"--max-subscriptions", "2"});
  Connected reader(broker.url());
  Inbox inbox;
  reader.subscribe("a", inbox);
  reader.subscribe("b.>", inbox);
  reader.subscribe("a", inbox);  // replacing one is not a new one
  try {
    reader.subscribe("c", inbox);
    FAIL() << "a third subscription was accepted";
  } catch (const client::RequestError& e) {
    EXPECT_EQ(e.code(), v1::Error::RATE_LIMITED);
    EXPECT_NE(std::string(e.what()).find("2 subscriptions, the limit"), std::string::npos);
  }
}

TEST(Limits, PublishesOverTheRateAreRefusedAndNotStored) {
  BrokerProcess broker({"--publish-rate", "10"});
  Connected reader(broker.url());
  Inbox inbox;
  reader.subscribe("wire", inbox);
  Connected cms(broker.url(), "cms");
  std::vector<std::future<v1::PublishResult>> acks;
  for (int i = 0; i < 40; ++i) acks.push_back(cms->publish(article("urn:r:" + std::to_string(i), {"wire"})));
  std::size_t stored = 0, limited = 0;
  for (auto& ack : acks) {
    try {
      ack.get();
      ++stored;
    } catch (const client::RequestError& e) {
      EXPECT_EQ(e.code(), v1::Error::RATE_LIMITED);
      ++limited;
    }
  }
  EXPECT_GE(stored, 10U);
  EXPECT_LT(stored, 20U);
  EXPECT_EQ(stored + limited, 40U);
  ASSERT_TRUE(inbox.wait_for(stored));
  // Tokens come back at 10/s: a retry a little later is stored.
  const auto deadline = Clock::now() + 2s;
  for (;;) {
    try {
      cms.publish(article("urn:r:marker", {"wire"}));
      break;
    } catch (const client::RequestError& e) {
      ASSERT_EQ(e.code(), v1::Error::RATE_LIMITED);
      ASSERT_LT(Clock::now(), deadline);
      std::this_thread::sleep_for(50ms);
    }
  }
  ASSERT_TRUE(inbox.wait_for(stored + 1));
  EXPECT_EQ(inbox.items().size(), stored + 1);
}

TEST(Limits, ASlowlorisUpgradeIsClosedAndBlocksNobody) {
  BrokerProcess broker({"--handshake-timeout-ms", "1000"});
  const int fd = connect_loopback(broker.port());
  const std::string request = "GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n";
  const auto started = Clock::now();
  bool closed = false;
  for (std::size_t i = 0; i < request.size() && Clock::now() - started < 5s; ++i) {
    if (::send(fd, &request[i], 1, MSG_NOSIGNAL) != 1) {
      closed = true;
      break;
    }
    if (i == 3) {  // meanwhile, everybody else is served
      Connected cms(broker.url(), "cms");
      EXPECT_EQ(cms.publish(article("urn:s:1", {"wire"})).offsets(0).offset(), 1U);
    }
    std::this_thread::sleep_for(200ms);
  }
  if (!closed) {  // the broker closed; a read says so
    char byte = 0;
    closed = ::recv(fd, &byte, 1, 0) <= 0;
  }
  ::close(fd);
  EXPECT_TRUE(closed);
  EXPECT_LT(Clock::now() - started, 3s);
}

TEST(Limits, ADisallowedOriginGets403BeforeTheUpgrade) {
  BrokerProcess broker({"--allowed-origin", "https://dash.example"});
  const auto evil = upgrade_from_origin(broker.port(), "https://evil.example");
  EXPECT_EQ(evil.status, 403);
  EXPECT_NE(evil.body.find("origin 'https://evil.example' is not allowed"), std::string::npos);
  EXPECT_EQ(upgrade_from_origin(broker.port(), "https://dash.example").status, 101);
  EXPECT_EQ(upgrade_from_origin(broker.port(), "").status, 101);  // not a browser
}

}  // namespace
}  // namespace kabar::test
