// libFuzzer: any token a client may present (Connect.token, Authorization: Bearer,
// ?access_token=) through the verifier configured for HS256: refused with a reason, never a
// crash. The seed corpus holds valid, expired and unsigned tokens.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "kabar/common/jwt.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const kabar::jwt::Verifier verifier(kabar::jwt::VerifierOptions{
      "an HS256 secret of at least 32 bytes, for fuzzing", {}, "issuer", "kabar", {}});
  (void)verifier.verify(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
