// Header versions, framing and strict body decoding.
#include <gtest/gtest.h>

#include "kafka/messages/all.h"
#include "kafka/protocol/frame.h"
#include "kafka/protocol/header.h"

namespace {

using namespace klink::kafka;

TEST(protocol_header, versions_follow_flexibility) {
  EXPECT_EQ(request_header_version(msg::fetch_api::key, 11), 1);
  EXPECT_EQ(request_header_version(msg::fetch_api::key, 12), 2);
  EXPECT_EQ(response_header_version(msg::fetch_api::key, 11), 0);
  EXPECT_EQ(response_header_version(msg::fetch_api::key, 12), 1);
  // ApiVersions answers with header v0 even in flexible versions.
  EXPECT_EQ(request_header_version(msg::api_versions_api::key, 3), 2);
  EXPECT_EQ(response_header_version(msg::api_versions_api::key, 3), 0);
  // SaslHandshake is never flexible.
  EXPECT_EQ(request_header_version(msg::sasl_handshake_api::key, 1), 1);
  EXPECT_EQ(response_header_version(msg::sasl_handshake_api::key, 1), 0);
  EXPECT_EQ(request_header_version(9999, 50), 1);
}

TEST(protocol_header, api_table_matches_traits) {
  msg::for_each_api([]<class Api>(std::type_identity<Api>) {
    const auto* info = msg::find_api(Api::key);
    ASSERT_NE(info, nullptr) << Api::name;
    EXPECT_EQ(info->name, Api::name);
    EXPECT_EQ(info->min_version, Api::min_version);
    EXPECT_EQ(info->max_version, Api::max_version);
    EXPECT_EQ(info->first_flexible_request_version, Api::request::first_flexible_version);
    EXPECT_EQ(Api::request::api_key, Api::response::api_key);
  });
  EXPECT_EQ(msg::known_apis().size(), 22u);
  EXPECT_EQ(msg::find_api(1234), nullptr);
}

TEST(protocol_header, request_header_round_trip) {
  for (int16_t hv : {0, 1, 2}) {
    request_header h{3, 12, 42, std::string("klink"), {}};
    if (hv == 0) h.client_id.reset();
    if (hv == 2) h.unknown_tagged_fields.push_back({5, byte_vector(2, std::byte{9})});
    wire_writer w;
    h.encode(w, hv);
    const auto b = w.flatten();
    wire_reader r(b);
    request_header d;
    ASSERT_TRUE(d.decode(r, hv).has_value());
    EXPECT_EQ(d, h);
    EXPECT_EQ(r.remaining(), 0u);
  }
}

TEST(protocol_header, request_frame_layout) {
  msg::metadata_request req;
  req.topics.emplace();
  req.topics->emplace_back().name = "t";
  wire_writer w;
  encode_request_frame(w, req, 12, 7, "cli");
  const auto b = w.flatten();
  wire_reader r(b);
  EXPECT_EQ(r.read_int32(), static_cast<int32_t>(b.size() - 4));
  request_header h;
  ASSERT_TRUE(h.decode(r, 2).has_value());
  EXPECT_EQ(h.api_key, 3);
  EXPECT_EQ(h.api_version, 12);
  EXPECT_EQ(h.correlation_id, 7);
  EXPECT_EQ(h.client_id, std::string("cli"));
  msg::metadata_request body;
  ASSERT_TRUE(body.decode(r, 12).has_value());
  EXPECT_EQ(body, req);
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(protocol_header, pipelined_frames_with_external_records) {
  const byte_vector batch(64, std::byte{0x42});
  msg::produce_request req;
  req.acks = -1;
  auto& p = req.topic_data.emplace_back().partition_data.emplace_back();
  p.records = bytes_view(batch);
  wire_writer w;
  encode_request_frame(w, req, 9, 1, "c");
  const std::size_t first = w.size();
  encode_request_frame(w, req, 3, 2, "c");
  const auto segs = w.segments();
  int external = 0;
  for (auto s : segs)
    external += s.data() == batch.data() ? 1 : 0;
  EXPECT_EQ(external, 2);
  const auto flat = w.flatten();
  wire_reader r(flat);
  EXPECT_EQ(static_cast<std::size_t>(r.read_int32()) + 4, first);
}

TEST(protocol_header, response_body_rejects_trailing_bytes) {
  msg::heartbeat_response resp;
  resp.error_code = 27;
  wire_writer w;
  response_header{5, {}}.encode(w, 1);
  resp.encode(w, 4);
  auto b = w.flatten();
  wire_reader r(b);
  auto h = decode_response_header(r, 1);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->correlation_id, 5);
  const bytes_view body = bytes_view(b).subspan(b.size() - r.remaining());
  auto ok = decode_response_body<msg::heartbeat_response>(body, 4);
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->error_code, 27);

  b.push_back(std::byte{0});
  const bytes_view longer = bytes_view(b).subspan(b.size() - r.remaining() - 1);
  auto bad = decode_response_body<msg::heartbeat_response>(longer, 4);
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().what.find("trailing"), std::string::npos);

  EXPECT_FALSE(decode_response_body<msg::heartbeat_response>(body, 99).has_value());
}

TEST(protocol_header, fetch_records_decode_zero_copy) {
  const byte_vector batch(32, std::byte{1});
  msg::fetch_response resp;
  auto& part = resp.responses.emplace_back().partitions.emplace_back();
  part.records = bytes_view(batch);
  part.current_leader.leader_id = 3;  // tagged in v12+
  wire_writer w;
  resp.encode(w, 16);
  const auto flat = w.flatten();
  auto d = decode_response_body<msg::fetch_response>(flat, 16);
  ASSERT_TRUE(d.has_value());
  const auto& rec = d->responses.at(0).partitions.at(0).records;
  ASSERT_TRUE(rec.has_value());
  EXPECT_GE(rec->data(), flat.data());
  EXPECT_LT(rec->data(), flat.data() + flat.size());
  EXPECT_EQ(d->responses[0].partitions[0].current_leader.leader_id, 3);
}

}  // namespace
