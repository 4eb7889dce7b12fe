// libFuzzer target: every generated request and response type at every
// version, and the response header a connection reads before the body.
//
// Input: [api key][version][mode] then the bytes. mode bit 0: decode as the
// request (else the response); bit 1: the bytes are a whole response frame
// after its size prefix (header + body), as tests/unit/fixtures and
// KLINK_PROTOCOL_CAPTURE_DIR hold them. An api key or version klink does not
// generate decodes nothing.
//
// Property: whatever decodes re-encodes to bytes that decode and re-encode
// identically (the decoders accept non-canonical input, so the first encoding
// may differ from the input); the header round-trips too.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "kafka/messages/all.h"
#include "kafka/protocol/frame.h"

namespace {

using namespace klink::kafka;

template <class M>
void round_trip(bytes_view input, int16_t v) {
  auto decoded = decode_message<M>(input, v);
  if (!decoded) return;
  wire_writer w1;
  decoded->encode(w1, v);
  const byte_vector once = w1.flatten();
  auto again = decode_message<M>(once, v);
  if (!again) std::abort();
  wire_writer w2;
  again->encode(w2, v);
  if (w2.flatten() != once) std::abort();
}

// The connection's read: header (v0: correlation id; v1: + tagged fields),
// then the body decoded strictly.
template <class Resp>
void frame(int16_t api_key, bytes_view input, int16_t v) {
  wire_reader r(input);
  const int16_t header_version = response_header_version(api_key, v);
  auto header = decode_response_header(r, header_version);
  if (!header) return;
  wire_writer w;
  header->encode(w, header_version);
  const byte_vector encoded = w.flatten();
  wire_reader again(encoded);
  auto decoded = decode_response_header(again, header_version);
  if (!decoded || again.remaining() != 0 || *decoded != *header) std::abort();
  round_trip<Resp>(input.subspan(r.offset()), v);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const auto api_key = static_cast<int16_t>(data[0]);
  const auto version = static_cast<int16_t>(data[1]);
  const uint8_t mode = data[2];
  const bytes_view input = as_bytes_view(data + 3, size - 3);
  msg::for_each_api([&]<class Api>(std::type_identity<Api>) {
    using Resp = typename Api::response;
    if (Api::key != api_key || version < Api::min_version || version > Api::max_version) return;
    if ((mode & 2) != 0) {
      frame<Resp>(api_key, input, version);
    } else if ((mode & 1) != 0) {
      round_trip<typename Api::request>(input, version);
    } else {
      round_trip<Resp>(input, version);
    }
  });
  return 0;
}
