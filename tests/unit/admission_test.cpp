// Connection admission and the per-connection publish rate: token buckets at their edges.
#include "net/admission.hpp"

#include <gtest/gtest.h>

#include "kabar/broker/config.hpp"

namespace kabar::broker {
namespace {

TEST(RateLimit, ARateBelowOnePerSecondLetsOneThrough) {
  RateLimit half(0.5);  // one every two seconds
  EXPECT_TRUE(half.take());
  EXPECT_FALSE(half.take());
  RateLimit tiny(0.001);
  EXPECT_TRUE(tiny.take());
}

TEST(RateLimit, BurstsUpToOneSecondsWorthAndZeroIsUnlimited) {
  RateLimit ten(10);
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(ten.take()) << i;
  EXPECT_FALSE(ten.take());
  RateLimit unlimited(0);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(unlimited.take());
}

TEST(Admission, AConnectionRateBelowOneAdmitsTheFirstAndSaysWhyTheNextWaits) {
  Config config;
  config.connection_rate = 0.5;
  const auto admission = std::make_shared<Admission>(config);
  const auto address = boost::asio::ip::make_address("127.0.0.1");
  std::string why;
  const auto first = admission->admit(address, why);
  EXPECT_NE(first, nullptr);
  EXPECT_EQ(admission->admit(address, why), nullptr);
  EXPECT_EQ(why, "new connections over 0.5/s");
}

TEST(Admission, ARefusalForAnotherLimitTakesNoToken) {
  Config config;
  config.connection_rate = 2;  // a bucket of two
  config.max_connections_per_address = 1;
  const auto admission = std::make_shared<Admission>(config);
  const auto a = boost::asio::ip::make_address("127.0.0.1");
  const auto b = boost::asio::ip::make_address("127.0.0.2");
  std::string why;
  const auto first = admission->admit(a, why);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(admission->admit(a, why), nullptr);
  EXPECT_EQ(why, "127.0.0.1 is at its limit of 1 connections");
  EXPECT_NE(admission->admit(b, why), nullptr) << why;  // the second token was still there
}

}  // namespace
}  // namespace kabar::broker
