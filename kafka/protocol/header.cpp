#include "kafka/protocol/header.h"

#include "kafka/messages/api_table.h"

namespace klink::kafka {

namespace {
constexpr int16_t api_versions_key = 18;
}  // namespace

void request_header::encode(wire_writer& w, int16_t header_version) const {
  w.write_int16(api_key);
  w.write_int16(api_version);
  w.write_int32(correlation_id);
  if (header_version >= 1) w.write_nullable_string(client_id, false);
  if (header_version >= 2) w.write_tagged_fields(unknown_tagged_fields);
}

std::expected<void, decode_error> request_header::decode(wire_reader& r, int16_t header_version) {
  *this = {};
  api_key = r.read_int16();
  api_version = r.read_int16();
  correlation_id = r.read_int32();
  if (header_version >= 1) client_id = r.read_nullable_string(false);
  if (header_version >= 2) r.read_tagged_fields(unknown_tagged_fields);
  return r.status();
}

void response_header::encode(wire_writer& w, int16_t header_version) const {
  w.write_int32(correlation_id);
  if (header_version >= 1) w.write_tagged_fields(unknown_tagged_fields);
}

std::expected<void, decode_error> response_header::decode(wire_reader& r, int16_t header_version) {
  *this = {};
  correlation_id = r.read_int32();
  if (header_version >= 1) r.read_tagged_fields(unknown_tagged_fields);
  return r.status();
}

int16_t request_header_version(int16_t api_key, int16_t api_version) {
  const auto* api = msg::find_api(api_key);
  if (api && api->first_flexible_request_version >= 0 &&
      api_version >= api->first_flexible_request_version) {
    return 2;
  }
  return 1;
}

int16_t response_header_version(int16_t api_key, int16_t api_version) {
  if (api_key == api_versions_key) return 0;
  const auto* api = msg::find_api(api_key);
  if (api && api->first_flexible_response_version >= 0 &&
      api_version >= api->first_flexible_response_version) {
    return 1;
  }
  return 0;
}

}  // namespace klink::kafka
