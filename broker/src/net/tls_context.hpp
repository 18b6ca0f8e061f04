#pragma once

#include <boost/asio/ssl/context.hpp>
#include <memory>

#include "kabar/broker/config.hpp"

namespace kabar::broker {

/// The listener's TLS context: TLS 1.2 and 1.3 only, the certificate chain and key from PEM
/// files, checked against each other. Throws std::invalid_argument naming the file and
/// OpenSSL's reason.
std::unique_ptr<boost::asio::ssl::context> make_tls_context(const TlsOptions& options);

}  // namespace kabar::broker
