// Request framing and strict response decoding on top of the generated
// messages: the only glue a connection needs.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

#include "kafka/protocol/header.h"
#include "kafka/protocol/wire.h"

namespace klink::kafka {

// Appends one complete request frame: int32 size, header, body. Several
// frames may be appended to one writer (pipelining).
template <class Req>
void encode_request_frame(wire_writer& w, const Req& req, int16_t version, int32_t correlation_id,
                          std::string_view client_id) {
  const std::size_t start = w.size();
  const std::size_t size_at = w.reserve_int32();
  const int16_t header_version = request_header_version(Req::api_key, version);
  w.write_int16(Req::api_key);
  w.write_int16(version);
  w.write_int32(correlation_id);
  w.write_string(client_id, false);             // int16 length even in header v2
  if (header_version >= 2) w.write_uvarint(0);  // no tagged fields
  req.encode(w, version);
  w.patch_int32(size_at, static_cast<int32_t>(w.size() - start - 4));
}

// Decodes exactly one message: trailing bytes are an error, because they
// mean the version or the schema disagrees with the peer.
template <class M>
std::expected<M, decode_error> decode_message(bytes_view bytes, int16_t version) {
  wire_reader r(bytes);
  M m;
  if (auto st = m.decode(r, version); !st) return std::unexpected(std::move(st.error()));
  if (r.remaining() != 0) {
    return std::unexpected(
        decode_error{std::to_string(r.remaining()) + " trailing bytes after message", r.offset()});
  }
  return m;
}

// `after_header` is the frame body after the response header. Records in the
// result point into it.
template <class Resp>
std::expected<Resp, decode_error> decode_response_body(bytes_view after_header, int16_t version) {
  return decode_message<Resp>(after_header, version);
}

inline std::expected<response_header, decode_error> decode_response_header(wire_reader& r,
                                                                           int16_t header_version) {
  response_header h;
  if (auto st = h.decode(r, header_version); !st) return std::unexpected(std::move(st.error()));
  return h;
}

}  // namespace klink::kafka
