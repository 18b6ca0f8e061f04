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
