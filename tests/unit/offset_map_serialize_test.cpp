// The offset map's checkpoint form: round trips, size, and a decoder that
// rejects anything serialize() could not have produced.
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

TEST(OffsetMapSerialize, RoundTripsEmptyAndLargeOffsets) {
  for (auto [s, d] :
       std::vector<std::pair<int64_t, int64_t>>{{0, 0}, {5, 9}, {int64_max - 10, int64_max - 20}}) {
    offset_map map(s, d);
    if (s < 100) {
      ASSERT_TRUE(plain(map, s + 2, 3, d + 1));
      ASSERT_TRUE(map.record_gap(s + 40));
    } else {
      ASSERT_TRUE(plain(map, s, 5, d));
    }
    const std::string bytes = map.serialize();
    auto back = offset_map::deserialize(bytes);
    ASSERT_TRUE(back.has_value()) << back.error().message();
    EXPECT_EQ(back->serialize(), bytes);
    EXPECT_EQ(back->exact_from(), map.exact_from());
    EXPECT_EQ(back->mirrored_source_offset(), map.mirrored_source_offset());
    EXPECT_EQ(back->destination_end_offset(), map.destination_end_offset());
    EXPECT_EQ(back->entry_count(), map.entry_count());
  }
}

TEST(OffsetMapSerialize, SteadyLinkCostsThreeBytesPerEntry) {
  offset_map map(0, 0);
  for (int64_t i = 0; i < 1000; ++i) {
    ASSERT_TRUE(plain(map, i * 101, 100, i * 100));
    ASSERT_TRUE(map.record_gap(i * 101 + 101));
  }
  ASSERT_EQ(map.entry_count(), 1000u);
  EXPECT_LE(map.serialize().size(), 3000u + 32u);
}

TEST(OffsetMapSerialize, DeserializeAppliesTheCap) {
  offset_map map(0, 0);
  for (int64_t i = 0; i < 10; ++i) {
    ASSERT_TRUE(plain(map, i * 11, 10, i * 10));
    ASSERT_TRUE(map.record_gap(i * 11 + 11));
  }
  auto back = offset_map::deserialize(map.serialize(), 4);
  ASSERT_TRUE(back.has_value()) << back.error().message();
  EXPECT_EQ(back->entry_count(), 4u);
  EXPECT_EQ(back->exact_from(), 65);
  EXPECT_EQ(back->translate(64), std::nullopt);
  EXPECT_EQ(back->translate(65), 60);
  EXPECT_EQ(back->translate(66), 60);
}

offset_map sample_map() {
  offset_map map(1000, 5);
  EXPECT_TRUE(plain(map, 1000, 300, 5));
  EXPECT_TRUE(map.record_gap(1301));
  EXPECT_TRUE(runs(map, {{1301, 1}, {1303, 200}, {1600, 1}}, 305, 1700));
  EXPECT_TRUE(plain(map, 1700, 2, 600));
  return map;
}

TEST(OffsetMapSerialize, RejectsEveryTruncation) {
  const std::string bytes = sample_map().serialize();
  for (std::size_t n = 0; n < bytes.size(); ++n)
    EXPECT_FALSE(offset_map::deserialize(bytes.substr(0, n)).has_value()) << n;
}

TEST(OffsetMapSerialize, RejectsEverySingleByteChangeAndTrailingBytes) {
  const std::string bytes = sample_map().serialize();
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    for (int mask : {0x01, 0x80, 0xff}) {
      std::string bad = bytes;
      bad[i] = static_cast<char>(bad[i] ^ mask);
      EXPECT_FALSE(offset_map::deserialize(bad).has_value()) << i << " " << mask;
    }
  }
  EXPECT_FALSE(offset_map::deserialize(bytes + '\0').has_value());
}

// Wraps a body in magic, version and a correct checksum, so that only the
// decoder's structural checks stand between it and acceptance.
std::string forge(std::string body, uint8_t version = 1) {
  std::string out = "ko";
  out.push_back(static_cast<char>(version));
  out += body;
  const uint32_t crc = detail::crc32c(out);
  for (int i = 0; i < 4; ++i)
    out.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
  return out;
}

std::string error_of(const std::string& bytes) {
  auto r = offset_map::deserialize(bytes);
  return r ? std::string("accepted") : r.error().message();
}

TEST(OffsetMapSerialize, StructuralChecks) {
  using namespace std::string_literals;
  // floor 0, 1 entry {gap 0, gap 0, len 1}, tails 0 0.
  EXPECT_EQ(error_of(forge("\x00\x01\x00\x00\x01\x00\x00"s)), "accepted");
  EXPECT_NE(error_of(forge("\x00\x01\x00\x00\x01\x00\x00"s, 2)).find("version"), std::string::npos);
  // A record of a future format says so, and what to do.
  EXPECT_NE(error_of(forge("\x00\x01\x00\x00\x01\x00\x00"s, 9))
                .find("format version 9, and this klink reads only 1 (a newer klink wrote it"),
            std::string::npos);
  EXPECT_NE(error_of("xx\x01\x00\x00\x00\x00\x00\x00\x00\x00"s).find("magic"), std::string::npos);
  EXPECT_NE(error_of(forge("\x00\x01\x00\x00\x00\x00\x00"s)).find("empty entry"),
            std::string::npos);
  EXPECT_NE(error_of(forge("\x00\x02\x00\x00\x01\x00\x00\x01\x00\x00"s)).find("unmerged"),
            std::string::npos);
  EXPECT_NE(error_of(forge("\x00\x7f\x00\x00\x01\x00\x00"s)).find("entry count"),
            std::string::npos);
  EXPECT_NE(error_of(forge("\x80\x00\x00\x00\x00"s)).find("minimally"), std::string::npos);
  // floor = INT64_MAX needs 9 bytes; bit 63 (10th byte) is out of range.
  const std::string max_floor = "\xff\xff\xff\xff\xff\xff\xff\xff\x7f"s;
  EXPECT_EQ(error_of(forge(max_floor + "\x00\x00\x00"s)), "accepted");
  EXPECT_NE(error_of(forge("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x00\x00\x00"s)).find("range"),
            std::string::npos);
  EXPECT_NE(error_of(forge(max_floor + "\x00\x01\x00"s)).find("overflow"), std::string::npos);
  EXPECT_NE(error_of(forge("\x00\x00\x00\x00\x00"s)).find("trailing"), std::string::npos);
}

TEST(OffsetMapSerialize, RandomBodiesNeverCrashAndAcceptedOnesAreCanonical) {
  std::mt19937_64 rng(20240611);
  int accepted = 0;
  for (int i = 0; i < 20'000; ++i) {
    std::string body(rng() % 24, '\0');
    for (char& ch : body) {
      // Mostly small bytes so that some bodies parse.
      ch = static_cast<char>(rng() % 4 == 0 ? rng() % 256 : rng() % 4);
    }
    const std::string bytes = forge(body);
    auto r = offset_map::deserialize(bytes);
    if (r) {
      ++accepted;
      EXPECT_EQ(r->serialize(), bytes);
    }
  }
  EXPECT_GT(accepted, 0);
}

}  // namespace
}  // namespace klink::offsets

TEST(KlinkError, CodeTokenIsOneUpperCaseWord) {
  EXPECT_EQ(klink::error(klink::errc::source_records_deleted, "Fetch").code_token(),
            "SOURCE_RECORDS_DELETED");
  EXPECT_EQ(klink::error(klink::errc::unreadable_state, "resume").code_token(), "UNREADABLE_STATE");
  EXPECT_EQ(klink::error(klink::kafka::error_code::message_too_large, "Produce").code_token(),
            "MESSAGE_TOO_LARGE");
}
