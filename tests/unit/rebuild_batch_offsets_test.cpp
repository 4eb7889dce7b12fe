// rebuild_batch refuses records whose offset deltas do not increase inside
// the batch's range: compaction removes records, it never reorders them, and
// the offset map needs every surviving record's source offset. Found by
// tests/fuzz/fuzz_batch_transform: such a batch was rebuilt and sent, while
// the offset map refused the runs it made, so the destination held records
// the map did not account for.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "kafka/crc32c.h"
#include "kafka/record_batch.h"
#include "kafka/records.h"

namespace {

using namespace klink::kafka;

void put_be(byte_vector& b, std::size_t at, std::uint64_t v, int size) {
  for (int i = 0; i < size; ++i)
    b[at + i] = std::byte(v >> (8 * (size - 1 - i)));
}

// An uncompressed batch holding one record per offset delta given.
byte_vector batch_with_deltas(const std::vector<std::int32_t>& deltas, std::int32_t last_delta) {
  static const std::string value = "v";
  byte_vector plain;
  for (std::int32_t d : deltas) {
    record r;
    r.offset_delta = d;
    r.value = as_bytes_view(value.data(), value.size());
    encode_record(plain, r);
  }
  byte_vector b(batch_layout::header_size + plain.size());
  std::copy(plain.begin(), plain.end(), b.begin() + batch_layout::header_size);
  put_be(b, batch_layout::base_offset, 100, 8);
  put_be(b, batch_layout::length, b.size() - batch_layout::log_overhead, 4);
  put_be(b, batch_layout::magic, 2, 1);
  put_be(b, batch_layout::last_offset_delta, static_cast<std::uint32_t>(last_delta), 4);
  put_be(b, batch_layout::producer_id, static_cast<std::uint64_t>(-1), 8);
  put_be(b, batch_layout::records_count, deltas.size(), 4);
  put_be(b, batch_layout::crc, crc32c(bytes_view(b).subspan(batch_layout::crc_start)), 4);
  return b;
}

std::expected<byte_vector, batch_error> rebuild(byte_vector& bytes) {
  auto view = record_batch_view::from_bytes(bytes);
  EXPECT_TRUE(view.has_value());
  return rebuild_batch(*view);
}

TEST(rebuild_batch_offsets, rebuilds_increasing_deltas_with_holes) {
  auto b = batch_with_deltas({0, 3, 9}, 9);
  auto out = rebuild(b);
  ASSERT_TRUE(out) << out.error().message;
}

TEST(rebuild_batch_offsets, refuses_deltas_out_of_order_repeated_or_out_of_range) {
  for (const auto& [deltas, last] : std::vector<std::pair<std::vector<std::int32_t>, int>>{
           {{3, 1}, 9}, {{2, 2}, 9}, {{0, 10}, 9}, {{-1, 4}, 9}}) {
    auto b = batch_with_deltas(deltas, last);
    auto out = rebuild(b);
    ASSERT_FALSE(out) << deltas[0] << "," << deltas[1];
    EXPECT_EQ(out.error().kind, batch_error_kind::corrupt_records);
  }
}

}  // namespace
