// Failures of a request as a whole, as opposed to Kafka error codes inside a
// response; carried in klink::error (kafka/error.h).
#pragma once

#include <cstdint>
#include <string>
#include <system_error>

namespace klink::kafka {

enum class client_errc : uint8_t {
  network = 1,          // connect/read/write failed or the broker closed the connection
  timeout,              // no response within request_timeout
  unsupported_version,  // the broker speaks no version of this API that klink knows
  decode,               // the response bytes do not parse: a protocol bug or corruption
  closed,               // the connection was closed locally (shutdown)
  no_broker,            // no known broker for the requested node id
  // TLS could not be set up: a PEM file does not load, the handshake fails,
  // the broker's certificate does not verify. Retrying without a change on
  // either side does not help: back off.
  tls,
  // SASL refused (wrong credentials, mechanism not enabled on the broker,
  // unreadable password file). The message is the broker's (or names the
  // file), never the password. Back off; never reconnect in a tight loop.
  authentication,
};

inline const char* to_string(client_errc c) {
  switch (c) {
    case client_errc::network:
      return "network";
    case client_errc::timeout:
      return "timeout";
    case client_errc::unsupported_version:
      return "unsupported_version";
    case client_errc::decode:
      return "decode";
    case client_errc::closed:
      return "closed";
    case client_errc::no_broker:
      return "no_broker";
    case client_errc::tls:
      return "tls";
    case client_errc::authentication:
      return "authentication";
  }
  return "unknown";
}

const std::error_category& client_category();
inline std::error_code make_error_code(client_errc e) {
  return {static_cast<int>(e), client_category()};
}

}  // namespace klink::kafka

template <>
struct std::is_error_code_enum<klink::kafka::client_errc> : std::true_type {};
