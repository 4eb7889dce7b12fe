#include "linker/lag_clock.h"

#include <gtest/gtest.h>

#include <memory>

namespace {

using klink::linker::lag_clock;
using klink::mirror::partition_mirror;
using std::chrono::milliseconds;
using std::chrono::system_clock;

system_clock::time_point at_ms(int64_t ms) {
  return system_clock::time_point(milliseconds(ms));
}

// A queued batch whose header carries `base_timestamp` at bytes 27..35.
klink::mirror::outbound_batch batch_at(int64_t base_offset, int64_t base_timestamp) {
  klink::mirror::outbound_batch b;
  b.owner = std::make_shared<klink::kafka::byte_vector>(61);
  for (int i = 0; i < 8; ++i) {
    (*b.owner)[27 + static_cast<std::size_t>(i)] =
        static_cast<std::byte>(static_cast<uint64_t>(base_timestamp) >> (56 - 8 * i));
  }
  b.bytes = klink::kafka::mutable_bytes_view(b.owner->data(), b.owner->size());
  b.source_base_offset = base_offset;
  b.source_last_offset = base_offset;
  b.record_count = 1;
  return b;
}

TEST(linker_lag_clock, zero_when_caught_up_age_of_first_queued_batch_otherwise) {
  lag_clock clock;
  partition_mirror p;
  p.source_topic = "t";
  p.fetch_offset = 10;
  p.source_last_stable_offset = 10;
  EXPECT_EQ(clock.lag_seconds("l", p, at_ms(50'000)), 0);

  p.source_last_stable_offset = 12;
  p.fetch_offset = 12;
  p.ready.push_back(batch_at(10, 40'000));
  EXPECT_EQ(p.lag_records(), 2);
  EXPECT_DOUBLE_EQ(clock.lag_seconds("l", p, at_ms(50'000)), 10.0);
  // An in-flight batch is older than any queued one.
  p.in_flight.push_front({batch_at(9, 35'500)});
  p.source_last_stable_offset = 13;
  EXPECT_DOUBLE_EQ(clock.lag_seconds("l", p, at_ms(50'000)), 14.5);
  // A clock behind the producer's never gives a negative age.
  EXPECT_DOUBLE_EQ(clock.lag_seconds("l", p, at_ms(30'000)), 0.0);
}

TEST(linker_lag_clock, paused_partition_ages_from_the_last_known_timestamp_or_first_sight) {
  lag_clock clock;
  partition_mirror p;
  p.source_topic = "t";
  p.paused = true;
  p.fetch_offset = 5;
  p.source_last_stable_offset = 5;
  EXPECT_EQ(clock.lag_seconds("l", p, at_ms(10'000)), 0);
  // Records arrive while paused: none is fetched, the age counts from now.
  p.source_last_stable_offset = 8;
  EXPECT_DOUBLE_EQ(clock.lag_seconds("l", p, at_ms(11'000)), 0.0);
  EXPECT_DOUBLE_EQ(clock.lag_seconds("l", p, at_ms(13'500)), 2.5);
  // Another partition of the same name in another link is tracked apart.
  EXPECT_EQ(clock.lag_seconds("other", p, at_ms(13'500)), 0.0);

  // A batch was seen: its timestamp stands after it is delivered and until
  // the next one is fetched.
  partition_mirror q;
  q.source_topic = "t";
  q.partition = 1;
  q.source_last_stable_offset = 9;
  q.fetch_offset = 9;
  q.ready.push_back(batch_at(7, 1'000));
  EXPECT_DOUBLE_EQ(clock.lag_seconds("l", q, at_ms(4'000)), 3.0);
  q.ready.clear();
  q.fetch_offset = 8;
  EXPECT_DOUBLE_EQ(clock.lag_seconds("l", q, at_ms(6'000)), 5.0);
  q.fetch_offset = 9;
  EXPECT_EQ(clock.lag_seconds("l", q, at_ms(7'000)), 0.0);
}

TEST(linker_lag_clock, source_end_offset_prefers_the_last_stable_offset) {
  partition_mirror p;
  EXPECT_EQ(klink::linker::source_end_offset(p), -1);
  p.source_high_watermark = 20;
  EXPECT_EQ(klink::linker::source_end_offset(p), 20);
  p.source_last_stable_offset = 15;
  EXPECT_EQ(klink::linker::source_end_offset(p), 15);
}

}  // namespace
