// libFuzzer target: the SCRAM messages a broker sends (kafka/sasl.h):
// server-first and server-final, and the base64 inside them. The key
// derivation after a server-first parses is not run here: PBKDF2's thousands
// of HMACs per input would leave little time for the parsers.
//
// Input: [selector] then the message; selector bit 0: server-final (else
// server-first, answering the client nonce below).
//
// Properties: an accepted server-first extends the client nonce, has a salt
// and an iteration count within Kafka's bounds; decoded base64 encodes and
// decodes back to the same bytes.
#include "fuzz_check.h"
#include "kafka/sasl.h"

namespace {

using namespace klink::kafka::sasl;
using klink::fuzz::check;

// The client nonce of RFC 7677's example exchange (the seeds use it).
constexpr std::string_view client_nonce = "rOprNGfwEbeRWgbNEkqO";

void check_base64(const std::string& decoded) {
  auto again = base64_decode(base64_encode(decoded));
  check(again.has_value() && *again == decoded, "base64 round trip");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string_view message = klink::fuzz::as_text(data + 1, size - 1);
  if ((data[0] & 1) != 0) {
    if (auto signature = parse_server_final(message)) check_base64(*signature);
  } else if (auto first = parse_server_first(message, client_nonce)) {
    check(first->nonce.size() > client_nonce.size() && first->nonce.starts_with(client_nonce),
          "the server nonce extends the client nonce");
    check(!first->salt.empty(), "a salt");
    check(first->iterations >= scram_min_iterations && first->iterations <= scram_max_iterations,
          "iterations within Kafka's bounds");
    check_base64(first->salt);
  }
  if (auto decoded = base64_decode(message)) check_base64(*decoded);
  return 0;
}
