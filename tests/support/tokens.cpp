#include "tokens.hpp"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <stdexcept>

namespace kabar::test {
namespace {

std::string base64url(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (const char c : bytes) {
    buffer = (buffer << 8) | static_cast<unsigned char>(c);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(buffer >> bits) & 0x3f]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(buffer << (6 - bits)) & 0x3f]);
  return out;
}

std::string signing_input(const std::string& alg, const nlohmann::json& claims) {
  return base64url(nlohmann::json{{"alg", alg}, {"typ", "JWT"}}.dump()) + "." +
         base64url(claims.dump());
}

EVP_PKEY* pkey(void* p) {
  return static_cast<EVP_PKEY*>(p);
}

}  // namespace

SigningKey SigningKey::rsa() {
  return SigningKey(EVP_RSA_gen(2048), "RS256");
}

SigningKey SigningKey::p256() {
  return SigningKey(EVP_EC_gen("P-256"), "ES256");
}

SigningKey::~SigningKey() {
  EVP_PKEY_free(pkey(pkey_));
}

SigningKey::SigningKey(SigningKey&& other) noexcept
    : pkey_(std::exchange(other.pkey_, nullptr)), alg_(std::move(other.alg_)) {}

std::string SigningKey::public_pem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, pkey(pkey_));
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<std::size_t>(size));
  BIO_free(bio);
  return pem;
}

std::string SigningKey::sign(const nlohmann::json& claims) const {
  const auto input = signing_input(alg_, claims);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::size_t size = 0;
  EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, pkey(pkey_));
  EVP_DigestSign(ctx, nullptr, &size, reinterpret_cast<const unsigned char*>(input.data()),
                 input.size());
  std::string signature(size, '\0');
  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(signature.data()), &size,
                 reinterpret_cast<const unsigned char*>(input.data()), input.size());
  EVP_MD_CTX_free(ctx);
  signature.resize(size);
  if (alg_ == "ES256") {  // DER -> r || s, 32 bytes each
    const auto* der = reinterpret_cast<const unsigned char*>(signature.data());
    ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &der, static_cast<long>(signature.size()));
    std::string raw(64, '\0');
    BN_bn2binpad(ECDSA_SIG_get0_r(sig), reinterpret_cast<unsigned char*>(raw.data()), 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(sig), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
    ECDSA_SIG_free(sig);
    signature = raw;
  }
  return input + "." + base64url(signature);
}

std::string sign_hs256(const nlohmann::json& claims, const std::string& secret,
                       const std::string& alg) {
  const auto input = signing_input(alg, claims);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &size);
  return input + "." + base64url(std::string_view(reinterpret_cast<char*>(mac), size));
}

std::string unsigned_token(const nlohmann::json& claims, const std::string& alg) {
  return signing_input(alg, claims) + ".";
}

std::int64_t seconds_from_now(std::int64_t from_now) {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
             .count() +
         from_now;
}

nlohmann::json grants(std::int64_t exp, std::vector<std::string> publish,
                      std::vector<std::string> subscribe) {
  return {{"sub", "tester"},
          {"exp", exp},
          {"kabar", {{"publish", std::move(publish)}, {"subscribe", std::move(subscribe)}}}};
}

}  // namespace kabar::test
