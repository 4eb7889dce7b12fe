#include "offsets/offset_map.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "offset_map_helpers.h"

namespace klink::offsets {
namespace {

using namespace testing;

// ---------------------------------------------------------------- hand cases

TEST(OffsetMap, ContiguousBatchesMergeIntoOneEntry) {
  offset_map map(0, 0);
  ASSERT_TRUE(plain(map, 0, 10, 0));
  ASSERT_TRUE(plain(map, 10, 10, 10));
  ASSERT_TRUE(plain(map, 20, 5, 20));
  EXPECT_EQ(map.entry_count(), 1u);
  EXPECT_EQ(map.entries()[0], (offset_segment{0, 0, 25}));
  EXPECT_EQ(map.mirrored_source_offset(), 25);
  EXPECT_EQ(map.destination_end_offset(), 25);
  for (int64_t c = 0; c <= 25; ++c)
    EXPECT_EQ(map.translate(c), c);
}

TEST(OffsetMap, ControlMarkerIsAGap) {
  offset_map map(0, 0);
  ASSERT_TRUE(plain(map, 0, 10, 0));
  ASSERT_TRUE(map.record_gap(11));  // COMMIT marker at source 10
  ASSERT_TRUE(plain(map, 11, 10, 10));
  EXPECT_EQ(map.entry_count(), 2u);
  EXPECT_EQ(map.translate(9), 9);
  EXPECT_EQ(map.translate(10), 10);  // the marker: next record is source 11
  EXPECT_EQ(map.translate(11), 10);
  EXPECT_EQ(map.translate(12), 11);
  EXPECT_EQ(map.translate(20), 19);
  EXPECT_EQ(map.translate(21), 20);
  EXPECT_EQ(map.destination_end_offset(), 20);
}

TEST(OffsetMap, TranslatesBackForFailback) {
  // Mirrored from source 100 to destination 40: records at 100..109, a marker
  // at 110, 111..115; then a destination gap (copies left by a lost ack).
  offset_map map(100, 40);
  ASSERT_TRUE(plain(map, 100, 10, 40));
  ASSERT_TRUE(map.record_gap(111));
  ASSERT_TRUE(plain(map, 111, 5, 50));
  ASSERT_TRUE(plain(map, 116, 2, 57));              // 55, 56 hold copies
  EXPECT_EQ(map.translate_back(39), std::nullopt);  // before the map
  EXPECT_EQ(map.translate_back(40), 100);
  EXPECT_EQ(map.translate_back(49), 109);
  EXPECT_EQ(map.translate_back(50), 111);  // the marker has no destination offset
  EXPECT_EQ(map.translate_back(54), 115);
  EXPECT_EQ(map.translate_back(55), 116);  // in the destination gap: the next record
  EXPECT_EQ(map.translate_back(57), 116);
  EXPECT_EQ(map.translate_back(58), 117);
  EXPECT_EQ(map.translate_back(59), 118);           // the end: everything mirrored was read
  EXPECT_EQ(map.translate_back(60), std::nullopt);  // records from elsewhere
  // Round trip: every destination offset a consumer can hold maps back to a
  // source offset that translates forward to it (or past a destination gap).
  for (int64_t d = 40; d <= 59; ++d) {
    const auto back = map.translate_back(d);
    ASSERT_TRUE(back.has_value()) << d;
    EXPECT_GE(map.translate(*back), d) << d;
  }
  offset_map empty(7, 3);
  EXPECT_EQ(empty.translate_back(3), 7);
  EXPECT_EQ(empty.translate_back(2), std::nullopt);
}

TEST(OffsetMap, AbortedTransactionIsAGap) {
  offset_map map(0, 0);
  ASSERT_TRUE(plain(map, 0, 5, 0));
  ASSERT_TRUE(map.record_gap(15));  // aborted batch 5..14
  ASSERT_TRUE(map.record_gap(16));  // its ABORT marker
  ASSERT_TRUE(plain(map, 16, 4, 5));
  EXPECT_EQ(map.entry_count(), 2u);
  for (int64_t c = 5; c <= 16; ++c)
    EXPECT_EQ(map.translate(c), 5) << c;
  EXPECT_EQ(map.translate(4), 4);
  EXPECT_EQ(map.translate(17), 6);
  EXPECT_EQ(map.translate(20), 9);
}

TEST(OffsetMap, CompactionHolesInsideOneBatch) {
  offset_map map(10, 0);
  // A compacted batch covering 10..16 kept only 10, 12 and 14.
  ASSERT_TRUE(runs(map, {{10, 1}, {12, 1}, {14, 1}}, 0, 17));
  EXPECT_EQ(map.entry_count(), 3u);
  EXPECT_EQ(map.mirrored_source_offset(), 17);
  EXPECT_EQ(map.destination_end_offset(), 3);
  const std::vector<std::pair<int64_t, int64_t>> expected = {{10, 0}, {11, 1}, {12, 1}, {13, 2},
                                                             {14, 2}, {15, 3}, {16, 3}, {17, 3}};
  for (auto [c, d] : expected)
    EXPECT_EQ(map.translate(c), d) << c;
  ASSERT_TRUE(plain(map, 17, 3, 3));
  EXPECT_EQ(map.entry_count(), 4u);
  EXPECT_EQ(map.translate(15), 3);
  EXPECT_EQ(map.translate(18), 4);
}

TEST(OffsetMap, AdjacentRunsMerge) {
  offset_map map(0, 0);
  ASSERT_TRUE(runs(map, {{0, 3}, {3, 2}, {7, 1}, {8, 2}}, 0, 10));
  ASSERT_EQ(map.entry_count(), 2u);
  EXPECT_EQ(map.entries()[0], (offset_segment{0, 0, 5}));
  EXPECT_EQ(map.entries()[1], (offset_segment{7, 5, 3}));
}

TEST(OffsetMap, StartMidLog) {
  offset_map map(1000, 500);
  EXPECT_EQ(map.translate(0), std::nullopt);
  EXPECT_EQ(map.translate(999), std::nullopt);
  EXPECT_EQ(map.translate(1000), 500);
  EXPECT_EQ(map.translate(5000), 500);
  ASSERT_TRUE(plain(map, 1000, 10, 500));
  EXPECT_EQ(map.translate(999), std::nullopt);
  EXPECT_EQ(map.translate(1000), 500);
  EXPECT_EQ(map.translate(1005), 505);
  EXPECT_EQ(map.translate(1010), 510);
  EXPECT_EQ(map.exact_from(), 1000);
}

TEST(OffsetMap, StartInsideAHoleBeforeFirstRecord) {
  // Mirroring started at 1000 but the first record there is 1003 (compaction).
  offset_map map(1000, 0);
  ASSERT_TRUE(runs(map, {{1003, 2}}, 0, 1005));
  for (int64_t c = 1000; c <= 1003; ++c)
    EXPECT_EQ(map.translate(c), 0) << c;
  EXPECT_EQ(map.translate(1004), 1);
}

TEST(OffsetMap, TranslateAtEveryBoundary) {
  offset_map map(100, 0);
  ASSERT_TRUE(plain(map, 100, 10, 0));                    // [100,110) -> [0,10)
  ASSERT_TRUE(map.record_gap(111));                       // marker 110
  ASSERT_TRUE(runs(map, {{111, 2}, {115, 1}}, 10, 120));  // [111,113)->[10,12), 115->12
  ASSERT_TRUE(map.record_gap(130));                       // aborted 120..129
  ASSERT_TRUE(plain(map, 130, 5, 20));                    // destination gap: [130,135)->[20,25)
  ASSERT_EQ(map.entry_count(), 4u);
  const std::vector<std::pair<int64_t, std::optional<int64_t>>> expected = {
      {99, std::nullopt}, {100, 0},  {101, 1},  {109, 9},  {110, 10}, {111, 10},      {112, 11},
      {113, 12},          {114, 12}, {115, 12}, {116, 20}, {119, 20}, {120, 20},      {129, 20},
      {130, 20},          {131, 21}, {134, 24}, {135, 25}, {136, 25}, {int64_max, 25}};
  for (auto [c, d] : expected)
    EXPECT_EQ(map.translate(c), d) << c;
}

TEST(OffsetMap, BeyondEnd) {
  offset_map map(0, 7);
  EXPECT_EQ(map.translate(0), 7);
  EXPECT_EQ(map.translate(int64_max), 7);
  ASSERT_TRUE(plain(map, 0, 3, 7));
  ASSERT_TRUE(map.record_gap(10));
  EXPECT_EQ(map.translate(3), 10);
  EXPECT_EQ(map.translate(10), 10);
  EXPECT_EQ(map.translate(int64_max), 10);
}

TEST(OffsetMap, TrimDropsOnlyWhollyLowerEntries) {
  offset_map map(0, 0);
  ASSERT_TRUE(plain(map, 0, 10, 0));
  ASSERT_TRUE(map.record_gap(11));
  ASSERT_TRUE(plain(map, 11, 10, 10));
  ASSERT_TRUE(map.record_gap(22));
  ASSERT_TRUE(plain(map, 22, 10, 20));
  ASSERT_EQ(map.entry_count(), 3u);

  map.trim_below(5);
  EXPECT_EQ(map.entry_count(), 3u);
  EXPECT_EQ(map.exact_from(), 0);
  EXPECT_EQ(map.translate(0), 0);

  map.trim_below(10);
  EXPECT_EQ(map.entry_count(), 2u);
  EXPECT_EQ(map.exact_from(), 10);
  EXPECT_EQ(map.translate(9), std::nullopt);
  EXPECT_EQ(map.translate(10), 10);  // the marker; still exact
  EXPECT_EQ(map.translate(15), 14);

  map.trim_below(20);  // inside the second entry: kept
  EXPECT_EQ(map.entry_count(), 2u);
  EXPECT_EQ(map.translate(12), 11);

  map.trim_below(1000);  // past everything
  EXPECT_EQ(map.entry_count(), 0u);
  EXPECT_EQ(map.exact_from(), 32);
  EXPECT_EQ(map.translate(31), std::nullopt);
  EXPECT_EQ(map.translate(32), 30);
  ASSERT_TRUE(plain(map, 32, 2, 30));
  EXPECT_EQ(map.entry_count(), 1u);
  EXPECT_EQ(map.translate(33), 31);

  map.trim_below(0);  // never lowers the floor
  EXPECT_EQ(map.exact_from(), 32);
}

TEST(OffsetMap, CapDropsOldestAndRaisesFloor) {
  offset_map map(0, 0, 2);
  ASSERT_TRUE(plain(map, 0, 10, 0));
  ASSERT_TRUE(map.record_gap(11));
  ASSERT_TRUE(plain(map, 11, 10, 10));
  EXPECT_EQ(map.entry_count(), 2u);
  EXPECT_EQ(map.exact_from(), 0);
  ASSERT_TRUE(map.record_gap(22));
  ASSERT_TRUE(plain(map, 22, 10, 20));
  EXPECT_EQ(map.entry_count(), 2u);
  EXPECT_EQ(map.exact_from(), 10);
  EXPECT_EQ(map.translate(9), std::nullopt);
  EXPECT_EQ(map.translate(10), 10);
  EXPECT_EQ(map.translate(25), 23);

  map.set_max_entries(0);  // clamped to 1
  EXPECT_EQ(map.max_entries(), 1u);
  EXPECT_EQ(map.entry_count(), 1u);
  EXPECT_EQ(map.exact_from(), 21);
  EXPECT_EQ(map.translate(20), std::nullopt);
  EXPECT_EQ(map.translate(21), 20);

  // Merging into the surviving entry does not count against the cap.
  ASSERT_TRUE(plain(map, 32, 100, 30));
  EXPECT_EQ(map.entry_count(), 1u);
  EXPECT_EQ(map.translate(131), 129);
}

TEST(OffsetMap, CapHoldsOverManyEntries) {
  offset_map map(0, 0, 1000);
  int64_t d = 0;
  for (int64_t i = 0; i < 10'000; ++i) {
    ASSERT_TRUE(plain(map, i * 11, 10, d));
    ASSERT_TRUE(map.record_gap(i * 11 + 11));
    d += 10;
  }
  EXPECT_EQ(map.entry_count(), 1000u);
  // The floor is the end of the last dropped entry: the marker before entry 9000.
  EXPECT_EQ(map.exact_from(), 9000 * 11 - 1);
  EXPECT_EQ(map.translate(9000 * 11 - 2), std::nullopt);
  EXPECT_EQ(map.translate(9000 * 11 - 1), 90'000);
  EXPECT_EQ(map.translate(9000 * 11), 90'000);
  EXPECT_EQ(map.translate(9999 * 11 + 5), 99'995);
  EXPECT_LT(map.memory_bytes(), 3 * 1000 * sizeof(offset_segment));
}

TEST(OffsetMap, RejectsOutOfOrderInputAndChangesNothing) {
  offset_map map(0, 0);
  ASSERT_TRUE(plain(map, 0, 10, 0));
  ASSERT_TRUE(map.record_gap(12));
  const std::string before = map.serialize();

  EXPECT_FALSE(plain(map, 11, 1, 10));                        // below mirrored offset
  EXPECT_FALSE(plain(map, 12, 1, 9));                         // destination goes back
  EXPECT_FALSE(plain(map, 12, 0, 10));                        // empty run
  EXPECT_FALSE(plain(map, 12, -1, 10));                       // negative count
  EXPECT_FALSE(runs(map, {{12, 2}, {13, 1}}, 10, 14));        // overlapping runs
  EXPECT_FALSE(runs(map, {{14, 1}, {12, 1}}, 10, 15));        // decreasing runs
  EXPECT_FALSE(runs(map, {{12, 3}}, 10, 14));                 // source_next inside the batch
  EXPECT_FALSE(runs(map, {{12, int64_max}}, 10, int64_max));  // source overflow
  EXPECT_FALSE(runs(map, {{12, 1}}, int64_max, 13));          // destination overflow
  EXPECT_FALSE(map.record_gap(11));                           // gap goes back
  EXPECT_EQ(map.serialize(), before);

  EXPECT_TRUE(map.record_gap(12));     // empty gap is fine
  EXPECT_TRUE(runs(map, {}, 10, 13));  // a batch compaction emptied: a gap
  EXPECT_EQ(map.mirrored_source_offset(), 13);
  EXPECT_EQ(map.destination_end_offset(), 10);
}

TEST(OffsetMap, NegativeStartIsAStartUpError) {
  EXPECT_THROW(offset_map(-1, 0), std::invalid_argument);
  EXPECT_THROW(offset_map(0, -1), std::invalid_argument);
}

TEST(OffsetMap, MemoryGrowsWithEntriesNotRecords) {
  offset_map map(0, 0);
  const std::size_t empty = map.memory_bytes();
  for (int64_t i = 0; i < 1000; ++i)
    ASSERT_TRUE(plain(map, i * 100, 100, i * 100));
  EXPECT_EQ(map.entry_count(), 1u);
  EXPECT_LE(map.memory_bytes(), empty + sizeof(offset_segment));
}

// ----------------------------------------------------------- property test

// Brute force: every mirrored record's (source offset, destination offset).
struct model {
  int64_t start;
  int64_t destination_start;
  std::vector<std::pair<int64_t, int64_t>> records;
  int64_t destination_end;

  int64_t translate(int64_t c) const {
    auto it = std::lower_bound(records.begin(), records.end(), c,
                               [](const auto& r, int64_t v) { return r.first < v; });
    return it == records.end() ? destination_end : it->second;
  }

  // The segments a perfectly merging map keeps above `floor`.
  std::vector<offset_segment> segments_above(int64_t floor) const {
    std::vector<offset_segment> out;
    for (auto [s, d] : records) {
      if (s < floor) continue;
      if (!out.empty() && out.back().source_end() == s && out.back().destination_end() == d)
        ++out.back().length;
      else
        out.push_back({s, d, 1});
    }
    return out;
  }
};

void check_against_model(const offset_map& map, const model& m, int64_t source_next,
                         int64_t lowest_promised, bool cap_bites, const std::string& where) {
  SCOPED_TRACE(where);
  ASSERT_EQ(map.mirrored_source_offset(), source_next);
  ASSERT_EQ(map.destination_end_offset(), m.destination_end);
  const int64_t floor = map.exact_from();
  ASSERT_GE(floor, m.start);
  // Without the cap, only trim raises the floor, and never past the trim point.
  if (!cap_bites) {
    ASSERT_LE(floor, lowest_promised);
  }
  // The floor always sits on the end of something that was once an entry.
  if (floor != m.start) {
    auto it = std::lower_bound(m.records.begin(), m.records.end(), floor - 1,
                               [](const auto& r, int64_t v) { return r.first < v; });
    ASSERT_TRUE(it != m.records.end() && it->first == floor - 1);
  }
  ASSERT_LE(map.entry_count(), map.max_entries());
  const auto expected = m.segments_above(floor);
  ASSERT_EQ(std::vector<offset_segment>(map.entries().begin(), map.entries().end()), expected);
  for (int64_t c = m.start - 3; c <= source_next + 3; ++c) {
    if (c < floor) {
      ASSERT_EQ(map.translate(c), std::nullopt) << c;
    } else {
      ASSERT_EQ(map.translate(c), m.translate(c)) << c;
    }
  }
  ASSERT_EQ(map.translate(source_next + 1'000'000), m.destination_end);
  ASSERT_EQ(map.translate(int64_max), m.destination_end);
}

TEST(OffsetMapProperty, RandomEventSequencesMatchBruteForce) {
  std::mt19937_64 rng(0x6b6c696e6b);
  auto pick = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  constexpr int cases = 4000;
  for (int case_no = 0; case_no < cases; ++case_no) {
    const int64_t start = pick(0, 3) == 0 ? pick(0, int64_t{1} << 50) : pick(0, 1000);
    const int64_t destination_start = pick(0, 3) == 0 ? pick(0, int64_t{1} << 50) : pick(0, 1000);
    const bool small_cap = pick(0, 3) == 0;
    const std::size_t cap =
        small_cap ? static_cast<std::size_t>(pick(1, 12)) : offset_map::default_max_entries;
    offset_map map(start, destination_start, cap);
    model m{start, destination_start, {}, destination_start};
    int64_t source_next = start;
    int64_t lowest_promised = start;  // every c >= this must stay exact (no cap)
    const int events = static_cast<int>(pick(1, 40));
    const std::string where = "case " + std::to_string(case_no);

    for (int e = 0; e < events; ++e) {
      const int64_t kind = pick(0, 99);
      if (kind < 35) {  // plain batch, sometimes after an unreported skip or a destination gap
        const int64_t first = source_next + (pick(0, 9) == 0 ? pick(1, 5) : 0);
        const int64_t count = pick(1, 30);
        const int64_t base = m.destination_end + (pick(0, 9) == 0 ? pick(1, 5) : 0);
        ASSERT_TRUE(plain(map, first, count, base)) << where;
        for (int64_t i = 0; i < count; ++i)
          m.records.emplace_back(first + i, base + i);
        m.destination_end = base + count;
        source_next = first + count;
      } else if (kind < 50) {  // control marker
        ASSERT_TRUE(map.record_gap(source_next + 1)) << where;
        source_next += 1;
      } else if (kind < 60) {  // aborted transaction's batches
        source_next += pick(1, 20);
        ASSERT_TRUE(map.record_gap(source_next)) << where;
      } else if (kind < 80) {  // compacted batch with random holes (maybe all)
        const int64_t span = pick(1, 30);
        const int keep_per_mille = static_cast<int>(pick(0, 1000));
        std::vector<source_run> rs;
        const int64_t base = m.destination_end;
        int64_t d = base;
        for (int64_t s = source_next; s < source_next + span; ++s) {
          if (pick(0, 999) >= keep_per_mille) continue;
          // Deliberately split contiguous kept offsets sometimes: the map must merge.
          if (!rs.empty() && rs.back().source_offset + rs.back().count == s && pick(0, 1))
            ++rs.back().count;
          else
            rs.push_back({s, 1});
          m.records.emplace_back(s, d++);
        }
        ASSERT_TRUE(map.record_batch(rs, base, source_next + span)) << where;
        m.destination_end = d;
        source_next += span;
      } else if (kind < 85) {  // large random gap
        source_next += pick(0, 200);
        ASSERT_TRUE(map.record_gap(source_next)) << where;
      } else if (kind < 89) {  // trim below the source's log start
        const int64_t log_start = pick(start - 5, source_next + 10);
        map.trim_below(log_start);
        lowest_promised = std::max(lowest_promised, log_start);
      } else if (kind < 93) {  // checkpoint and resume from it
        const std::string bytes = map.serialize();
        auto back = offset_map::deserialize(bytes, map.max_entries());
        ASSERT_TRUE(back.has_value()) << where << ": " << back.error().message();
        ASSERT_EQ(back->serialize(), bytes) << where;
        map = std::move(*back);
        check_against_model(map, m, source_next, lowest_promised, small_cap, where + " resumed");
      } else {  // invalid input: rejected, nothing changes
        const std::string before = map.serialize();
        const int64_t bad = pick(0, 3);
        if (bad == 0 && source_next > 0) {
          EXPECT_FALSE(plain(map, source_next - 1, 1, m.destination_end)) << where;
        } else if (bad == 1 && m.destination_end > 0) {
          EXPECT_FALSE(plain(map, source_next, 1, m.destination_end - 1)) << where;
        } else if (bad == 2) {
          EXPECT_FALSE(runs(map, {{source_next, 2}}, m.destination_end, source_next + 1)) << where;
        } else if (source_next > 0) {
          EXPECT_FALSE(map.record_gap(source_next - 1)) << where;
        }
        ASSERT_EQ(map.serialize(), before) << where;
      }
      ASSERT_EQ(map.mirrored_source_offset(), source_next) << where;
      ASSERT_EQ(map.destination_end_offset(), m.destination_end) << where;
      ASSERT_LE(map.entry_count(), cap) << where;
    }
    check_against_model(map, m, source_next, lowest_promised, small_cap, where);

    const std::string bytes = map.serialize();
    auto back = offset_map::deserialize(bytes, cap);
    ASSERT_TRUE(back.has_value()) << where << ": " << back.error().message();
    check_against_model(*back, m, source_next, lowest_promised, small_cap, where + " round trip");
    // Cut the checkpoint anywhere: rejected, never a crash.
    ASSERT_FALSE(offset_map::deserialize(bytes.substr(0, pick(0, bytes.size() - 1))).has_value())
        << where;
  }
}

}  // namespace
}  // namespace klink::offsets
