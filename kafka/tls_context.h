// The TLS client context of one connection, made from the PEM files named in
// the cluster's options each time the connection opens (so that a fixed CA,
// certificate or key takes effect at the next reconnect, without a restart).
#pragma once

#include <memory>

#include <boost/asio/ssl.hpp>

#include "kafka/asio.h"
#include "kafka/error.h"
#include "kafka/security.h"

namespace klink::kafka {

// TLS 1.2 or newer, the broker's certificate verified (against ca_file or
// the system store), the client certificate and key of mTLS loaded. Fails
// with client_errc::tls, saying which file and why.
result<std::unique_ptr<asio::ssl::context>> make_tls_context(const tls_options& tls);

// Whether an I/O error came from TLS rather than from the network.
bool is_tls_error(const boost::system::error_code& ec);

}  // namespace klink::kafka
