#include "kafka/tls_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace klink::kafka {

namespace {

// The reason of the newest error on OpenSSL's (thread-local) error queue,
// e.g. "No such file or directory", "no start line", "bad decrypt".
std::string openssl_reason() {
  const unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  const char* reason = ERR_reason_error_string(code);
  if (reason != nullptr) return reason;
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

// An encrypted private key would make OpenSSL prompt on the terminal from the
// io thread; klink has no passphrase option, so decryption simply fails.
int refuse_passphrase(char*, int, int, void*) {
  return 0;
}

klink::error tls_failure(std::string text) {
  return klink::error(client_errc::tls, {}, std::move(text));
}

}  // namespace

// A context per connection (not per cluster): building one costs a PEM parse
// of small files, and it is what makes a fixed CA, certificate or key file
// take effect at the next reconnect without a restart. The files are read on
// the io thread; they are a few KB and read once per connect, accepted.
result<std::unique_ptr<asio::ssl::context>> make_tls_context(const tls_options& tls) {
  auto context = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
  SSL_CTX* native = context->native_handle();
  ERR_clear_error();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_verify(native, SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_default_passwd_cb(native, refuse_passphrase);
  if (tls.ca_file.empty()) {
    if (SSL_CTX_set_default_verify_paths(native) != 1) {
      return std::unexpected(
          tls_failure("cannot load the system's trusted CA certificates: " + openssl_reason()));
    }
  } else if (SSL_CTX_load_verify_locations(native, tls.ca_file.c_str(), nullptr) != 1) {
    return std::unexpected(
        tls_failure("cannot load CA file " + tls.ca_file + ": " + openssl_reason()));
  }
  if (!tls.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(native, tls.cert_file.c_str()) != 1) {
      return std::unexpected(
          tls_failure("cannot load client certificate " + tls.cert_file + ": " + openssl_reason()));
    }
    // A key in the certificate's own PEM file is allowed.
    const std::string& key = tls.key_file.empty() ? tls.cert_file : tls.key_file;
    if (SSL_CTX_use_PrivateKey_file(native, key.c_str(), SSL_FILETYPE_PEM) != 1) {
      // OpenSSL checks the key against the certificate while loading it.
      if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
        ERR_clear_error();
        return std::unexpected(
            tls_failure("private key " + key + " does not match certificate " + tls.cert_file));
      }
      return std::unexpected(tls_failure("cannot load private key " + key +
                                         " (unencrypted PEM expected): " + openssl_reason()));
    }
    if (SSL_CTX_check_private_key(native) != 1) {
      return std::unexpected(
          tls_failure("private key " + key + " does not match certificate " + tls.cert_file));
    }
  }
  return context;
}

bool is_tls_error(const boost::system::error_code& ec) {
  return ec.category() == asio::error::get_ssl_category() ||
         ec == asio::ssl::error::stream_truncated;
}

}  // namespace klink::kafka
