// The client side of SASL PLAIN and SCRAM-SHA-256/512 as Kafka speaks them:
// pure message logic, no socket, so that it can be tested against the RFC
// vectors. connection.cpp carries these messages in SaslAuthenticate.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

#include "kafka/error.h"
#include "kafka/protocol/bytes.h"
#include "kafka/security.h"

namespace klink::kafka::sasl {

// RFC 4616 without an authorization identity: "\0username\0password".
byte_vector plain_message(std::string_view username, std::string_view password);

// RFC 5802 saslname: '=' becomes "=3D" and ',' becomes "=2C".
std::string escape_saslname(std::string_view name);

// Standard base64 with padding (what SCRAM uses for salts, proofs and signatures).
std::string base64_encode(std::string_view bytes);
// Strict: rejects characters outside the alphabet and bad padding.
result<std::string> base64_decode(std::string_view text);

enum class scram_hash : uint8_t { sha_256, sha_512 };

// Kafka refuses fewer iterations than this (ScramMechanism.minIterations);
// so does klink, so that a fake server cannot make the proof cheap to attack.
inline constexpr int scram_min_iterations = 4096;
// Kafka stores no credential with more (ScramMechanism.maxIterations); klink
// refuses more, because PBKDF2 runs on the daemon's one thread: a server
// asking for 2^31 iterations would stall every link for hours.
inline constexpr int scram_max_iterations = 16384;

// What a server-first message ("r=<nonce>,s=<salt>,i=<iterations>") says,
// checked: the nonce extends the client's, the salt is base64 and not empty,
// the iteration count is within scram_min_iterations .. scram_max_iterations.
struct scram_server_first {
  std::string nonce;
  std::string salt;  // decoded
  int iterations = 0;
};
result<scram_server_first> parse_server_first(std::string_view message,
                                              std::string_view client_nonce);

// The server's signature (decoded) in a server-final message "v=<signature>";
// an "e=<error>" message is an error naming what the server said.
result<std::string> parse_server_final(std::string_view message);

// A printable nonce of 32 letters and digits from OpenSSL's RNG.
std::string random_nonce();

// One SCRAM exchange (RFC 5802, RFC 7677) as Kafka's ScramSaslClient does it:
// no channel binding ("biws" = base64("n,,")), no authorization identity, no
// SASLprep (Kafka sends the password's UTF-8 bytes as they are). Errors are
// strings that never contain the password. Single use; lives on the
// connection's executor for the length of one authentication.
class scram_client {
 public:
  scram_client(scram_hash hash, std::string username, std::string password,
               std::string client_nonce = random_nonce());
  ~scram_client();
  scram_client(const scram_client&) = delete;
  scram_client& operator=(const scram_client&) = delete;

  // "n,,n=<user>,r=<client nonce>"
  std::string first_message();
  // Parses server-first ("r=...,s=...,i=..."), derives the keys and returns
  // client-final "c=biws,r=<nonce>,p=<proof>".
  result<std::string> final_message(std::string_view server_first);
  // Checks server-final "v=<signature>" (or reports "e=<error>"): proves that
  // the broker knows the password too.
  result<void> verify(std::string_view server_final);

  static constexpr int min_iterations = scram_min_iterations;

 private:
  enum class step : uint8_t { initial, first_sent, final_sent, done, failed };
  scram_hash hash_;
  std::string username_;
  std::string password_;
  std::string client_nonce_;
  std::string client_first_bare_;
  std::string expected_server_signature_;  // raw bytes
  step step_ = step::initial;
};

// What a SCRAM server stores for a user and how it checks a client: used by
// the unit tests to play the broker's side. Raw bytes in std::string.
struct scram_server_keys {
  std::string stored_key;
  std::string server_key;
};
scram_server_keys scram_derive_server_keys(scram_hash hash, std::string_view password,
                                           std::string_view salt, int iterations);
std::string scram_hmac(scram_hash hash, std::string_view key, std::string_view data);
std::string scram_digest(scram_hash hash, std::string_view data);

// The password for `options`, read now from password_file (one trailing
// newline trimmed) or from the environment variable password_env. Reading a
// small file on the io thread at connect time is accepted: it happens once
// per connection. The error names the file or variable, never the content.
result<std::string> read_password(const sasl_options& options);

}  // namespace klink::kafka::sasl
