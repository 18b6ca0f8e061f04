#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace kabar::test {

/// PEM files of a self-signed certificate and its key, made at test time.
struct TestCertificate {
  std::filesystem::path certificate;
  std::filesystem::path private_key;
};

/// A P-256 certificate valid for the last hour and the next day, naming `hosts` (DNS names and
/// IP addresses) as subject alternative names; written to `dir` as `name`.pem and `name`.key.
TestCertificate make_self_signed_certificate(const std::filesystem::path& dir,
                                             const std::vector<std::string>& hosts = {"localhost",
                                                                                      "127.0.0.1"},
                                             const std::string& name = "broker");

/// What one TLS exchange with the broker saw.
struct TlsExchange {
  bool handshake_ok = false;
  std::string error;     ///< OpenSSL's reason when the handshake failed
  std::string protocol;  ///< "TLSv1.3", ...
  std::string response;  ///< everything read after sending the request, until the broker closed
};

/// Connects to 127.0.0.1:`port`, does a TLS handshake (verifying the broker against `ca_file`
/// when it is given; offering at most `max_version`, an OpenSSL *_VERSION constant, when it is
/// not 0), sends `request` and reads until the broker closes. Every wait is bounded.
TlsExchange tls_exchange(std::uint16_t port, const std::string& request,
                         const std::filesystem::path& ca_file = {}, int max_version = 0);

}  // namespace kabar::test
