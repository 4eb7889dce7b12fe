// Kafka request and response headers (hand-written: the header specs are
// tiny and their version rules are quirks, not data).
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <vector>

#include "kafka/protocol/wire.h"

namespace klink::kafka {

// v0: key, version, correlation id. v1: + client_id (int16-length nullable
// string). v2: + tagged fields; client_id keeps its int16 length.
struct request_header {
  int16_t api_key = 0;
  int16_t api_version = 0;
  int32_t correlation_id = 0;
  std::optional<std::string> client_id;
  std::vector<tagged_field> unknown_tagged_fields;

  void encode(wire_writer& w, int16_t header_version) const;
  std::expected<void, decode_error> decode(wire_reader& r, int16_t header_version);
  bool operator==(const request_header&) const = default;
};

// v0: correlation id. v1: + tagged fields.
struct response_header {
  int32_t correlation_id = 0;
  std::vector<tagged_field> unknown_tagged_fields;

  void encode(wire_writer& w, int16_t header_version) const;
  std::expected<void, decode_error> decode(wire_reader& r, int16_t header_version);
  bool operator==(const response_header&) const = default;
};

// 2 for flexible versions, else 1. API keys klink does not generate are
// assumed non-flexible.
int16_t request_header_version(int16_t api_key, int16_t api_version);
// 1 for flexible versions, else 0; ApiVersions responses always use 0 so
// that a client can parse the answer before it knows what the broker speaks.
int16_t response_header_version(int16_t api_key, int16_t api_version);

}  // namespace klink::kafka
