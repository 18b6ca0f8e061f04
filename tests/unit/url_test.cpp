// The client library's broker URLs.
#include "kabar/client/url.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

namespace kabar::client {
namespace {

TEST(Url, ReadsSchemeHostPortAndPathWithTheirDefaults) {
  const auto full = parse_url("wss://news.example:8443/v1/ws?access_token=t");
  EXPECT_TRUE(full.tls);
  EXPECT_EQ(full.host, "news.example");
  EXPECT_EQ(full.port, "8443");
  EXPECT_EQ(full.target, "/v1/ws?access_token=t");
  const auto bare = parse_url("ws://127.0.0.1");
  EXPECT_FALSE(bare.tls);
  EXPECT_EQ(bare.port, "80");
  EXPECT_EQ(bare.target, "/v1/ws");
  EXPECT_EQ(parse_url("wss://news.example").port, "443");
}

TEST(Url, TakesIpv6AddressesInBrackets) {
  const auto v6 = parse_url("ws://[::1]:8080/v1/ws");
  EXPECT_EQ(v6.host, "::1");
  EXPECT_EQ(v6.port, "8080");
  EXPECT_EQ(parse_url("wss://[2001:db8::7]").port, "443");
}

TEST(Url, RefusesWhatIsNotAWebSocketUrlSayingWhy) {
  for (const char* url : {"http://news.example/v1/ws", "news.example:8080", "ws://", "ws://:80/",
                          "ws://[::1:8080/"}) {
    EXPECT_THROW(static_cast<void>(parse_url(url)), std::invalid_argument) << url;
  }
  try {
    static_cast<void>(parse_url("http://x"));
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("must start with ws:// or wss://"), std::string::npos);
  }
}

}  // namespace
}  // namespace kabar::client
