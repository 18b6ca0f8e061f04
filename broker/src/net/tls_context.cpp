#include "net/tls_context.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <stdexcept>
#include <string>

namespace kabar::broker {

namespace ssl = boost::asio::ssl;

std::unique_ptr<ssl::context> make_tls_context(const TlsOptions& options) {
  auto context = std::make_unique<ssl::context>(ssl::context::tls_server);
  SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION);
  context->set_options(ssl::context::default_workarounds | ssl::context::no_compression |
                       ssl::context::single_dh_use);
  // An encrypted key is refused, not prompted for on the terminal.
  context->set_password_callback(
      [](std::size_t, ssl::context::password_purpose) { return std::string(); });
  boost::system::error_code ec;
  context->use_certificate_chain_file(options.certificate_file, ec);
  if (ec) {
    throw std::invalid_argument("--tls-cert " + options.certificate_file +
                                ": not a usable PEM certificate chain (" + ec.message() + ")");
  }
  context->use_private_key_file(options.private_key_file, ssl::context::pem, ec);
  if (ec && ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == X509_R_KEY_VALUES_MISMATCH) {
    throw std::invalid_argument("--tls-key " + options.private_key_file +
                                " does not belong to the certificate in --tls-cert " +
                                options.certificate_file);
  }
  if (ec) {
    throw std::invalid_argument("--tls-key " + options.private_key_file +
                                ": not a usable unencrypted PEM private key (" + ec.message() +
                                ")");
  }
  if (SSL_CTX_check_private_key(context->native_handle()) != 1) {
    throw std::invalid_argument("--tls-key " + options.private_key_file +
                                " does not belong to the certificate in --tls-cert " +
                                options.certificate_file);
  }
  return context;
}

}  // namespace kabar::broker
