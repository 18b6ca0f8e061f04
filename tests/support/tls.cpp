#include "tls.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <memory>
#include <stdexcept>

#include "raw_ws.hpp"

namespace kabar::test {

namespace {

template <auto Free>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    Free(p);
  }
};
using Key = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using Certificate = std::unique_ptr<X509, Deleter<X509_free>>;
using Extension = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION_free>>;
using File = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using Context = std::unique_ptr<SSL_CTX, Deleter<SSL_CTX_free>>;
using Connection = std::unique_ptr<SSL, Deleter<SSL_free>>;

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("making a test certificate: ") + what);
}

std::string last_ssl_error() {
  const auto code = ERR_get_error();
  if (code == 0) return "connection closed during the handshake";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

}  // namespace

TestCertificate make_self_signed_certificate(const std::filesystem::path& dir,
                                             const std::vector<std::string>& hosts,
                                             const std::string& name) {
  Key key(EVP_EC_gen("P-256"));
  check(key != nullptr, "EC key");
  Certificate certificate(X509_new());
  check(X509_set_version(certificate.get(), 2) == 1, "version");
  ASN1_INTEGER_set(X509_get_serialNumber(certificate.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(certificate.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(certificate.get()), 24 * 3600);
  check(X509_set_pubkey(certificate.get(), key.get()) == 1, "public key");
  auto* subject = X509_get_subject_name(certificate.get());
  const std::string common_name = "kabar test " + name;
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                             0);
  check(X509_set_issuer_name(certificate.get(), subject) == 1, "issuer");
  std::string names;
  for (const auto& host : hosts) {
    if (!names.empty()) names += ',';
    in_addr ignored{};
    names += (inet_pton(AF_INET, host.c_str(), &ignored) == 1 ? "IP:" : "DNS:") + host;
  }
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, certificate.get(), certificate.get(), nullptr, nullptr, 0);
  Extension alt_names(X509V3_EXT_conf_nid(nullptr, &context, NID_subject_alt_name, names.c_str()));
  check(alt_names != nullptr && X509_add_ext(certificate.get(), alt_names.get(), -1) == 1,
        "subject alternative names");
  check(X509_sign(certificate.get(), key.get(), EVP_sha256()) > 0, "signature");

  TestCertificate files{dir / (name + ".pem"), dir / (name + ".key")};
  File pem(BIO_new_file(files.certificate.c_str(), "w"));
  check(pem != nullptr && PEM_write_bio_X509(pem.get(), certificate.get()) == 1, "writing .pem");
  File key_file(BIO_new_file(files.private_key.c_str(), "w"));
  check(key_file != nullptr && PEM_write_bio_PrivateKey(key_file.get(), key.get(), nullptr, nullptr,
                                                        0, nullptr, nullptr) == 1,
        "writing .key");
  return files;
}

TlsExchange tls_exchange(std::uint16_t port, const std::string& request,
                         const std::filesystem::path& ca_file, int max_version) {
  TlsExchange result;
  const int fd = connect_loopback(port);
  Context context(SSL_CTX_new(TLS_client_method()));
  if (max_version != 0) {
    SSL_CTX_set_security_level(context.get(), 0);  // let the client offer old versions at all
    SSL_CTX_set_min_proto_version(context.get(), TLS1_VERSION);
    SSL_CTX_set_max_proto_version(context.get(), max_version);
  }
  if (!ca_file.empty()) {
    SSL_CTX_load_verify_locations(context.get(), ca_file.c_str(), nullptr);
    SSL_CTX_set_verify(context.get(), SSL_VERIFY_PEER, nullptr);
  }
  Connection ssl(SSL_new(context.get()));
  SSL_set_fd(ssl.get(), fd);
  ERR_clear_error();
  if (SSL_connect(ssl.get()) != 1) {
    result.error = last_ssl_error();
  } else {
    result.handshake_ok = true;
    result.protocol = SSL_get_version(ssl.get());
    SSL_write(ssl.get(), request.data(), static_cast<int>(request.size()));
    char buffer[4096];
    for (int n = 0; (n = SSL_read(ssl.get(), buffer, sizeof buffer)) > 0;) {
      result.response.append(buffer, static_cast<std::size_t>(n));
    }
  }
  ssl.reset();
  ::close(fd);
  return result;
}

}  // namespace kabar::test
