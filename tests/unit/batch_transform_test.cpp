// The mirror's per-batch decisions: keep bytes, drop control and aborted
// batches, rebuild batches with offset holes, stop at corruption.
#include <gtest/gtest.h>

#include <cstring>

#include "kafka/crc32c.h"
#include "kafka/record_batch.h"
#include "kafka/records.h"
#include "mirror/batch_transform.h"

namespace klink::mirror {
namespace {

using kafka::byte_vector;

// The transform's failure as text ("" when there is none).
std::string failure_text(const transform_output& out) {
  return out.failure ? out.failure->message() : std::string();
}

void put_be(byte_vector& b, std::size_t at, uint64_t value, int size) {
  for (int i = size - 1; i >= 0; --i) {
    b[at + static_cast<std::size_t>(i)] = static_cast<std::byte>(value & 0xff);
    value >>= 8;
  }
}

void fix_crc(byte_vector& b) {
  const auto crc = kafka::crc32c(kafka::bytes_view(b.data() + 21, b.size() - 21));
  put_be(b, 17, crc, 4);
}

struct batch_spec {
  int64_t base_offset = 0;
  int records = 1;
  int64_t producer_id = -1;
  bool transactional = false;
  int control_type = -1;           // 0 abort, 1 commit
  int32_t last_offset_delta = -1;  // override to make holes
  kafka::compression_codec codec = kafka::compression_codec::none;
};

byte_vector make_batch(const batch_spec& spec) {
  std::vector<std::string> keys;
  std::vector<kafka::record_to_write> records;
  for (int i = 0; i < spec.records; ++i)
    keys.push_back("key-" + std::to_string(spec.base_offset + i));
  for (int i = 0; i < spec.records; ++i) {
    kafka::record_to_write r;
    r.timestamp = 1'700'000'000'000 + i;
    if (spec.control_type >= 0) {
      static const std::byte abort_key[] = {std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0}};
      static const std::byte commit_key[] = {std::byte{0}, std::byte{0}, std::byte{0},
                                             std::byte{1}};
      r.key = kafka::bytes_view(spec.control_type == 0 ? abort_key : commit_key, 4);
    } else {
      r.key = kafka::as_bytes_view(keys[static_cast<std::size_t>(i)].data(),
                                   keys[static_cast<std::size_t>(i)].size());
    }
    r.value = r.key;
    records.push_back(r);
  }
  auto built = kafka::build_batch(spec.codec, 1'700'000'000'000, records);
  EXPECT_TRUE(built.has_value());
  byte_vector b = std::move(*built);
  put_be(b, 0, static_cast<uint64_t>(spec.base_offset), 8);
  uint16_t attributes = static_cast<uint16_t>(spec.codec);
  if (spec.transactional) attributes |= 0x10;
  if (spec.control_type >= 0) attributes |= 0x20;
  put_be(b, 21, attributes, 2);
  put_be(b, 43, static_cast<uint64_t>(spec.producer_id), 8);
  if (spec.last_offset_delta >= 0) put_be(b, 23, static_cast<uint64_t>(spec.last_offset_delta), 4);
  fix_crc(b);
  return b;
}

struct fetched {
  std::shared_ptr<byte_vector> buffer = std::make_shared<byte_vector>();
  void add(const byte_vector& batch) { buffer->insert(buffer->end(), batch.begin(), batch.end()); }
  transform_input input(int64_t fetch_offset, std::vector<aborted_transaction> aborted = {}) {
    transform_input in;
    in.owner = buffer;
    in.records = kafka::mutable_bytes_view(buffer->data(), buffer->size());
    in.fetch_offset = fetch_offset;
    in.aborted = std::move(aborted);
    return in;
  }
};

TEST(batch_transform, keeps_plain_batches_in_place_without_copying) {
  fetched f;
  f.add(make_batch({.base_offset = 0, .records = 3}));
  f.add(make_batch({.base_offset = 3, .records = 2, .codec = kafka::compression_codec::lz4}));
  auto out = transform_fetched_records(f.input(0));
  ASSERT_FALSE(out.failure.has_value()) << failure_text(out);
  ASSERT_EQ(out.batches.size(), 2u);
  EXPECT_EQ(out.next_fetch_offset, 5);
  // The views point into the fetch buffer itself: no record byte was copied.
  EXPECT_EQ(out.batches[0].bytes.data(), f.buffer->data());
  EXPECT_EQ(out.batches[0].owner, f.buffer);
  EXPECT_EQ(out.batches[1].source_base_offset, 3);
  EXPECT_EQ(out.batches[1].source_last_offset, 4);
  EXPECT_EQ(out.batches[1].record_count, 2);
  EXPECT_EQ(out.counters.batches_kept, 2u);
  EXPECT_EQ(out.counters.records_kept, 5u);
}

TEST(batch_transform, skips_batches_below_the_fetch_offset) {
  fetched f;
  f.add(make_batch({.base_offset = 0, .records = 3}));
  f.add(make_batch({.base_offset = 3, .records = 2}));
  auto out = transform_fetched_records(f.input(3));
  ASSERT_EQ(out.batches.size(), 1u);
  EXPECT_EQ(out.batches[0].source_base_offset, 3);
}

TEST(batch_transform, drops_a_trailing_partial_batch_at_every_cut) {
  const auto first = make_batch({.base_offset = 0, .records = 2});
  const auto second = make_batch({.base_offset = 2, .records = 2});
  for (std::size_t cut = 1; cut < second.size(); ++cut) {
    fetched f;
    f.add(first);
    f.buffer->insert(f.buffer->end(), second.begin(),
                     second.begin() + static_cast<std::ptrdiff_t>(cut));
    auto out = transform_fetched_records(f.input(0));
    ASSERT_FALSE(out.failure.has_value()) << "cut " << cut << ": " << failure_text(out);
    ASSERT_EQ(out.batches.size(), 1u) << "cut " << cut;
    EXPECT_EQ(out.next_fetch_offset, 2) << "cut " << cut;
  }
}

TEST(batch_transform, stops_at_a_crc_mismatch_keeping_what_came_before) {
  fetched f;
  f.add(make_batch({.base_offset = 0, .records = 2}));
  auto bad = make_batch({.base_offset = 2, .records = 2});
  bad[bad.size() - 3] ^= std::byte{0x55};  // flip bits inside the records
  f.add(bad);
  f.add(make_batch({.base_offset = 4, .records = 2}));
  auto out = transform_fetched_records(f.input(0));
  EXPECT_TRUE(out.failure.has_value());
  EXPECT_EQ(out.error_offset, 2);
  EXPECT_NE(failure_text(out).find("CRC"), std::string::npos);
  ASSERT_EQ(out.batches.size(), 1u);
  EXPECT_EQ(out.next_fetch_offset, 2);
}

TEST(batch_transform, drops_control_batches_and_aborted_transactions) {
  fetched f;
  f.add(make_batch({.base_offset = 0, .records = 2, .producer_id = 7, .transactional = true}));
  f.add(make_batch({.base_offset = 2, .records = 1, .producer_id = 8, .transactional = true}));
  f.add(make_batch({.base_offset = 3, .producer_id = 7, .transactional = true, .control_type = 0}));
  f.add(make_batch({.base_offset = 4, .producer_id = 8, .transactional = true, .control_type = 1}));
  // Producer 7 starts again after its abort: this transaction is committed.
  f.add(make_batch({.base_offset = 5, .records = 1, .producer_id = 7, .transactional = true}));
  f.add(make_batch({.base_offset = 6, .producer_id = 7, .transactional = true, .control_type = 1}));
  auto out = transform_fetched_records(f.input(0, {{.producer_id = 7, .first_offset = 0}}));
  ASSERT_FALSE(out.failure.has_value()) << failure_text(out);
  ASSERT_EQ(out.batches.size(), 2u);
  EXPECT_EQ(out.batches[0].source_base_offset, 2);
  EXPECT_EQ(out.batches[1].source_base_offset, 5);
  EXPECT_EQ(out.counters.control_batches_dropped, 3u);
  EXPECT_EQ(out.counters.aborted_batches_dropped, 1u);
  EXPECT_EQ(out.next_fetch_offset, 7);
}

TEST(batch_transform, rebuilds_batches_with_offset_holes) {
  fetched f;
  // Three records that once spanned offsets 10..14: compaction removed two.
  f.add(make_batch({.base_offset = 10,
                    .records = 3,
                    .last_offset_delta = 4,
                    .codec = kafka::compression_codec::zstd}));
  auto out = transform_fetched_records(f.input(10));
  ASSERT_FALSE(out.failure.has_value()) << failure_text(out);
  ASSERT_EQ(out.batches.size(), 1u);
  EXPECT_TRUE(out.batches[0].needs_rebuild);
  EXPECT_FALSE(out.batches[0].rebuilt);
  rebuild_marked_batches(out);
  ASSERT_FALSE(out.failure.has_value()) << failure_text(out);
  const auto& b = out.batches[0];
  EXPECT_FALSE(b.needs_rebuild);
  // The records kept their deltas 0,1,2 inside a batch claiming 0..4: the
  // runs say where each record sat on the source.
  ASSERT_EQ(b.holey_source_runs.size(), 1u);
  EXPECT_EQ(b.holey_source_runs[0].source_offset, 10);
  EXPECT_EQ(b.holey_source_runs[0].count, 3);
  EXPECT_TRUE(b.rebuilt);
  EXPECT_NE(b.owner, f.buffer);
  EXPECT_EQ(b.source_base_offset, 10);
  EXPECT_EQ(b.source_last_offset, 14);
  EXPECT_EQ(b.record_count, 3);
  EXPECT_EQ(out.next_fetch_offset, 15);
  auto view = kafka::record_batch_view::from_bytes(b.bytes);
  ASSERT_TRUE(view.has_value());
  EXPECT_FALSE(view->has_offset_holes());
  EXPECT_EQ(view->codec(), kafka::compression_codec::zstd);
  EXPECT_TRUE(view->crc_valid());
  auto records = kafka::decode_records(*view);
  ASSERT_TRUE(records.has_value());
  ASSERT_EQ(records->records.size(), 3u);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(records->records[static_cast<std::size_t>(i)].offset_delta, i);
  EXPECT_EQ(out.counters.batches_rebuilt, 1u);
}

}  // namespace
}  // namespace klink::mirror
