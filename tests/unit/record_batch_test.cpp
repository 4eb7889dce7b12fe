#include "kafka/record_batch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "kafka/compression.h"
#include "kafka/crc32c.h"
#include "kafka/records.h"

namespace klink::kafka {
namespace {

bytes_view sv(std::string_view s) {
  return as_bytes_view(s.data(), s.size());
}
std::string str(bytes_view b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

// Test-side header writer, independent of records.cpp's, so a shared bug in
// field order or CRC range cannot hide.
void put(byte_vector& b, std::size_t at, std::uint64_t v, int size) {
  for (int i = 0; i < size; ++i)
    b[at + i] = std::byte(v >> (8 * (size - 1 - i)));
}
std::uint64_t get(const byte_vector& b, std::size_t at, int size) {
  std::uint64_t v = 0;
  for (int i = 0; i < size; ++i)
    v = (v << 8) | std::to_integer<std::uint8_t>(b[at + i]);
  return v;
}

struct batch_spec {
  compression_codec codec = compression_codec::none;
  std::uint16_t attributes = 0;  // besides the codec
  std::int64_t base_offset = 1000;
  std::int32_t partition_leader_epoch = 7;
  std::int32_t last_offset_delta = -2;  // -2: derive from records
  std::int64_t base_timestamp = 1'700'000'000'000;
  std::int64_t max_timestamp = -2;  // -2: derive from records
  std::int64_t producer_id = 4242;
  std::int16_t producer_epoch = 3;
  std::int32_t base_sequence = 17;
  std::vector<record> records;
};

byte_vector make_batch(const batch_spec& s) {
  byte_vector plain;
  for (const auto& r : s.records)
    encode_record(plain, r);
  auto body = compress(s.codec, plain);
  EXPECT_TRUE(body);
  byte_vector b(61 + body->size());
  std::copy(body->begin(), body->end(), b.begin() + 61);
  std::int32_t lod = s.last_offset_delta;
  std::int64_t max_ts = s.max_timestamp;
  if (lod == -2) lod = s.records.empty() ? -1 : s.records.back().offset_delta;
  if (max_ts == -2) {
    max_ts = s.base_timestamp;
    for (const auto& r : s.records)
      max_ts = std::max(max_ts, s.base_timestamp + r.timestamp_delta);
  }
  put(b, 0, s.base_offset, 8);
  put(b, 8, b.size() - 12, 4);
  put(b, 12, static_cast<std::uint32_t>(s.partition_leader_epoch), 4);
  put(b, 16, 2, 1);
  put(b, 21, s.attributes | static_cast<std::uint16_t>(s.codec), 2);
  put(b, 23, static_cast<std::uint32_t>(lod), 4);
  put(b, 27, s.base_timestamp, 8);
  put(b, 35, max_ts, 8);
  put(b, 43, s.producer_id, 8);
  put(b, 51, static_cast<std::uint16_t>(s.producer_epoch), 2);
  put(b, 53, static_cast<std::uint32_t>(s.base_sequence), 4);
  put(b, 57, s.records.size(), 4);
  put(b, 17, crc32c_portable(bytes_view(b).subspan(21)), 4);
  return b;
}

record rec(std::int32_t offset_delta, std::int64_t ts_delta, std::optional<std::string_view> key,
           std::optional<std::string_view> value, std::vector<record_header> headers = {}) {
  record r;
  r.offset_delta = offset_delta;
  r.timestamp_delta = ts_delta;
  if (key) r.key = sv(*key);
  if (value) r.value = sv(*value);
  r.headers = std::move(headers);
  return r;
}

batch_spec simple_spec(int n, compression_codec codec = compression_codec::none) {
  batch_spec s;
  s.codec = codec;
  static const std::string_view keys[] = {"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"};
  for (int i = 0; i < n; ++i)
    s.records.push_back(rec(i, i * 10, keys[i % 8], "value"));
  return s;
}

byte_vector concat(const std::vector<byte_vector>& parts) {
  byte_vector out;
  for (const auto& p : parts)
    out.insert(out.end(), p.begin(), p.end());
  return out;
}

// ------------------------------------------------------------ header view

TEST(RecordBatchView, ReadsEveryHeaderField) {
  batch_spec s = simple_spec(3);
  s.attributes = batch_attributes::transactional | batch_attributes::log_append_time;
  s.max_timestamp = 1'800'000'000'000;
  auto bytes = make_batch(s);
  auto b = record_batch_view::from_bytes(bytes);
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(b->base_offset(), 1000);
  EXPECT_EQ(b->last_offset_delta(), 2);
  EXPECT_EQ(b->last_offset(), 1002);
  EXPECT_EQ(b->batch_size(), bytes.size());
  EXPECT_EQ(b->batch_length(), static_cast<std::int32_t>(bytes.size() - 12));
  EXPECT_EQ(b->partition_leader_epoch(), 7);
  EXPECT_EQ(b->magic(), 2);
  EXPECT_EQ(b->stored_crc(), get(bytes, 17, 4));
  EXPECT_TRUE(b->crc_valid());
  EXPECT_EQ(b->codec(), compression_codec::none);
  EXPECT_TRUE(b->is_transactional());
  EXPECT_FALSE(b->is_control());
  EXPECT_TRUE(b->has_log_append_time());
  EXPECT_EQ(b->base_timestamp(), 1'700'000'000'000);
  EXPECT_EQ(b->max_timestamp(), 1'800'000'000'000);
  EXPECT_EQ(b->producer_id(), 4242);
  EXPECT_EQ(b->producer_epoch(), 3);
  EXPECT_EQ(b->base_sequence(), 17);
  EXPECT_EQ(b->records_count(), 3);
  EXPECT_FALSE(b->has_offset_holes());
  EXPECT_EQ(b->records_section().data(), bytes.data() + 61);
  EXPECT_EQ(b->records_section().size(), bytes.size() - 61);
}

TEST(RecordBatchView, CrcCatchesAnyFlipInsideTheCoveredRange) {
  auto bytes = make_batch(simple_spec(2, compression_codec::lz4));
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    byte_vector bad = bytes;
    bad[i] ^= std::byte{0x01};
    auto b = record_batch_view::from_bytes(bad);
    if (!b) continue;  // length or magic byte hit
    // Base offset, length, leader epoch and magic are outside the CRC; the
    // stored CRC itself (17..20) obviously counts.
    EXPECT_EQ(b->crc_valid(), i < 17) << "byte " << i;
  }
}

TEST(RecordBatchView, DetectsHoles) {
  batch_spec s;
  s.records = {rec(0, 0, "a", "1"), rec(3, 0, "b", "2"), rec(4, 0, "c", "3")};
  auto bytes = make_batch(s);
  auto b = record_batch_view::from_bytes(bytes);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->records_count(), 3);
  EXPECT_EQ(b->last_offset_delta(), 4);
  EXPECT_TRUE(b->has_offset_holes());
}

TEST(RecordBatchView, FromBytesChecksSizeMagicAndLength) {
  auto bytes = make_batch(simple_spec(1));
  EXPECT_EQ(record_batch_view::from_bytes(std::span(bytes).first(60)).error().kind,
            batch_error::kind::truncated);
  EXPECT_EQ(record_batch_view::from_bytes(std::span(bytes).first(bytes.size() - 1)).error().kind,
            batch_error::kind::bad_length);
  byte_vector v1 = bytes;
  v1[16] = std::byte{1};
  EXPECT_EQ(record_batch_view::from_bytes(v1).error().kind, batch_error::kind::bad_magic);
}

// ------------------------------------------------------------ walker

TEST(BatchReader, WalksZeroToManyBatches) {
  for (int n = 0; n <= 5; ++n) {
    std::vector<byte_vector> parts;
    for (int i = 0; i < n; ++i) {
      batch_spec s = simple_spec(i + 1, static_cast<compression_codec>(i % 5));
      s.base_offset = 100 * i;
      parts.push_back(make_batch(s));
    }
    auto blob = concat(parts);
    batch_reader reader(blob);
    for (int i = 0; i < n; ++i) {
      auto next = reader.next();
      ASSERT_TRUE(next) << next.error().message;
      ASSERT_TRUE(next->has_value()) << "batch " << i << " of " << n;
      const auto& b = **next;
      EXPECT_EQ(b.base_offset(), 100 * i);
      EXPECT_EQ(b.records_count(), i + 1);
      EXPECT_TRUE(b.crc_valid());
      EXPECT_EQ(b.bytes().size(), parts[i].size());
    }
    auto end = reader.next();
    ASSERT_TRUE(end);
    EXPECT_FALSE(end->has_value());
    EXPECT_EQ(reader.discarded_tail_bytes(), 0u);
    EXPECT_EQ(reader.position(), blob.size());
    // Stays at the end.
    EXPECT_FALSE(reader.next()->has_value());
  }
}

TEST(BatchReader, TrailingPartialBatchAtEveryCutPoint) {
  auto first = make_batch(simple_spec(2));
  auto second = make_batch(simple_spec(3, compression_codec::gzip));
  auto blob = concat({first, second});
  for (std::size_t cut = first.size(); cut < blob.size(); ++cut) {
    // Copy so AddressSanitizer sees the exact end of the buffer.
    byte_vector part(blob.begin(), blob.begin() + static_cast<std::ptrdiff_t>(cut));
    batch_reader reader(part);
    auto a = reader.next();
    ASSERT_TRUE(a && a->has_value()) << cut;
    EXPECT_EQ((*a)->bytes().size(), first.size());
    auto b = reader.next();
    ASSERT_TRUE(b) << "cut " << cut << ": " << b.error().message;
    EXPECT_FALSE(b->has_value()) << cut;
    EXPECT_EQ(reader.discarded_tail_bytes(), cut - first.size()) << cut;
    EXPECT_EQ(reader.position(), first.size());
  }
  // A lone partial batch, every length from 1 byte.
  for (std::size_t cut = 1; cut < first.size(); ++cut) {
    byte_vector part(first.begin(), first.begin() + static_cast<std::ptrdiff_t>(cut));
    batch_reader reader(part);
    auto r = reader.next();
    ASSERT_TRUE(r) << cut;
    EXPECT_FALSE(r->has_value());
    EXPECT_EQ(reader.discarded_tail_bytes(), cut);
  }
}

TEST(BatchReader, RejectsOldMagicWithAClearError) {
  auto good = make_batch(simple_spec(1));
  for (int magic : {0, 1, 3, -1}) {
    auto blob = concat({good, good});
    blob[good.size() + 16] = std::byte(magic);
    batch_reader reader(blob);
    ASSERT_TRUE(reader.next()->has_value());
    auto r = reader.next();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, batch_error::kind::bad_magic);
    EXPECT_NE(r.error().message.find("magic " + std::to_string(magic)), std::string::npos)
        << r.error().message;
    // The error is final.
    EXPECT_FALSE(reader.next());
  }
}

TEST(BatchReader, RejectsNegativeAndTooSmallLengths) {
  auto good = make_batch(simple_spec(1));
  for (std::int64_t len : {-1LL, -2147483648LL, 0LL, 14LL, 48LL}) {
    byte_vector blob = good;
    put(blob, 8, static_cast<std::uint32_t>(len), 4);
    batch_reader reader(blob);
    auto r = reader.next();
    ASSERT_FALSE(r) << len;
    EXPECT_EQ(r.error().kind, batch_error::kind::bad_length) << len;
  }
  // 49 is the smallest legal length (an empty records section).
  byte_vector blob(good.begin(), good.begin() + 61);
  put(blob, 8, 49, 4);
  batch_reader reader(blob);
  auto r = reader.next();
  ASSERT_TRUE(r && r->has_value());
}

TEST(BatchReader, HugeLengthIsAPartialBatchNotAnOverread) {
  auto blob = make_batch(simple_spec(1));
  put(blob, 8, 0x7fffffff, 4);
  batch_reader reader(blob);
  auto r = reader.next();
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->has_value());
  EXPECT_EQ(reader.discarded_tail_bytes(), blob.size());
}

TEST(BatchReader, RandomBlobsNeverOverread) {
  std::mt19937 rng(5);
  auto good = concat({make_batch(simple_spec(2)), make_batch(simple_spec(1))});
  for (int i = 0; i < 5000; ++i) {
    byte_vector blob = good;
    for (int f = 0; f < 3; ++f)
      blob[rng() % blob.size()] = std::byte(rng());
    blob.resize(rng() % (blob.size() + 1));
    batch_reader reader(blob);
    for (int steps = 0; steps < 10; ++steps) {
      auto r = reader.next();
      if (!r || !r->has_value()) break;
      (void)(*r)->crc_valid();
      (void)decode_records(**r);
    }
  }
}

// ------------------------------------------------------------ header rewrite

TEST(RewriteHeader, ChangesOnlyProducerFieldsAndKeepsRecordsIdentical) {
  for (auto codec : {compression_codec::none, compression_codec::snappy, compression_codec::zstd}) {
    batch_spec s = simple_spec(4, codec);
    s.attributes = batch_attributes::transactional;
    auto bytes = make_batch(s);
    const byte_vector before = bytes;
    auto b = record_batch_view::from_bytes(bytes);
    ASSERT_TRUE(b);
    rewrite_header_for_produce(*b, 99, 5, 1234);
    EXPECT_EQ(b->base_offset(), 0);
    EXPECT_EQ(b->partition_leader_epoch(), -1);
    EXPECT_FALSE(b->is_transactional());
    EXPECT_EQ(b->codec(), codec);
    EXPECT_EQ(b->producer_id(), 99);
    EXPECT_EQ(b->producer_epoch(), 5);
    EXPECT_EQ(b->base_sequence(), 1234);
    EXPECT_EQ(b->records_count(), 4);
    EXPECT_EQ(b->last_offset_delta(), 3);
    EXPECT_EQ(b->base_timestamp(), s.base_timestamp);
    EXPECT_TRUE(b->crc_valid());
    // Independent recomputation over bytes 21..end with the table version.
    EXPECT_EQ(get(bytes, 17, 4), crc32c_portable(bytes_view(bytes).subspan(21)));
    EXPECT_TRUE(std::equal(bytes.begin() + 61, bytes.end(), before.begin() + 61));
    EXPECT_EQ(bytes.size(), before.size());
    // Only the documented bytes changed.
    for (std::size_t i = 0; i < 61; ++i) {
      const bool may_change =
          i < 8 || (i >= 12 && i < 16) || (i >= 17 && i < 23) || (i >= 43 && i < 57);
      if (!may_change) {
        EXPECT_EQ(bytes[i], before[i]) << "byte " << i;
      }
    }
  }
}

TEST(RewriteHeader, NonIdempotentProduce) {
  auto bytes = make_batch(simple_spec(1));
  auto b = record_batch_view::from_bytes(bytes);
  ASSERT_TRUE(b);
  rewrite_header_for_produce(*b, no_producer_id, no_producer_epoch, no_sequence);
  EXPECT_EQ(b->producer_id(), -1);
  EXPECT_EQ(b->producer_epoch(), -1);
  EXPECT_EQ(b->base_sequence(), -1);
  EXPECT_TRUE(b->crc_valid());
}

TEST(RewriteHeader, SettersOutsideTheCrcKeepItValid) {
  auto bytes = make_batch(simple_spec(2));
  auto b = record_batch_view::from_bytes(bytes);
  ASSERT_TRUE(b);
  b->set_base_offset(123456789);
  b->set_partition_leader_epoch(42);
  EXPECT_EQ(b->base_offset(), 123456789);
  EXPECT_EQ(b->partition_leader_epoch(), 42);
  EXPECT_TRUE(b->crc_valid());
}

// ------------------------------------------------------------ rebuild

void expect_same_content(const decoded_records& a, std::int64_t a_base_ts, const decoded_records& b,
                         std::int64_t b_base_ts) {
  ASSERT_EQ(a.records.size(), b.records.size());
  for (std::size_t i = 0; i < a.records.size(); ++i) {
    SCOPED_TRACE(i);
    const auto& x = a.records[i];
    const auto& y = b.records[i];
    EXPECT_EQ(a_base_ts + x.timestamp_delta, b_base_ts + y.timestamp_delta);
    ASSERT_EQ(x.key.has_value(), y.key.has_value());
    if (x.key) {
      EXPECT_EQ(str(*x.key), str(*y.key));
    }
    ASSERT_EQ(x.value.has_value(), y.value.has_value());
    if (x.value) {
      EXPECT_EQ(str(*x.value), str(*y.value));
    }
    ASSERT_EQ(x.headers.size(), y.headers.size());
    for (std::size_t h = 0; h < x.headers.size(); ++h) {
      EXPECT_EQ(x.headers[h].key, y.headers[h].key);
      ASSERT_EQ(x.headers[h].value.has_value(), y.headers[h].value.has_value());
      if (x.headers[h].value) {
        EXPECT_EQ(str(*x.headers[h].value), str(*y.headers[h].value));
      }
    }
  }
}

batch_spec compacted_spec(compression_codec codec) {
  batch_spec s;
  s.codec = codec;
  s.base_offset = 5000;
  // What compaction leaves: offsets 0, 2, 7 of 0..9, the original
  // lastOffsetDelta 9 and max timestamp kept; first timestamp not first.
  s.records = {rec(0, 30, "a", "first", {{"trace", sv("t1")}, {"nullh", std::nullopt}}),
               rec(2, -5, std::nullopt, "second"), rec(7, 100, "c", std::nullopt)};
  s.last_offset_delta = 9;
  s.max_timestamp = s.base_timestamp + 500;
  return s;
}

TEST(RebuildBatch, RenumbersHolesKeepingContentForEveryCodec) {
  for (auto codec : {compression_codec::none, compression_codec::gzip, compression_codec::snappy,
                     compression_codec::lz4, compression_codec::zstd}) {
    SCOPED_TRACE(to_string(codec));
    auto src_bytes = make_batch(compacted_spec(codec));
    auto src = record_batch_view::from_bytes(src_bytes);
    ASSERT_TRUE(src);
    ASSERT_TRUE(src->has_offset_holes());
    auto out = rebuild_batch(*src);
    ASSERT_TRUE(out) << out.error().message;
    auto dst = record_batch_view::from_bytes(*out);
    ASSERT_TRUE(dst) << dst.error().message;
    EXPECT_TRUE(dst->crc_valid());
    EXPECT_EQ(get(*out, 17, 4), crc32c_portable(bytes_view(*out).subspan(21)));
    EXPECT_EQ(dst->codec(), codec);
    EXPECT_EQ(dst->base_offset(), 0);
    EXPECT_EQ(dst->records_count(), 3);
    EXPECT_EQ(dst->last_offset_delta(), 2);
    EXPECT_FALSE(dst->has_offset_holes());
    EXPECT_EQ(dst->producer_id(), 4242);
    EXPECT_EQ(dst->producer_epoch(), 3);
    EXPECT_EQ(dst->base_sequence(), 17);
    EXPECT_FALSE(dst->has_log_append_time());
    // CreateTime: max timestamp is recomputed from the surviving records.
    EXPECT_EQ(dst->max_timestamp(), src->base_timestamp() + 100);
    EXPECT_EQ(dst->base_timestamp(), src->base_timestamp() + 30);

    auto a = decode_records(*src);
    auto b = decode_records(*dst);
    ASSERT_TRUE(a && b);
    for (std::size_t i = 0; i < b->records.size(); ++i)
      EXPECT_EQ(b->records[i].offset_delta, i);
    expect_same_content(*a, src->base_timestamp(), *b, dst->base_timestamp());
  }
}

TEST(RebuildBatch, KeepsLogAppendTimeUnlessAskedToConvert) {
  batch_spec s = compacted_spec(compression_codec::lz4);
  s.attributes = batch_attributes::log_append_time;
  const std::int64_t append_time = s.base_timestamp + 9999;
  s.max_timestamp = append_time;
  auto src_bytes = make_batch(s);
  auto src = record_batch_view::from_bytes(src_bytes);
  ASSERT_TRUE(src);

  auto kept = rebuild_batch(*src);
  ASSERT_TRUE(kept);
  auto k = record_batch_view::from_bytes(*kept);
  ASSERT_TRUE(k);
  EXPECT_TRUE(k->has_log_append_time());
  EXPECT_EQ(k->max_timestamp(), append_time);
  EXPECT_TRUE(k->crc_valid());

  rebuild_options opt;
  opt.log_append_time_to_create_time = true;
  auto converted = rebuild_batch(*src, opt);
  ASSERT_TRUE(converted) << converted.error().message;
  auto c = record_batch_view::from_bytes(*converted);
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->has_log_append_time());
  EXPECT_EQ(c->codec(), compression_codec::lz4);
  EXPECT_TRUE(c->crc_valid());
  EXPECT_EQ(c->base_timestamp(), append_time);
  EXPECT_EQ(c->max_timestamp(), append_time);
  EXPECT_EQ(c->last_offset_delta(), 2);
  auto d = decode_records(*c);
  ASSERT_TRUE(d);
  for (const auto& r : d->records)
    EXPECT_EQ(c->base_timestamp() + r.timestamp_delta, append_time);
  // Everything but the timestamps is unchanged.
  auto orig = decode_records(*src);
  ASSERT_TRUE(orig);
  ASSERT_EQ(d->records.size(), orig->records.size());
  for (std::size_t i = 0; i < d->records.size(); ++i)
    EXPECT_EQ(d->records[i].key.has_value(), orig->records[i].key.has_value());
}

TEST(RebuildBatch, ConvertOptionLeavesCreateTimeBatchesAlone) {
  auto src_bytes = make_batch(compacted_spec(compression_codec::none));
  auto src = record_batch_view::from_bytes(src_bytes);
  ASSERT_TRUE(src);
  rebuild_options opt;
  opt.log_append_time_to_create_time = true;
  auto out = rebuild_batch(*src, opt);
  ASSERT_TRUE(out);
  auto dst = record_batch_view::from_bytes(*out);
  ASSERT_TRUE(dst);
  auto a = decode_records(*src);
  auto b = decode_records(*dst);
  ASSERT_TRUE(a && b);
  expect_same_content(*a, src->base_timestamp(), *b, dst->base_timestamp());
}

TEST(RebuildBatch, ClearsDeleteHorizonKeepsTransactionalForTheCaller) {
  batch_spec s = compacted_spec(compression_codec::none);
  s.attributes = batch_attributes::delete_horizon | batch_attributes::transactional;
  auto src_bytes = make_batch(s);
  auto src = record_batch_view::from_bytes(src_bytes);
  ASSERT_TRUE(src);
  auto out = rebuild_batch(*src);
  ASSERT_TRUE(out);
  auto dst = record_batch_view::from_bytes(*out);
  ASSERT_TRUE(dst);
  EXPECT_FALSE(dst->has_delete_horizon());
  EXPECT_TRUE(dst->is_transactional());
  rewrite_header_for_produce(*dst, 1, 0, 0);
  EXPECT_FALSE(dst->is_transactional());
  EXPECT_TRUE(dst->crc_valid());
}

TEST(RebuildBatch, EmptyOrCorruptSourcesAreErrors) {
  batch_spec s;
  s.last_offset_delta = 4;  // everything compacted away
  auto empty_bytes = make_batch(s);
  auto empty = record_batch_view::from_bytes(empty_bytes);
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->has_offset_holes());
  auto r = rebuild_batch(*empty);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, batch_error::kind::invalid_argument);

  auto bad_bytes = make_batch(compacted_spec(compression_codec::zstd));
  bad_bytes[70] ^= std::byte{0xff};
  auto bad = record_batch_view::from_bytes(bad_bytes);
  ASSERT_TRUE(bad);
  EXPECT_FALSE(rebuild_batch(*bad));
}

// ------------------------------------------------------------ build

TEST(BuildBatch, BuildsAValidCreateTimeBatch) {
  std::vector<record_to_write> in(3);
  in[0].timestamp = 1000;
  in[0].key = sv("checkpoint/topic-0");
  in[0].value = sv("offset=17");
  in[0].headers = {{"klink-version", sv("1")}};
  in[1].timestamp = 3000;
  in[1].key = sv("checkpoint/topic-1");
  in[2].timestamp = 2000;
  in[2].value = sv("v");
  for (auto codec : {compression_codec::none, compression_codec::zstd}) {
    auto out = build_batch(codec, 1000, in);
    ASSERT_TRUE(out) << out.error().message;
    auto b = record_batch_view::from_bytes(*out);
    ASSERT_TRUE(b);
    EXPECT_TRUE(b->crc_valid());
    EXPECT_EQ(b->codec(), codec);
    EXPECT_EQ(b->base_offset(), 0);
    EXPECT_EQ(b->records_count(), 3);
    EXPECT_EQ(b->last_offset_delta(), 2);
    EXPECT_EQ(b->base_timestamp(), 1000);
    EXPECT_EQ(b->max_timestamp(), 3000);
    EXPECT_EQ(b->producer_id(), -1);
    EXPECT_EQ(b->producer_epoch(), -1);
    EXPECT_EQ(b->base_sequence(), -1);
    EXPECT_EQ(b->partition_leader_epoch(), -1);
    EXPECT_FALSE(b->has_log_append_time());
    EXPECT_FALSE(b->is_transactional());
    auto d = decode_records(*b);
    ASSERT_TRUE(d);
    ASSERT_EQ(d->records.size(), 3u);
    EXPECT_EQ(d->records[1].timestamp_delta, 2000);
    EXPECT_EQ(str(*d->records[0].key), "checkpoint/topic-0");
    EXPECT_EQ(str(*d->records[0].value), "offset=17");
    EXPECT_EQ(d->records[0].headers.at(0).key, "klink-version");
    EXPECT_FALSE(d->records[1].value);
    EXPECT_FALSE(d->records[2].key);
  }
  EXPECT_FALSE(build_batch(compression_codec::none, 0, {}));
  EXPECT_FALSE(build_batch(static_cast<compression_codec>(6), 0, in));
}

}  // namespace
}  // namespace klink::kafka
