#pragma once

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

/// Signing JWTs in tests, with OpenSSL: what a newsroom's identity provider would issue.
namespace kabar::test {

/// A key pair made at test time: its public half as PEM, for the broker.
class SigningKey {
 public:
  static SigningKey rsa();   ///< RSA 2048, for RS256
  static SigningKey p256();  ///< EC P-256, for ES256
  ~SigningKey();
  SigningKey(SigningKey&&) noexcept;
  SigningKey& operator=(SigningKey&&) = delete;

  [[nodiscard]] std::string public_pem() const;
  /// header.claims.signature with this key (alg RS256 or ES256).
  [[nodiscard]] std::string sign(const nlohmann::json& claims) const;

 private:
  explicit SigningKey(void* pkey, std::string alg) : pkey_(pkey), alg_(std::move(alg)) {}
  void* pkey_;
  std::string alg_;
};

/// An HS256 token (or, with `alg`, a token claiming another algorithm but HMAC-signed).
std::string sign_hs256(const nlohmann::json& claims, const std::string& secret,
                       const std::string& alg = "HS256");
/// An unsigned token: alg as given ("none", "NoNe", ...), empty signature.
std::string unsigned_token(const nlohmann::json& claims, const std::string& alg);

/// exp (or any time claim) `from_now` seconds away.
std::int64_t seconds_from_now(std::int64_t from_now);

/// Claims granting publish and subscribe on the patterns given.
nlohmann::json grants(std::int64_t exp, std::vector<std::string> publish,
                      std::vector<std::string> subscribe);

}  // namespace kabar::test
