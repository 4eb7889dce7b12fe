#include "kafka/records.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "kafka/record_batch.h"

namespace klink::kafka {
namespace {

// Golden batches from a second implementation: librdkafka 2.0.2 (Debian's
// python3-confluent-kafka) produced three records into librdkafka's mock
// cluster, and a hand-written Fetch v4 request read the stored batch back:
//   key "key-1", value "value-1", headers h1="hv1", h2=null, ts 1700000000000
//   key null,    value "value-2 " x 10,                    ts 1700000000005
//   key "key-3", value null (tombstone),                   ts 1699999999990
// librdkafka writes snappy as a raw block (no xerial framing); its lz4 batch
// was made with enable.idempotence=true.
// librdkafka 2.0.2, compression.codec=none, enable.idempotence=false
constexpr unsigned char rdkafka_none_batch[] = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xb4, 0x00, 0x00, 0x00, 0x00,
    0x02, 0x2b, 0xcd, 0x72, 0x5f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x01, 0x8b, 0xcf,
    0xe5, 0x68, 0x00, 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x05, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x03, 0x3a, 0x00, 0x00,
    0x00, 0x0a, 0x6b, 0x65, 0x79, 0x2d, 0x31, 0x0e, 0x76, 0x61, 0x6c, 0x75, 0x65, 0x2d, 0x31, 0x04,
    0x04, 0x68, 0x31, 0x06, 0x68, 0x76, 0x31, 0x04, 0x68, 0x32, 0x01, 0xae, 0x01, 0x00, 0x0a, 0x02,
    0x01, 0xa0, 0x01, 0x76, 0x61, 0x6c, 0x75, 0x65, 0x2d, 0x32, 0x20, 0x76, 0x61, 0x6c, 0x75, 0x65,
    0x2d, 0x32, 0x20, 0x76, 0x61, 0x6c, 0x75, 0x65, 0x2d, 0x32, 0x20, 0x76, 0x61, 0x6c, 0x75, 0x65,
    0x2d, 0x32, 0x20, 0x76, 0x61, 0x6c, 0x75, 0x65, 0x2d, 0x32, 0x20, 0x76, 0x61, 0x6c, 0x75, 0x65,
    0x2d, 0x32, 0x20, 0x76, 0x61, 0x6c, 0x75, 0x65, 0x2d, 0x32, 0x20, 0x76, 0x61, 0x6c, 0x75, 0x65,
    0x2d, 0x32, 0x20, 0x76, 0x61, 0x6c, 0x75, 0x65, 0x2d, 0x32, 0x20, 0x76, 0x61, 0x6c, 0x75, 0x65,
    0x2d, 0x32, 0x20, 0x00, 0x16, 0x00, 0x13, 0x04, 0x0a, 0x6b, 0x65, 0x79, 0x2d, 0x33, 0x01, 0x00};

// librdkafka 2.0.2, compression.codec=gzip, enable.idempotence=false
constexpr unsigned char rdkafka_gzip_batch[] = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x7b, 0x00, 0x00, 0x00,
    0x00, 0x02, 0x3b, 0xc7, 0xed, 0x7f, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x01,
    0x8b, 0xcf, 0xe5, 0x68, 0x00, 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x05, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00,
    0x03, 0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xb3, 0x62, 0x60, 0x60,
    0xe0, 0xca, 0x4e, 0xad, 0xd4, 0x35, 0xe4, 0x2b, 0x4b, 0xcc, 0x29, 0x4d, 0xd5, 0x35, 0x64,
    0x61, 0xc9, 0x30, 0x64, 0xcb, 0x28, 0x33, 0x64, 0xc9, 0x30, 0x62, 0x5c, 0xc7, 0xc8, 0xc0,
    0xc5, 0xc4, 0xb8, 0x80, 0x11, 0x22, 0x65, 0xa4, 0x40, 0x2d, 0x9a, 0x41, 0x8c, 0x41, 0x98,
    0x05, 0x6c, 0xad, 0x31, 0x23, 0x03, 0x00, 0x53, 0xcd, 0xb0, 0x2a, 0x83, 0x00, 0x00, 0x00};

// librdkafka 2.0.2, compression.codec=snappy, enable.idempotence=false
constexpr unsigned char rdkafka_snappy_batch[] = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x75, 0x00, 0x00, 0x00,
    0x00, 0x02, 0x4d, 0x0a, 0x67, 0x2a, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x01,
    0x8b, 0xcf, 0xe5, 0x68, 0x00, 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x05, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00,
    0x03, 0x83, 0x01, 0x98, 0x3a, 0x00, 0x00, 0x00, 0x0a, 0x6b, 0x65, 0x79, 0x2d, 0x31, 0x0e,
    0x76, 0x61, 0x6c, 0x75, 0x65, 0x2d, 0x31, 0x04, 0x04, 0x68, 0x31, 0x06, 0x68, 0x76, 0x31,
    0x04, 0x68, 0x32, 0x01, 0xae, 0x01, 0x00, 0x0a, 0x02, 0x01, 0xa0, 0x01, 0x76, 0x05, 0x1b,
    0x04, 0x32, 0x20, 0x09, 0x23, 0xee, 0x08, 0x00, 0x09, 0x08, 0x30, 0x00, 0x16, 0x00, 0x13,
    0x04, 0x0a, 0x6b, 0x65, 0x79, 0x2d, 0x33, 0x01, 0x00};

// librdkafka 2.0.2, compression.codec=lz4, enable.idempotence=true
constexpr unsigned char rdkafka_lz4_batch[] = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x7e, 0x00, 0x00, 0x00, 0x00,
    0x02, 0x13, 0x5b, 0x82, 0x3d, 0x00, 0x03, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x01, 0x8b, 0xcf,
    0xe5, 0x68, 0x00, 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x05, 0x00, 0x00, 0x00, 0x00, 0x20,
    0xc6, 0xf5, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x04, 0x22, 0x4d,
    0x18, 0x60, 0x40, 0x82, 0x3e, 0x00, 0x00, 0x00, 0xf2, 0x17, 0x3a, 0x00, 0x00, 0x00, 0x0a, 0x6b,
    0x65, 0x79, 0x2d, 0x31, 0x0e, 0x76, 0x61, 0x6c, 0x75, 0x65, 0x2d, 0x31, 0x04, 0x04, 0x68, 0x31,
    0x06, 0x68, 0x76, 0x31, 0x04, 0x68, 0x32, 0x01, 0xae, 0x01, 0x00, 0x0a, 0x02, 0x01, 0xa0, 0x01,
    0x1b, 0x00, 0x2f, 0x32, 0x20, 0x08, 0x00, 0x35, 0xd0, 0x00, 0x16, 0x00, 0x13, 0x04, 0x0a, 0x6b,
    0x65, 0x79, 0x2d, 0x33, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00};

// librdkafka 2.0.2, compression.codec=zstd, enable.idempotence=false
constexpr unsigned char rdkafka_zstd_batch[] = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x79, 0x00, 0x00, 0x00,
    0x00, 0x02, 0x89, 0x01, 0x3f, 0x30, 0x00, 0x04, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x01,
    0x8b, 0xcf, 0xe5, 0x68, 0x00, 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x05, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00,
    0x03, 0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x58, 0xfd, 0x01, 0x00, 0x54, 0x03, 0x3a, 0x00, 0x00,
    0x00, 0x0a, 0x6b, 0x65, 0x79, 0x2d, 0x31, 0x0e, 0x76, 0x61, 0x6c, 0x75, 0x65, 0x2d, 0x31,
    0x04, 0x04, 0x68, 0x31, 0x06, 0x68, 0x76, 0x31, 0x04, 0x68, 0x32, 0x01, 0xae, 0x01, 0x00,
    0x0a, 0x02, 0x01, 0xa0, 0x01, 0x32, 0x20, 0x00, 0x16, 0x00, 0x13, 0x04, 0x0a, 0x6b, 0x65,
    0x79, 0x2d, 0x33, 0x01, 0x00, 0x02, 0x00, 0xb5, 0x82, 0xb0, 0x1d, 0x9b, 0x4f};

template <std::size_t N>
byte_vector copy_of(const unsigned char (&a)[N]) {
  auto p = reinterpret_cast<const std::byte*>(a);
  return byte_vector(p, p + N);
}

bytes_view sv(std::string_view s) {
  return as_bytes_view(s.data(), s.size());
}
std::string str(bytes_view b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

void expect_golden_records(const record_batch_view& batch, const decoded_records& d) {
  ASSERT_EQ(d.records.size(), 3u);
  const auto& r0 = d.records[0];
  EXPECT_EQ(r0.offset_delta, 0);
  EXPECT_EQ(batch.base_timestamp() + r0.timestamp_delta, 1700000000000);
  ASSERT_TRUE(r0.key && r0.value);
  EXPECT_EQ(str(*r0.key), "key-1");
  EXPECT_EQ(str(*r0.value), "value-1");
  ASSERT_EQ(r0.headers.size(), 2u);
  EXPECT_EQ(r0.headers[0].key, "h1");
  ASSERT_TRUE(r0.headers[0].value);
  EXPECT_EQ(str(*r0.headers[0].value), "hv1");
  EXPECT_EQ(r0.headers[1].key, "h2");
  EXPECT_FALSE(r0.headers[1].value);

  const auto& r1 = d.records[1];
  EXPECT_EQ(r1.offset_delta, 1);
  EXPECT_EQ(batch.base_timestamp() + r1.timestamp_delta, 1700000000005);
  EXPECT_FALSE(r1.key);
  ASSERT_TRUE(r1.value);
  std::string v2;
  for (int i = 0; i < 10; ++i)
    v2 += "value-2 ";
  EXPECT_EQ(str(*r1.value), v2);
  EXPECT_TRUE(r1.headers.empty());

  const auto& r2 = d.records[2];
  EXPECT_EQ(r2.offset_delta, 2);
  // Earlier than the base timestamp: a negative delta.
  EXPECT_EQ(r2.timestamp_delta, -10);
  ASSERT_TRUE(r2.key);
  EXPECT_EQ(str(*r2.key), "key-3");
  EXPECT_FALSE(r2.value);
}

struct golden {
  const char* name;
  byte_vector bytes;
  compression_codec codec;
};

std::vector<golden> goldens() {
  return {{"none", copy_of(rdkafka_none_batch), compression_codec::none},
          {"gzip", copy_of(rdkafka_gzip_batch), compression_codec::gzip},
          {"snappy", copy_of(rdkafka_snappy_batch), compression_codec::snappy},
          {"lz4", copy_of(rdkafka_lz4_batch), compression_codec::lz4},
          {"zstd", copy_of(rdkafka_zstd_batch), compression_codec::zstd}};
}

TEST(Records, DecodesLibrdkafkaBatchesOfEveryCodec) {
  for (auto& g : goldens()) {
    SCOPED_TRACE(g.name);
    auto batch = record_batch_view::from_bytes(g.bytes);
    ASSERT_TRUE(batch) << batch.error().message;
    EXPECT_TRUE(batch->crc_valid());
    EXPECT_EQ(batch->codec(), g.codec);
    EXPECT_EQ(batch->records_count(), 3);
    EXPECT_EQ(batch->last_offset_delta(), 2);
    EXPECT_EQ(batch->max_timestamp(), 1700000000005);
    EXPECT_FALSE(batch->has_offset_holes());
    auto d = decode_records(*batch);
    ASSERT_TRUE(d) << d.error().message;
    expect_golden_records(*batch, *d);
    if (g.codec == compression_codec::lz4) {
      EXPECT_GE(batch->producer_id(), 0);
      EXPECT_EQ(batch->producer_epoch(), 0);
      EXPECT_EQ(batch->base_sequence(), 0);
    } else {
      EXPECT_EQ(batch->producer_id(), -1);
    }
  }
}

TEST(Records, ReEncodingTheGoldenRecordsGivesLibrdkafkasBytes) {
  // Uncompressed, the records section must be byte-identical to what
  // librdkafka wrote: same varints, same null encodings.
  auto bytes = copy_of(rdkafka_none_batch);
  auto batch = record_batch_view::from_bytes(bytes);
  ASSERT_TRUE(batch);
  auto d = decode_records(*batch);
  ASSERT_TRUE(d);
  byte_vector out;
  for (const auto& r : d->records)
    encode_record(out, r);
  auto section = batch->records_section();
  EXPECT_EQ(out, byte_vector(section.begin(), section.end()));
}

TEST(Records, DecodesAHandWrittenRecord) {
  // length 11 (zigzag 22 = 0x16), attributes 0, timestamp delta -1 (0x01),
  // offset delta 3 (0x06), key null (-1 = 0x01), value "ab" (0x04 'a' 'b'),
  // one header (0x02): key "k" (0x02 'k'), value null (0x01).
  const unsigned char bytes[] = {0x16, 0x00, 0x01, 0x06, 0x01, 0x04,
                                 'a',  'b',  0x02, 0x02, 'k',  0x01};
  auto records = decode_record_sequence(as_bytes_view(bytes, sizeof bytes), 1);
  ASSERT_TRUE(records) << records.error().message;
  ASSERT_EQ(records->size(), 1u);
  const auto& r = records->front();
  EXPECT_EQ(r.timestamp_delta, -1);
  EXPECT_EQ(r.offset_delta, 3);
  EXPECT_FALSE(r.key);
  ASSERT_TRUE(r.value);
  EXPECT_EQ(str(*r.value), "ab");
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0].key, "k");
  EXPECT_FALSE(r.headers[0].value);
  byte_vector again;
  encode_record(again, r);
  EXPECT_EQ(again, byte_vector(reinterpret_cast<const std::byte*>(bytes),
                               reinterpret_cast<const std::byte*>(bytes) + sizeof bytes));
}

TEST(Records, RoundTripsExtremeValues) {
  std::string big(300, 'z');
  std::vector<record> in(4);
  in[0].timestamp_delta = INT64_MIN;
  in[0].offset_delta = INT32_MAX;
  in[0].key = sv("");  // empty, not null
  in[1].timestamp_delta = INT64_MAX;
  in[1].offset_delta = INT32_MIN;
  in[1].value = sv(big);
  in[1].attributes = -1;
  in[2].headers = {{"", sv("")}, {"x", std::nullopt}, {"long", sv(big)}};
  in[3].timestamp_delta = 63;  // the one-byte/two-byte zigzag boundaries
  in[3].offset_delta = -64;
  byte_vector bytes;
  for (const auto& r : in)
    encode_record(bytes, r);
  auto out = decode_record_sequence(bytes, 4);
  ASSERT_TRUE(out) << out.error().message;
  ASSERT_EQ(out->size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) {
    SCOPED_TRACE(i);
    const auto& a = in[i];
    const auto& b = (*out)[i];
    EXPECT_EQ(a.attributes, b.attributes);
    EXPECT_EQ(a.timestamp_delta, b.timestamp_delta);
    EXPECT_EQ(a.offset_delta, b.offset_delta);
    EXPECT_EQ(a.key.has_value(), b.key.has_value());
    if (a.key) {
      EXPECT_EQ(str(*a.key), str(*b.key));
    }
    EXPECT_EQ(a.value.has_value(), b.value.has_value());
    if (a.value) {
      EXPECT_EQ(str(*a.value), str(*b.value));
    }
    ASSERT_EQ(a.headers.size(), b.headers.size());
    for (std::size_t h = 0; h < a.headers.size(); ++h) {
      EXPECT_EQ(a.headers[h].key, b.headers[h].key);
      EXPECT_EQ(a.headers[h].value.has_value(), b.headers[h].value.has_value());
    }
  }
  EXPECT_EQ(str((*out)[2].headers[2].value.value()), big);
}

TEST(Records, RejectsCountAndLengthMismatches) {
  record r;
  r.value = sv("v");
  byte_vector one;
  encode_record(one, r);
  EXPECT_TRUE(decode_record_sequence(one, 1));
  // Fewer records than declared, more bytes than declared, negative count.
  auto fewer = decode_record_sequence(one, 2);
  ASSERT_FALSE(fewer);
  EXPECT_EQ(fewer.error().kind, batch_error::kind::corrupt_records);
  byte_vector trailing = one;
  trailing.push_back(std::byte{0});
  EXPECT_FALSE(decode_record_sequence(trailing, 1));
  EXPECT_FALSE(decode_record_sequence(one, -1));
  // A huge count must fail before allocating anything for it.
  EXPECT_FALSE(decode_record_sequence(one, INT32_MAX));
  // Record length larger than its body / smaller than its body.
  byte_vector longer = one;
  longer[0] = std::byte{static_cast<unsigned char>(std::to_integer<int>(one[0]) + 2)};
  EXPECT_FALSE(decode_record_sequence(longer, 1));
  byte_vector shorter = one;
  shorter[0] = std::byte{static_cast<unsigned char>(std::to_integer<int>(one[0]) - 2)};
  EXPECT_FALSE(decode_record_sequence(shorter, 1));
  // A varint that never ends.
  const unsigned char endless[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
  EXPECT_FALSE(decode_record_sequence(as_bytes_view(endless, sizeof endless), 1));
  // Negative key length other than -1 (zigzag -2 = 0x03).
  const unsigned char neg_key[] = {0x0c, 0x00, 0x00, 0x00, 0x03, 0x01, 0x00};
  auto nk = decode_record_sequence(as_bytes_view(neg_key, sizeof neg_key), 1);
  ASSERT_FALSE(nk);
  EXPECT_NE(nk.error().message.find("negative key length"), std::string::npos)
      << nk.error().message;
  // Null header key (-1) is forbidden by Kafka.
  const unsigned char null_hkey[] = {0x10, 0x00, 0x00, 0x00, 0x01, 0x01, 0x02, 0x01, 0x01};
  auto nh = decode_record_sequence(as_bytes_view(null_hkey, sizeof null_hkey), 1);
  ASSERT_FALSE(nh);
  EXPECT_NE(nh.error().message.find("header key length"), std::string::npos) << nh.error().message;
}

TEST(Records, CorruptRecordBytesNeverCrash) {
  auto bytes = copy_of(rdkafka_none_batch);
  auto batch = record_batch_view::from_bytes(bytes);
  ASSERT_TRUE(batch);
  auto section = batch->records_section();
  const byte_vector good(section.begin(), section.end());
  std::mt19937 rng(2024);
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    byte_vector bad = good;
    const int flips = 1 + static_cast<int>(rng() % 3);
    for (int f = 0; f < flips; ++f)
      bad[rng() % bad.size()] = std::byte(rng());
    const std::size_t cut = rng() % 8 == 0 ? rng() % bad.size() : bad.size();
    auto r =
        decode_record_sequence(bytes_view(bad).first(cut), static_cast<std::int32_t>(rng() % 5));
    accepted += r.has_value();
  }
  // Most mutations must be caught; some (inside values) are undetectable.
  EXPECT_LT(accepted, 20000);
}

TEST(Records, DecodeRejectsUnknownCodecAndBadCompressedData) {
  for (auto& g : goldens()) {
    if (g.codec == compression_codec::none) continue;
    SCOPED_TRACE(g.name);
    auto batch = record_batch_view::from_bytes(g.bytes);
    ASSERT_TRUE(batch);
    // Scribble over the compressed block.
    for (std::size_t i = batch_layout::records + 4; i < g.bytes.size(); i += 3)
      g.bytes[i] = std::byte{0x5a};
    auto d = decode_records(*batch);
    EXPECT_FALSE(d);
  }
  auto bytes = copy_of(rdkafka_none_batch);
  bytes[batch_layout::attributes + 1] = std::byte{0x07};  // codec 7
  auto batch = record_batch_view::from_bytes(bytes);
  ASSERT_TRUE(batch);
  auto d = decode_records(*batch);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().kind, batch_error::kind::unsupported_codec);
}

TEST(Records, DecodedRecordsSurviveAMove) {
  auto bytes = copy_of(rdkafka_zstd_batch);
  auto batch = record_batch_view::from_bytes(bytes);
  ASSERT_TRUE(batch);
  auto d = decode_records(*batch);
  ASSERT_TRUE(d);
  decoded_records moved = std::move(*d);
  expect_golden_records(*batch, moved);
}

}  // namespace
}  // namespace klink::kafka
