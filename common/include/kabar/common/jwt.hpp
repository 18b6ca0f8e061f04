#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

/// A small JWT (RFC 7519) verifier over OpenSSL: HS256 with a shared secret, RS256 or ES256 with
/// a public key. Only the algorithms configured are accepted: "none", in any case, never is, and
/// an HS256 token is refused by a broker holding an RSA key (the classic HS/RS confusion).
namespace kabar::jwt {

struct VerifierOptions {
  std::string hs256_secret;    ///< empty: HS256 not accepted
  std::string public_key_pem;  ///< an RSA key (RS256) or a P-256 EC key (ES256); empty: neither
  std::string issuer;          ///< when set, `iss` must equal it
  std::string audience;        ///< when set, `aud` (a string or an array) must hold it
  std::chrono::seconds leeway{30};  ///< clock skew allowed on exp and nbf
};

/// What a valid token grants.
struct Claims {
  std::string subject;
  std::chrono::sys_seconds expires;    ///< whole seconds: years up to 9999 without overflow
  std::vector<std::string> publish;    ///< topics or patterns the holder may publish to
  std::vector<std::string> subscribe;  ///< topics or patterns the holder may subscribe to
};

/// Why a token was refused: a stable reason (for logs, metrics and clients) and a message.
struct Refusal {
  std::string reason;  ///< malformed, alg_none, alg_not_allowed, bad_signature, expired,
                       ///< not_yet_valid, missing_exp, bad_issuer, bad_audience, bad_grant
  std::string message;
};

/// "token rejected (REASON): MESSAGE": what a client is told of a refusal, wherever it came.
[[nodiscard]] std::string describe(const Refusal& refusal);

/// Whether any of `grants` (valid patterns, as a verified token holds) covers `topic`.
[[nodiscard]] bool granted(const std::vector<std::string>& grants, std::string_view topic);

class Verifier {
 public:
  /// Throws std::invalid_argument when the key cannot be read.
  explicit Verifier(VerifierOptions options);
  ~Verifier();
  Verifier(const Verifier&) = delete;
  Verifier& operator=(const Verifier&) = delete;

  [[nodiscard]] std::variant<Claims, Refusal> verify(
      std::string_view token,
      std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) const;

 private:
  struct Key;
  VerifierOptions options_;
  std::unique_ptr<Key> key_;
  std::string key_algorithm_;  // RS256 or ES256, or empty
};

}  // namespace kabar::jwt
