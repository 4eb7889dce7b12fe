// The secure half of a connection: the TLS handshake (with the broker's host
// name checked) and SASL (SaslHandshake v1, then PLAIN or SCRAM rounds in
// SaslAuthenticate), and when to re-authenticate (kafka/SECURITY.md).
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cstring>
#include <random>

#include "kafka/connection.h"
#include "kafka/error_code.h"
#include "kafka/messages/sasl_authenticate.h"
#include "kafka/messages/sasl_handshake.h"
#include "kafka/sasl.h"
#include "kafka/tls_context.h"

namespace klink::kafka {

namespace {
using asio::use_awaitable;
using io_error = boost::system::error_code;

// Where in [85%, 90%] of the session lifetime to switch to a fresh
// connection: the Java client also picks a random point so that the
// connections of many clients do not all renew at the same moment.
double reauth_fraction() {
  thread_local std::minstd_rand random(std::random_device{}());
  return 0.85 + 0.05 * std::uniform_real_distribution<double>(0.0, 1.0)(random);
}

byte_vector to_bytes(std::string_view text) {
  byte_vector out(text.size());
  std::memcpy(out.data(), text.data(), text.size());
  return out;
}

std::string_view as_text(const byte_vector& bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}
}  // namespace

asio::awaitable<result<void>> connection::tls_handshake() {
  auto self = shared_from_this();
  SSL* ssl = tls_stream_->native_handle();
  const std::string& host = address_.host;
  io_error not_ip;
  asio::ip::make_address(host, not_ip);
  // OpenSSL's own host check (SSL_set1_host / X509_VERIFY_PARAM_set1_ip_asc)
  // rather than asio::ssl::host_name_verification: it performs the same
  // X509_check_host / X509_check_ip, but a mismatch is then reported as the
  // verify result ("hostname mismatch", "IP address mismatch") instead of a
  // bare "certificate verify failed".
  if (not_ip) {
    // SNI carries host names only (RFC 6066), never IP literals.
    SSL_set_tlsext_host_name(ssl, host.c_str());
    if (options_.security.tls.verify_hostname) {
      SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      SSL_set1_host(ssl, host.c_str());
    }
  } else if (options_.security.tls.verify_hostname) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str());
  }
  io_error ec;
  co_await tls_stream_->async_handshake(asio::ssl::stream_base::client,
                                        asio::redirect_error(use_awaitable, ec));
  if (!ec) co_return result<void>{};
  const std::string prefix = "TLS handshake with " + address_.to_string() + " failed: ";
  if (const long verify = SSL_get_verify_result(ssl); verify != X509_V_OK) {
    co_return std::unexpected(klink::error(
        client_errc::tls, {},
        prefix + "certificate verify failed: " + X509_verify_cert_error_string(verify)));
  }
  if (ec == asio::ssl::error::stream_truncated || ec == asio::error::eof ||
      ec == asio::error::connection_reset) {
    // What a PLAINTEXT listener does with a ClientHello (it reads it as an
    // oversized request and hangs up), or a broker refusing the client.
    co_return std::unexpected(klink::error(
        client_errc::tls, {},
        prefix + "the broker closed the connection (" + ec.message() + "; is it a TLS listener?)"));
  }
  co_return std::unexpected(klink::error(is_tls_error(ec) ? client_errc::tls : client_errc::network,
                                         {}, prefix + ec.message()));
}

asio::awaitable<result<msg::sasl_authenticate_response>> connection::sasl_round(
    byte_vector auth_bytes, int16_t version) {
  msg::sasl_authenticate_request request;
  request.auth_bytes = std::move(auth_bytes);
  auto reply = co_await exchange<msg::sasl_authenticate_api>(request, version, {});
  // The request held the password (PLAIN) or a proof: wipe it, not just free it.
  if (!request.auth_bytes.empty())
    OPENSSL_cleanse(request.auth_bytes.data(), request.auth_bytes.size());
  if (!reply) co_return std::unexpected(reply.error());
  co_return std::move(reply->body);
}

asio::awaitable<result<void>> connection::authenticate() {
  auto self = shared_from_this();
  const auto& options = options_.security.sasl;
  const std::string mechanism(to_string(options.mechanism));
  // SaslHandshake v1 (Kafka 1.0+) is what puts the SASL bytes inside
  // SaslAuthenticate requests; klink does not speak the older raw-token form.
  const auto handshake_version = version_for<msg::sasl_handshake_api>();
  const auto authenticate_version = version_for<msg::sasl_authenticate_api>();
  if (!handshake_version || *handshake_version < 1 || !authenticate_version) {
    co_return std::unexpected(klink::error(
        client_errc::unsupported_version, {},
        "broker " + address_.to_string() +
            " does not offer SaslHandshake v1 and SaslAuthenticate (Kafka 1.0 or newer needed)"));
  }
  msg::sasl_handshake_request handshake;
  handshake.mechanism = mechanism;
  auto offered = co_await exchange<msg::sasl_handshake_api>(handshake, 1, {});
  if (!offered) co_return std::unexpected(offered.error());
  if (offered->body.error_code != 0) {
    std::string enabled;
    for (const auto& m : offered->body.mechanisms)
      enabled += (enabled.empty() ? "" : ", ") + m;
    if (offered->body.error_code == static_cast<int16_t>(error_code::unsupported_sasl_mechanism)) {
      co_return std::unexpected(sasl_refusal("the broker does not enable " + mechanism +
                                             " (enabled: " + (enabled.empty() ? "none" : enabled) +
                                             ")"));
    }
    co_return std::unexpected(
        sasl_refusal(std::string(error_name(to_error_code(offered->body.error_code)))));
  }
  // Read now, not at start-up: a rewritten password file is used at the next connect.
  auto password = sasl::read_password(options);
  if (!password) co_return std::unexpected(sasl_refusal(password.error().message()));
  auto last = co_await sasl_exchange(std::move(*password), *authenticate_version);
  if (!last) co_return std::unexpected(std::move(last.error()));
  if (last->session_lifetime_ms > 0) {
    const auto now = std::chrono::steady_clock::now();
    const auto lifetime = std::chrono::milliseconds(last->session_lifetime_ms);
    session_expiry_ = now + lifetime;
    reauth_due_ = now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            lifetime * reauth_fraction());
  }
  co_return result<void>{};
}

klink::error connection::sasl_refusal(const std::string& why) const {
  const auto& options = options_.security.sasl;
  return klink::error(client_errc::authentication, {},
                      "SASL " + std::string(to_string(options.mechanism)) + " authentication of '" +
                          options.username + "' with " + address_.to_string() + " failed: " + why);
}

asio::awaitable<result<msg::sasl_authenticate_response>> connection::sasl_exchange(
    std::string password, int16_t version) {
  const auto& options = options_.security.sasl;
  // Kafka's message never contains the password (it says e.g. "Invalid
  // username or password"); it is what an operator needs to see.
  auto answered = [&](result<msg::sasl_authenticate_response> reply)
      -> result<msg::sasl_authenticate_response> {
    if (!reply || reply->error_code == 0) return reply;
    std::string why(error_name(to_error_code(reply->error_code)));
    if (reply->error_message && !reply->error_message->empty()) why += ": " + *reply->error_message;
    return std::unexpected(sasl_refusal(why));
  };
  if (options.mechanism == sasl_mechanism::plain) {
    auto reply = co_await sasl_round(sasl::plain_message(options.username, password), version);
    OPENSSL_cleanse(password.data(), password.size());
    co_return answered(std::move(reply));
  }
  sasl::scram_client scram(options.mechanism == sasl_mechanism::scram_sha_256
                               ? sasl::scram_hash::sha_256
                               : sasl::scram_hash::sha_512,
                           options.username, password);
  OPENSSL_cleanse(password.data(), password.size());
  auto server_first = answered(co_await sasl_round(to_bytes(scram.first_message()), version));
  if (!server_first) co_return server_first;
  auto client_final = scram.final_message(as_text(server_first->auth_bytes));
  if (!client_final) co_return std::unexpected(sasl_refusal(client_final.error().message()));
  auto server_final = answered(co_await sasl_round(to_bytes(*client_final), version));
  if (!server_final) co_return server_final;
  auto verified = scram.verify(as_text(server_final->auth_bytes));
  if (!verified) co_return std::unexpected(sasl_refusal(verified.error().message()));
  co_return server_final;
}

bool connection::reauthentication_due() const {
  return reauth_due_ && std::chrono::steady_clock::now() >= *reauth_due_;
}

}  // namespace klink::kafka
