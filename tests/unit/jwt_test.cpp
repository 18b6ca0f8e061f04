// The JWT verifier against tokens signed here with OpenSSL, one test per way to be refused.
#include "kabar/common/jwt.hpp"

#include <gtest/gtest.h>

#include "kabar/common/topic.hpp"
#include "tokens.hpp"

namespace kabar::test {
namespace {

const std::string kSecret = "an HS256 secret of at least 32 bytes, for tests";

std::string refusal_of(const jwt::Verifier& verifier, const std::string& token) {
  const auto result = verifier.verify(token);
  if (const auto* refusal = std::get_if<jwt::Refusal>(&result)) return refusal->reason;
  return "accepted";
}

jwt::VerifierOptions hs256() {
  jwt::VerifierOptions options;
  options.hs256_secret = kSecret;
  options.leeway = std::chrono::seconds(0);
  return options;
}

TEST(Jwt, AcceptsAValidHs256TokenAndReadsItsGrants) {
  const jwt::Verifier verifier(hs256());
  const auto result =
      verifier.verify(sign_hs256(grants(seconds_from_now(60), {"defense.>"}, {">"}), kSecret));
  ASSERT_TRUE(std::holds_alternative<jwt::Claims>(result));
  const auto& claims = std::get<jwt::Claims>(result);
  EXPECT_EQ(claims.subject, "tester");
  EXPECT_EQ(claims.publish, std::vector<std::string>{"defense.>"});
  EXPECT_EQ(claims.subscribe, std::vector<std::string>{">"});
}

TEST(Jwt, RefusesEachBadTokenWithItsOwnReason) {
  const jwt::Verifier verifier(hs256());
  const auto claims = grants(seconds_from_now(60), {">"}, {">"});
  EXPECT_EQ(refusal_of(verifier, unsigned_token(claims, "none")), "alg_none");
  EXPECT_EQ(refusal_of(verifier, unsigned_token(claims, "NoNe")), "alg_none");
  EXPECT_EQ(refusal_of(verifier, sign_hs256(claims, "another secret of 32 bytes or more....")),
            "bad_signature");
  EXPECT_EQ(refusal_of(verifier, SigningKey::rsa().sign(claims)), "alg_not_allowed");
  EXPECT_EQ(refusal_of(verifier, sign_hs256(grants(seconds_from_now(-5), {}, {}), kSecret)),
            "expired");
  auto early = claims;
  early["nbf"] = seconds_from_now(60);
  EXPECT_EQ(refusal_of(verifier, sign_hs256(early, kSecret)), "not_yet_valid");
  auto no_exp = claims;
  no_exp.erase("exp");
  EXPECT_EQ(refusal_of(verifier, sign_hs256(no_exp, kSecret)), "missing_exp");
  EXPECT_EQ(refusal_of(verifier, "not.a.jwt!"), "malformed");
  EXPECT_EQ(refusal_of(verifier, "onlyone"), "malformed");
}

TEST(Jwt, ChecksIssuerAndAudienceWhenConfigured) {
  auto options = hs256();
  options.issuer = "https://id.newsroom.example";
  options.audience = "kabar";
  const jwt::Verifier verifier(options);
  auto claims = grants(seconds_from_now(60), {}, {});
  EXPECT_EQ(refusal_of(verifier, sign_hs256(claims, kSecret)), "bad_issuer");
  claims["iss"] = options.issuer;
  EXPECT_EQ(refusal_of(verifier, sign_hs256(claims, kSecret)), "bad_audience");
  claims["aud"] = nlohmann::json::array({"other", "kabar"});
  EXPECT_EQ(refusal_of(verifier, sign_hs256(claims, kSecret)), "accepted");
}

TEST(Jwt, Rs256AndEs256WithAPublicKeyAndNoAlgorithmConfusion) {
  for (auto make : {&SigningKey::rsa, &SigningKey::p256}) {
    const auto key = make();
    jwt::VerifierOptions options;
    options.public_key_pem = key.public_pem();
    const jwt::Verifier verifier(options);
    const auto claims = grants(seconds_from_now(60), {">"}, {">"});
    EXPECT_EQ(refusal_of(verifier, key.sign(claims)), "accepted");
    // HS/RS confusion: HMAC keyed with the public key the broker holds.
    EXPECT_EQ(refusal_of(verifier, sign_hs256(claims, options.public_key_pem)), "alg_not_allowed");
    auto tampered = key.sign(claims);
    tampered[tampered.size() / 2] = tampered[tampered.size() / 2] == 'A' ? 'B' : 'A';
    EXPECT_NE(refusal_of(verifier, tampered), "accepted");
  }
  EXPECT_THROW(jwt::Verifier(jwt::VerifierOptions{{}, "not a key", {}, {}, {}}),
               std::invalid_argument);
}

TEST(Jwt, FarFutureTimesNeverWrap) {
  const jwt::Verifier verifier(hs256());
  // exp 9999999999 (2286), a usual "never": past what nanoseconds since 1970 count.
  auto never = grants(9'999'999'999, {">"}, {">"});
  EXPECT_EQ(refusal_of(verifier, sign_hs256(never, kSecret)), "accepted");
  auto year_9999 = grants(253'402'300'799, {">"}, {">"});
  EXPECT_EQ(refusal_of(verifier, sign_hs256(year_9999, kSecret)), "accepted");
  auto beyond = never;
  beyond["exp"] = 1e300;  // clamped to 9999, not wrapped
  EXPECT_EQ(refusal_of(verifier, sign_hs256(beyond, kSecret)), "accepted");
  // An nbf in the year 2300 is not valid yet, whatever overflow would say.
  auto later = never;
  later["nbf"] = 10'413'792'000;
  EXPECT_EQ(refusal_of(verifier, sign_hs256(later, kSecret)), "not_yet_valid");
  later["nbf"] = "soon";
  EXPECT_EQ(refusal_of(verifier, sign_hs256(later, kSecret)), "malformed");
  const auto claims = std::get<jwt::Claims>(verifier.verify(sign_hs256(never, kSecret)));
  EXPECT_EQ(claims.expires.time_since_epoch().count(), 9'999'999'999);
}

TEST(Jwt, AMalformedGrantRefusesTheTokenInsteadOfGrantingEverything) {
  const jwt::Verifier verifier(hs256());
  for (const char* grant : {">.x", "*.>.x", ">.sports", "defense..asia", "", "Defense", "defense.",
                            ".defense", "defense asia"}) {
    const auto subscribe = grants(seconds_from_now(60), {}, {"international", grant});
    const auto result = verifier.verify(sign_hs256(subscribe, kSecret));
    ASSERT_TRUE(std::holds_alternative<jwt::Refusal>(result)) << grant;
    const auto& refusal = std::get<jwt::Refusal>(result);
    EXPECT_EQ(refusal.reason, "bad_grant") << grant;
    EXPECT_NE(refusal.message.find("kabar.subscribe[1]"), std::string::npos) << refusal.message;
    const auto publish = grants(seconds_from_now(60), {grant}, {});
    EXPECT_EQ(refusal_of(verifier, sign_hs256(publish, kSecret)), "bad_grant") << grant;
  }
  auto not_a_list = grants(seconds_from_now(60), {}, {});
  not_a_list["kabar"]["subscribe"] = ">";
  EXPECT_EQ(refusal_of(verifier, sign_hs256(not_a_list, kSecret)), "bad_grant");
  not_a_list["kabar"]["subscribe"] = nlohmann::json::array({7});
  EXPECT_EQ(refusal_of(verifier, sign_hs256(not_a_list, kSecret)), "bad_grant");
  not_a_list["kabar"] = "everything";
  EXPECT_EQ(refusal_of(verifier, sign_hs256(not_a_list, kSecret)), "bad_grant");
  // Without a kabar claim a token is valid and grants nothing.
  auto none = grants(seconds_from_now(60), {}, {});
  none.erase("kabar");
  const auto result = verifier.verify(sign_hs256(none, kSecret));
  ASSERT_TRUE(std::holds_alternative<jwt::Claims>(result));
  EXPECT_TRUE(std::get<jwt::Claims>(result).subscribe.empty());
}

TEST(PatternCovers, GrantsCoverWhatTheyMatch) {
  EXPECT_TRUE(pattern_covers(">", "defense.asia"));
  EXPECT_TRUE(pattern_covers("defense.>", "defense.asia"));
  EXPECT_TRUE(pattern_covers("defense.>", "defense.*"));
  EXPECT_TRUE(pattern_covers("defense.>", "defense.>"));
  EXPECT_FALSE(pattern_covers("defense.>", "defense"));
  EXPECT_FALSE(pattern_covers("defense.*", "defense.>"));
  EXPECT_TRUE(pattern_covers("*.asia", "defense.asia"));
  EXPECT_FALSE(pattern_covers("defense.asia", "defense.*"));
  EXPECT_FALSE(pattern_covers("international", ">"));
}

}  // namespace
}  // namespace kabar::test
