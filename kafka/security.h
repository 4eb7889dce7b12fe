// How klink's client secures a connection to one cluster: TLS (with optional
// client certificate) and SASL. Secrets are never held in the config: the
// password is read from its file or environment variable at each
// authentication, so rewriting the file fixes a wrong password without a
// restart.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace klink::kafka {

struct tls_options {
  bool enabled = false;
  std::string ca_file;    // PEM; empty: the system's trust store
  std::string cert_file;  // PEM client certificate (mTLS); empty: none
  std::string key_file;   // PEM private key of cert_file
  bool verify_hostname = true;
};

enum class sasl_mechanism : uint8_t { none, plain, scram_sha_256, scram_sha_512 };

// "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512" (the names Kafka uses); "" for none.
std::string_view to_string(sasl_mechanism mechanism);

struct sasl_options {
  sasl_mechanism mechanism = sasl_mechanism::none;
  std::string username;
  std::string password_file;  // one of these two; the file's content is trimmed of
  std::string password_env;   // one trailing newline
};

struct security_options {
  tls_options tls;
  sasl_options sasl;
};

}  // namespace klink::kafka
