#include "kabar/common/jwt.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "kabar/common/ascii.hpp"
#include "kabar/common/time.hpp"
#include "kabar/common/topic.hpp"

namespace kabar::jwt {

using nlohmann::json;

struct Verifier::Key {
  EVP_PKEY* pkey = nullptr;
  ~Key() { EVP_PKEY_free(pkey); }
};

namespace {

// RFC 4648 section 5, no padding (JWS compact serialization). nullopt when not base64url.
std::optional<std::string> base64url_decode(std::string_view in) {
  std::string out;
  out.reserve(in.size() * 3 / 4);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (const char c : in) {
    int value = 0;
    if (c >= 'A' && c <= 'Z') {
      value = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      value = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      value = c - '0' + 52;
    } else if (c == '-') {
      value = 62;
    } else if (c == '_') {
      value = 63;
    } else {
      return std::nullopt;
    }
    buffer = (buffer << 6) | static_cast<std::uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xff));
    }
  }
  if (bits >= 6) return std::nullopt;  // a lone trailing character
  return out;
}

Refusal refuse(std::string reason, std::string message) {
  return Refusal{std::move(reason), std::move(message)};
}

bool hs256_valid(const std::string& secret, std::string_view signed_part,
                 const std::string& signature) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_size = 0;
  if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
           reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size(), mac,
           &mac_size) == nullptr) {
    return false;
  }
  return signature.size() == mac_size && CRYPTO_memcmp(mac, signature.data(), mac_size) == 0;
}

// ES256 signatures are r || s, 32 bytes each (RFC 7518 section 3.4); OpenSSL verifies DER.
std::optional<std::string> es256_to_der(const std::string& raw) {
  if (raw.size() != 64) return std::nullopt;
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), 32, nullptr);
  BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()) + 32, 32, nullptr);
  if (sig == nullptr || r == nullptr || s == nullptr || ECDSA_SIG_set0(sig, r, s) != 1) {
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return std::nullopt;
  }
  unsigned char* der = nullptr;
  const int size = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);
  if (size <= 0) return std::nullopt;
  std::string out(reinterpret_cast<char*>(der), static_cast<std::size_t>(size));
  OPENSSL_free(der);
  return out;
}

bool public_key_valid(EVP_PKEY* key, std::string_view signed_part, const std::string& signature) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr) return false;
  const bool ok =
      EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
      EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()),
                       signature.size(), reinterpret_cast<const unsigned char*>(signed_part.data()),
                       signed_part.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

// The grants under kabar.NAME, each checked as a subscription pattern is: a malformed one
// refuses the token (it must grant nothing, and `>.x` read loosely would grant everything).
std::variant<std::vector<std::string>, Refusal> grant_list(const json& kabar, const char* name) {
  constexpr std::size_t kMaxGrants = 1000;
  std::vector<std::string> out;
  const auto it = kabar.find(name);
  if (it == kabar.end()) return out;
  const auto field = std::string("kabar.") + name;
  if (!it->is_array()) {
    return refuse("bad_grant", field + " must be an array of topics or patterns");
  }
  if (it->size() > kMaxGrants) {
    return refuse("bad_grant",
                  field + " holds more than " + std::to_string(kMaxGrants) + " grants");
  }
  for (std::size_t i = 0; i < it->size(); ++i) {
    const auto& item = (*it)[i];
    const auto place = field + "[" + std::to_string(i) + "]";
    if (!item.is_string()) return refuse("bad_grant", place + " is not a string");
    auto grant = item.get<std::string>();
    if (auto error = pattern_error(grant)) {
      return refuse("bad_grant", place + " is not a topic or pattern: " + *error);
    }
    out.push_back(std::move(grant));
  }
  return out;
}

}  // namespace

Verifier::Verifier(VerifierOptions options) : options_(std::move(options)) {
  if (options_.public_key_pem.empty()) return;
  BIO* bio = BIO_new_mem_buf(options_.public_key_pem.data(),
                             static_cast<int>(options_.public_key_pem.size()));
  key_ = std::make_unique<Key>();
  key_->pkey = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (key_->pkey == nullptr) {
    throw std::invalid_argument("not a PEM public key (expected -----BEGIN PUBLIC KEY-----)");
  }
  switch (EVP_PKEY_get_base_id(key_->pkey)) {
    case EVP_PKEY_RSA:
      key_algorithm_ = "RS256";
      break;
    case EVP_PKEY_EC:
      if (EVP_PKEY_get_bits(key_->pkey) != 256) {
        throw std::invalid_argument("an EC key must be P-256 (ES256)");
      }
      key_algorithm_ = "ES256";
      break;
    default:
      throw std::invalid_argument("the public key must be RSA (RS256) or EC P-256 (ES256)");
  }
}

Verifier::~Verifier() = default;

std::string describe(const Refusal& refusal) {
  return "token rejected (" + refusal.reason + "): " + refusal.message;
}

bool granted(const std::vector<std::string>& grants, std::string_view topic) {
  return std::any_of(grants.begin(), grants.end(),
                     [&](const std::string& grant) { return pattern_covers(grant, topic); });
}

std::variant<Claims, Refusal> Verifier::verify(std::string_view token,
                                               std::chrono::system_clock::time_point now) const {
  const auto first = token.find('.');
  const auto second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
    return refuse("malformed", "a JWT is three base64url parts separated by dots");
  }
  const auto header_text = base64url_decode(token.substr(0, first));
  const auto payload_text = base64url_decode(token.substr(first + 1, second - first - 1));
  const auto signature = base64url_decode(token.substr(second + 1));
  if (!header_text || !payload_text || !signature) {
    return refuse("malformed", "a JWT part is not base64url");
  }
  const auto header = json::parse(*header_text, nullptr, false);
  const auto claims = json::parse(*payload_text, nullptr, false);
  if (!header.is_object() || !claims.is_object()) {
    return refuse("malformed", "the JWT header and claims must be JSON objects");
  }
  const auto alg_it = header.find("alg");
  if (alg_it == header.end() || !alg_it->is_string()) {
    return refuse("malformed", "the JWT header has no alg");
  }
  const auto alg = alg_it->get<std::string>();
  if (lower_ascii(alg) == "none")
    return refuse("alg_none", "unsigned tokens (alg none) are never accepted");

  const std::string_view signed_part = token.substr(0, second);
  bool valid = false;
  if (alg == "HS256" && !options_.hs256_secret.empty()) {
    valid = hs256_valid(options_.hs256_secret, signed_part, *signature);
  } else if (alg == key_algorithm_ && !key_algorithm_.empty()) {
    if (alg == "ES256") {
      const auto der = es256_to_der(*signature);
      valid = der && public_key_valid(key_->pkey, signed_part, *der);
    } else {
      valid = public_key_valid(key_->pkey, signed_part, *signature);
    }
  } else {
    return refuse("alg_not_allowed",
                  "algorithm " + alg.substr(0, 20) + " is not accepted by this broker");
  }
  if (!valid) return refuse("bad_signature", "the token's signature does not verify");

  const auto exp = claims.find("exp");
  if (exp == claims.end() || !exp->is_number()) {
    return refuse("missing_exp", "the token has no exp (expiry) claim");
  }
  // In whole seconds, clamped to years 1970..9999: nanoseconds (system_clock's unit here) end in
  // 2262, so an exp of 9999999999 ("never") would wrap to the past and an nbf in 2300 to "valid".
  const auto seconds = [](const json& value) {
    const double clamped =
        std::clamp(value.get<double>(), 0.0, static_cast<double>(kMaxTimestampSeconds));
    return std::chrono::sys_seconds(std::chrono::seconds(static_cast<std::int64_t>(clamped)));
  };
  const auto now_seconds = std::chrono::floor<std::chrono::seconds>(now);
  Claims granted;
  granted.expires = seconds(*exp);
  if (now_seconds > granted.expires + options_.leeway) {
    return refuse("expired", "the token has expired");
  }
  const auto nbf = claims.find("nbf");
  if (nbf != claims.end() && !nbf->is_number()) {
    return refuse("malformed", "the token's nbf is not a number of seconds");
  }
  if (nbf != claims.end() && now_seconds + options_.leeway < seconds(*nbf)) {
    return refuse("not_yet_valid", "the token is not valid yet (nbf)");
  }
  const auto claim = [&](const char* name) {
    const auto it = claims.find(name);
    return it == claims.end() ? json() : *it;
  };
  if (!options_.issuer.empty() && claim("iss") != json(options_.issuer)) {
    return refuse("bad_issuer", "the token's iss is not " + options_.issuer);
  }
  if (!options_.audience.empty()) {
    const auto aud = claim("aud");
    const bool held =
        aud == json(options_.audience) ||
        (aud.is_array() && std::find(aud.begin(), aud.end(), json(options_.audience)) != aud.end());
    if (!held) return refuse("bad_audience", "the token's aud does not name " + options_.audience);
  }
  if (const auto sub = claim("sub"); sub.is_string()) granted.subject = sub.get<std::string>();
  const auto kabar = claims.find("kabar");
  if (kabar != claims.end() && !kabar->is_object()) {
    return refuse("bad_grant", "the kabar claim must be an object of publish and subscribe grants");
  }
  if (kabar != claims.end()) {
    auto publish = grant_list(*kabar, "publish");
    if (auto* refusal = std::get_if<Refusal>(&publish)) return std::move(*refusal);
    auto subscribe = grant_list(*kabar, "subscribe");
    if (auto* refusal = std::get_if<Refusal>(&subscribe)) return std::move(*refusal);
    granted.publish = std::move(std::get<std::vector<std::string>>(publish));
    granted.subscribe = std::move(std::get<std::vector<std::string>>(subscribe));
  }
  return granted;
}

}  // namespace kabar::jwt
