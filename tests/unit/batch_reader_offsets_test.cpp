// batch_reader refuses offsets no Kafka log holds (bad_offsets), so that the
// data path's offset arithmetic cannot overflow and its walk never goes back.
// Found by tests/fuzz/fuzz_batch_transform: a batch with a negative last
// offset delta passed the fast path, and its "next fetch offset" went back
// before the batch, so the partition re-read the same batch for ever.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kafka/record_batch.h"
#include "kafka/records.h"

namespace {

using namespace klink::kafka;

void put_be(byte_vector& b, std::size_t at, std::uint64_t v, int size) {
  for (int i = 0; i < size; ++i)
    b[at + i] = std::byte(v >> (8 * (size - 1 - i)));
}

// A batch of `n` records at `base`.
byte_vector batch_at(std::int64_t base, int n = 2) {
  static const std::string value = "v";
  std::vector<record_to_write> records(n);
  for (auto& r : records)
    r.value = as_bytes_view(value.data(), value.size());
  auto b = build_batch(compression_codec::none, 1'700'000'000'000, records);
  EXPECT_TRUE(b.has_value());
  put_be(*b, batch_layout::base_offset, static_cast<std::uint64_t>(base), 8);
  return *b;
}

batch_error_kind first_error(const byte_vector& blob) {
  byte_vector copy = blob;
  batch_reader reader(copy);
  while (true) {
    auto next = reader.next();
    if (!next) return next.error().kind;
    if (!*next) return batch_error_kind::invalid_argument;  // no error at all
  }
}

byte_vector concat(const byte_vector& a, const byte_vector& b) {
  byte_vector out = a;
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

TEST(batch_reader_offsets, refuses_a_negative_last_offset_delta) {
  auto b = batch_at(100);
  put_be(b, batch_layout::last_offset_delta, static_cast<std::uint32_t>(-5), 4);
  put_be(b, batch_layout::records_count, static_cast<std::uint32_t>(-4), 4);
  EXPECT_EQ(first_error(b), batch_error_kind::bad_offsets);
}

TEST(batch_reader_offsets, refuses_a_negative_base_offset_and_an_overflowing_last_offset) {
  EXPECT_EQ(first_error(batch_at(-1)), batch_error_kind::bad_offsets);
  // INT64_MAX - 1 is the last base offset whose last offset + 1 (one record) fits.
  EXPECT_EQ(first_error(batch_at(INT64_MAX - 1, 1)), batch_error_kind::invalid_argument);
  EXPECT_EQ(first_error(batch_at(INT64_MAX - 1, 2)), batch_error_kind::bad_offsets);
  EXPECT_EQ(first_error(batch_at(INT64_MAX, 1)), batch_error_kind::bad_offsets);
}

TEST(batch_reader_offsets, refuses_batches_that_do_not_move_forward) {
  EXPECT_EQ(first_error(concat(batch_at(100), batch_at(102))), batch_error_kind::invalid_argument);
  EXPECT_EQ(first_error(concat(batch_at(100), batch_at(101))), batch_error_kind::bad_offsets);
  EXPECT_EQ(first_error(concat(batch_at(100), batch_at(50))), batch_error_kind::bad_offsets);
}

TEST(batch_reader_offsets, refuses_more_records_than_offsets) {
  auto b = batch_at(100, 2);
  put_be(b, batch_layout::records_count, 3, 4);
  EXPECT_EQ(first_error(b), batch_error_kind::bad_offsets);
  put_be(b, batch_layout::records_count, static_cast<std::uint32_t>(-1), 4);
  EXPECT_EQ(first_error(b), batch_error_kind::bad_offsets);
  // Fewer (compaction holes) and none (emptied by compaction) are Kafka's own.
  put_be(b, batch_layout::records_count, 1, 4);
  EXPECT_EQ(first_error(b), batch_error_kind::invalid_argument);
  put_be(b, batch_layout::records_count, 0, 4);
  EXPECT_EQ(first_error(b), batch_error_kind::invalid_argument);
}

TEST(batch_reader_offsets, the_error_is_final_and_keeps_what_came_before) {
  auto blob = concat(batch_at(100), batch_at(90));
  batch_reader reader(blob);
  auto first = reader.next();
  ASSERT_TRUE(first && first->has_value());
  EXPECT_EQ((*first)->base_offset(), 100);
  auto second = reader.next();
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message.find("does not follow"), std::string::npos)
      << second.error().message;
  EXPECT_FALSE(reader.next());
}

}  // namespace
