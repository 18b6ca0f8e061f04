// JWT authentication and per-topic grants, against the real broker.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>

#include "broker.hpp"
#include "client_support.hpp"
#include "raw_ws.hpp"
#include "tokens.hpp"

namespace kabar::test {
namespace {

const std::string kSecret = "an HS256 secret of at least 32 bytes, for tests";

// Sends a Ping; the answer, or the close that came instead.
RawFrame ping(RawWebSocket& ws) {
  v1::ClientMessage message;
  message.set_id(3);
  message.mutable_ping();
  ws.send(message);
  return ws.read();
}

// A broker that requires HS256 tokens signed with kSecret (no clock leeway).
class Auth : public testing::Test {
 protected:
  Auth() : broker_(make_broker(data_)) {}

  static BrokerProcess make_broker(const TempDir& dir) {
    auto flags = hs256_secret_flags(dir, kSecret);
    flags.insert(flags.end(), {"--jwt-leeway-s", "0"});
    return BrokerProcess(flags);
  }

  // A client that sends `token` in Connect; the Connect reply (or why none came).
  struct Session {
    IoRunner io;
    std::unique_ptr<client::Client> client;
    client::Response connected;
  };
  std::unique_ptr<Session> open(const std::string& token, const std::string& url_suffix = "") {
    auto session = std::make_unique<Session>();
    client::Options options;
    options.url = broker_.url() + url_suffix;
    options.token = token;
    options.reconnect.enabled = false;
    session->client = std::make_unique<client::Client>(session->io.context(), options);
    std::promise<client::Response> done;
    session->client->connect([&](client::Response r) { done.set_value(std::move(r)); });
    session->connected = done.get_future().get();
    return session;
  }

  TempDir data_;
  BrokerProcess broker_;
};

TEST_F(Auth, EveryRefusedTokenGetsUnauthorizedWithItsReason) {
  const auto claims = grants(seconds_from_now(60), {">"}, {">"});
  struct Case {
    std::string token;
    std::string reason;
  };
  auto no_exp = claims;
  no_exp.erase("exp");
  auto later = claims;
  later["nbf"] = seconds_from_now(600);
  for (const auto& [token, reason] : std::vector<Case>{
           {"", "token_required"},
           {unsigned_token(claims, "none"), "alg_none"},
           {unsigned_token(claims, "NONE"), "alg_none"},
           {SigningKey::rsa().sign(claims), "alg_not_allowed"},
           {sign_hs256(claims, "a different secret, also 32 bytes long"), "bad_signature"},
           {sign_hs256(grants(seconds_from_now(-10), {}, {}), kSecret), "expired"},
           {sign_hs256(later, kSecret), "not_yet_valid"},
           {sign_hs256(no_exp, kSecret), "missing_exp"}}) {
    const auto session = open(token);
    ASSERT_TRUE(session->connected.reply.has_error()) << reason;
    EXPECT_EQ(session->connected.reply.error().code(), v1::Error::UNAUTHORIZED);
    EXPECT_NE(session->connected.reply.error().message().find("(" + reason + ")"),
              std::string::npos)
        << session->connected.reply.error().message();
  }
}

TEST_F(Auth, GrantsDecideWhatMayBePublishedAndSubscribed) {
  const auto desk =
      open(sign_hs256(grants(seconds_from_now(60), {"defense.>"}, {"defense.>"}), kSecret));
  ASSERT_TRUE(desk->connected.ok()) << desk->connected.error_text();
  const auto wall = open(sign_hs256(grants(seconds_from_now(60), {}, {">"}), kSecret));
  Inbox everything;
  v1::Subscribe all;
  all.set_topic(">");
  wall->client->subscribe(all, everything.handler()).get();

  v1::Subscribe international;
  international.set_topic("international");
  try {
    desk->client->subscribe(international, {}).get();
    FAIL() << "subscribed outside the grant";
  } catch (const client::RequestError& e) {
    EXPECT_EQ(e.code(), v1::Error::FORBIDDEN);
  }
  try {
    desk->client->publish(article("urn:test:forbidden", {"defense.asia", "international"})).get();
    FAIL() << "published outside the grant";
  } catch (const client::RequestError& e) {
    EXPECT_EQ(e.code(), v1::Error::FORBIDDEN);
    EXPECT_NE(std::string(e.what()).find("'international'"), std::string::npos);
  }
  desk->client->publish(article("urn:test:allowed", {"defense.asia"})).get();
  ASSERT_TRUE(everything.wait_for(1));
  const auto items = everything.items();
  ASSERT_EQ(items.size(), 1U);  // the refused article was neither stored nor delivered
  EXPECT_EQ(items[0].article().id(), "urn:test:allowed");
  EXPECT_EQ(items[0].offset(), 1U);
}

TEST_F(Auth, AnExpiringTokenEndsTheConnectionWith4003UnlessRefreshed) {
  const auto short_lived = sign_hs256(grants(seconds_from_now(2), {}, {">"}), kSecret);
  auto expiring = open(short_lived);
  ASSERT_TRUE(expiring->connected.ok());
  std::promise<client::CloseInfo> closed;
  expiring->client->on_close([&](const client::CloseInfo& info) { closed.set_value(info); });

  // The same token, then a fresh one in time: Connect again.
  RawWebSocket refreshed(broker_.port());
  v1::ClientMessage connect;
  connect.set_id(1);
  connect.mutable_connect()->set_token(short_lived);
  refreshed.send(connect);
  ASSERT_FALSE(refreshed.read().message.reply().has_error());
  connect.set_id(2);
  connect.mutable_connect()->set_token(
      sign_hs256(grants(seconds_from_now(60), {}, {">"}), kSecret));
  refreshed.send(connect);
  ASSERT_FALSE(refreshed.read().message.reply().has_error());

  auto info = closed.get_future();
  ASSERT_EQ(info.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(info.get().code, 4003);
  std::this_thread::sleep_for(1s);  // well past the first token's expiry: the refreshed one stays
  const auto pong = ping(refreshed);
  EXPECT_FALSE(pong.closed) << pong.close_code;
  EXPECT_TRUE(pong.message.reply().has_pong());
}

TEST_F(Auth, ATokenAtTheUpgradeWorksForBrowsersAndABadOneGets401) {
  const auto token = sign_hs256(grants(seconds_from_now(60), {}, {">"}), kSecret);
  const auto browser = open("", "?access_token=" + token);
  EXPECT_TRUE(browser->connected.ok()) << browser->connected.error_text();
  // Percent-encoded as a browser's URLSearchParams may write it ('.' as %2E, '_' as %5F).
  std::string encoded;
  for (const char c : token) encoded += c == '.' ? std::string("%2E") : std::string(1, c);
  const auto escaped = open("", "?access_token=" + encoded);
  EXPECT_TRUE(escaped->connected.ok()) << escaped->connected.error_text();
  const auto bad =
      open("", "?access_token=" + unsigned_token(grants(seconds_from_now(60), {}, {}), "none"));
  EXPECT_FALSE(bad->connected.ok());
  EXPECT_NE(bad->connected.error_text().find("401"), std::string::npos)
      << bad->connected.error_text();
  EXPECT_NE(bad->connected.error_text().find("alg_none"), std::string::npos);
}

TEST_F(Auth, HistoryOverHttpNeedsATokenThatGrantsTheTopic) {
  const auto desk = open(sign_hs256(grants(seconds_from_now(60), {"defense"}, {}), kSecret));
  desk->client->publish(article("urn:test:1", {"defense"})).get();
  EXPECT_EQ(http_get(broker_.port(), "/v1/topics/defense/articles").status, 401);
  const auto reader = sign_hs256(grants(seconds_from_now(60), {}, {"defense"}), kSecret);
  EXPECT_EQ(http_get(broker_.port(), "/v1/topics/defense/articles?access_token=" + reader).status,
            200);
  const auto other = sign_hs256(grants(seconds_from_now(60), {}, {"sports"}), kSecret);
  EXPECT_EQ(http_get(broker_.port(), "/v1/topics/defense/articles?access_token=" + other).status,
            403);
}

TEST_F(Auth, AMalformedGrantGrantsNothingAndTheClientIsToldWhy) {
  for (const char* grant : {">.x", "*.>.x", ">.sports", "defense..asia", "Defense"}) {
    const auto session = open(sign_hs256(grants(seconds_from_now(60), {}, {grant}), kSecret));
    ASSERT_TRUE(session->connected.reply.has_error()) << grant;
    EXPECT_EQ(session->connected.reply.error().code(), v1::Error::UNAUTHORIZED);
    EXPECT_NE(session->connected.reply.error().message().find("(bad_grant)"), std::string::npos)
        << session->connected.reply.error().message();
    EXPECT_NE(session->connected.reply.error().message().find("kabar.subscribe[0]"),
              std::string::npos);
  }
  // At the upgrade and on the HTTP read path as well.
  const auto bad = sign_hs256(grants(seconds_from_now(60), {}, {">.x"}), kSecret);
  const auto upgrade = open("", "?access_token=" + bad);
  EXPECT_NE(upgrade->connected.error_text().find("401"), std::string::npos);
  EXPECT_EQ(http_get(broker_.port(), "/v1/topics/defense/articles?access_token=" + bad).status,
            401);
}

// A token refreshed with fewer grants ends the subscriptions it no longer covers, each named in the
// Connect reply, and nothing more is delivered on them.
TEST_F(Auth, ARefreshThatDropsAGrantEndsTheSubscriptionsItNoLongerCovers) {
  RawWebSocket reader(broker_.port());
  v1::ClientMessage message;
  message.set_id(1);
  message.mutable_connect()->set_token(
      sign_hs256(grants(seconds_from_now(60), {}, {"defense.>", "international"}), kSecret));
  reader.send(message);
  ASSERT_TRUE(reader.read().message.reply().has_connect());
  for (const char* topic : {"defense.asia", "international"}) {
    message.set_id(2);
    message.mutable_subscribe()->set_topic(topic);
    reader.send(message);
    ASSERT_TRUE(reader.read().message.reply().has_subscribe()) << topic;
  }
  message.set_id(3);
  message.mutable_connect()->set_token(
      sign_hs256(grants(seconds_from_now(60), {}, {"international"}), kSecret));
  reader.send(message);
  const auto refreshed = reader.read().message.reply();
  ASSERT_TRUE(refreshed.has_connect()) << refreshed.DebugString();
  ASSERT_EQ(refreshed.connect().ended_subscriptions_size(), 1);
  EXPECT_EQ(refreshed.connect().ended_subscriptions(0).code(), v1::Error::FORBIDDEN);
  EXPECT_NE(refreshed.connect().ended_subscriptions(0).message().find("'defense.asia'"),
            std::string::npos);

  const auto cms = open(sign_hs256(grants(seconds_from_now(60), {">"}, {}), kSecret));
  cms->client->publish(article("urn:test:asia", {"defense.asia"})).get();
  cms->client->publish(article("urn:test:world", {"international"})).get();
  const auto next = reader.read();
  ASSERT_EQ(next.message.deliveries_size(), 1) << next.message.DebugString();
  EXPECT_EQ(next.message.deliveries(0).article().id(), "urn:test:world");
}

// Connect must come within the handshake timeout; a connection that never sends it is closed.
TEST(AuthDeadline, AnUpgradedConnectionThatNeverConnectsIsClosed) {
  BrokerProcess broker({"--handshake-timeout-ms", "500"});
  RawWebSocket silent(broker.port());
  const auto start = Clock::now();
  const auto frame = silent.read(5s);
  ASSERT_TRUE(frame.closed);
  EXPECT_EQ(frame.close_code, 1008);
  EXPECT_NE(frame.close_reason.find("no Connect"), std::string::npos) << frame.close_reason;
  EXPECT_LT(Clock::now() - start, 3s);
  RawWebSocket connected(broker.port());  // one that does stays past the deadline
  connected.connect();
  std::this_thread::sleep_for(1s);
  const auto pong = ping(connected);
  ASSERT_FALSE(pong.closed) << pong.close_reason;
  EXPECT_TRUE(pong.message.reply().has_pong());
  EXPECT_NE(pong.message.reply().pong().broker_time().nanos(), 0) << "sub-second precision";
}

TEST(AuthKeys, Rs256AndEs256WithAPublicKeyFile) {
  for (auto make : {&SigningKey::rsa, &SigningKey::p256}) {
    const auto key = make();
    TempDir dir;
    std::ofstream(dir.path() / "key.pem") << key.public_pem();
    BrokerProcess broker({"--jwt-public-key", (dir.path() / "key.pem").string()});
    IoRunner io;
    client::Options options;
    options.url = broker.url();
    options.token = key.sign(grants(seconds_from_now(60), {">"}, {">"}));
    client::Client accepted(io.context(), options);
    EXPECT_NO_THROW(accepted.connect().get());
    options.token = sign_hs256(grants(seconds_from_now(60), {">"}, {">"}), key.public_pem());
    client::Client confused(io.context(), options);
    try {
      confused.connect().get();
      FAIL() << "an HS256 token keyed with the public key was accepted";
    } catch (const client::RequestError& e) {
      EXPECT_NE(std::string(e.what()).find("alg_not_allowed"), std::string::npos) << e.what();
    }
  }
}

TEST(AuthKeys, APublicListenerWithoutAuthRefusesToStartUnlessAnonymousIsAllowed) {
  TempDir data;
  const auto refused =
      run({broker_path(), "--listen", "0.0.0.0:0", "--data-dir", data.path().string()});
  EXPECT_EQ(refused.status, 1);
  EXPECT_NE(refused.out.find("without authentication"), std::string::npos) << refused.out;
  Process anonymous({broker_path(), "--listen", "0.0.0.0:0", "--data-dir", data.path().string(),
                     "--allow-anonymous"});
  EXPECT_TRUE(anonymous.wait_for_output("I/O threads", 10s)) << anonymous.out();
  anonymous.signal(SIGTERM);
  EXPECT_EQ(anonymous.wait(5s), 0);
}

}  // namespace
}  // namespace kabar::test
