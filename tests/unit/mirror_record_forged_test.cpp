// Mirror state records that klink never writes but __klink_mirror_states may
// hold (another program, a damaged topic): found by tests/fuzz/fuzz_mirror_record.
#include <gtest/gtest.h>

#include "linker/mirror_record.h"

namespace {

using namespace klink::linker;

// A float where an integer belongs was cast (undefined behaviour beyond the
// integer's range); now it is refused like any field of the wrong type.
TEST(mirror_record_forged, refuses_floats_in_integer_fields) {
  EXPECT_FALSE(parse_mirror_record(R"({"version":1e300,"state":"ACTIVE"})"));
  EXPECT_FALSE(parse_mirror_record(R"({"version":1,"state":"ACTIVE","generation":1e300})"));
  EXPECT_FALSE(parse_mirror_record(R"({"version":1,"state":"ACTIVE","held_until_ms":-1e300})"));
  EXPECT_FALSE(parse_mirror_record(
      R"({"version":1,"state":"PROMOTED","result":{"action":"promote","completed_at_ms":1,)"
      R"("partitions":[{"partition":1e20,"source_end_offset":0,"mirrored_source_offset":0,)"
      R"("destination_end_offset":0,"abandoned_records":0}]}})"));
}

// Two partitions abandoning INT64_MAX records each: the total overflowed
// (undefined behaviour) when the record was written back or answered.
TEST(mirror_record_forged, abandoned_records_saturate_and_are_never_negative) {
  const std::string max = "9223372036854775807";
  auto partition = [](const std::string& p, const std::string& abandoned) {
    return R"({"partition":)" + p +
           R"(,"source_end_offset":0,"mirrored_source_offset":0,"destination_end_offset":0,)"
           R"("abandoned_records":)" +
           abandoned + "}";
  };
  auto record = parse_mirror_record(
      R"({"version":1,"state":"PROMOTED","result":{"action":"promote","completed_at_ms":1,)"
      R"("partitions":[)" +
      partition("0", max) + "," + partition("1", max) + "]}}");
  ASSERT_TRUE(record) << record.error().message();
  EXPECT_EQ(record->result->abandoned_records(), INT64_MAX);
  EXPECT_EQ(*parse_mirror_record(serialize(*record)), *record);
  EXPECT_FALSE(parse_mirror_record(
      R"({"version":1,"state":"PROMOTED","result":{"action":"promote","completed_at_ms":1,)"
      R"("partitions":[)" +
      partition("0", "-1") + "]}}"));
}

// serialize writes held_by only with a hold (held_until_ms > 0): a held_by
// without one is no hold, and reads back as none.
TEST(mirror_record_forged, a_hold_without_an_end_is_no_hold) {
  auto record = parse_mirror_record(R"({"version":1,"state":"ACTIVE","held_by":"host:1"})");
  ASSERT_TRUE(record);
  EXPECT_EQ(record->held_by, "");
  record = parse_mirror_record(
      R"({"version":1,"state":"ACTIVE","held_by":"host:1","held_until_ms":-5})");
  ASSERT_TRUE(record);
  EXPECT_EQ(record->held_until_ms, 0);
  EXPECT_EQ(record->held_by, "");
  EXPECT_EQ(*parse_mirror_record(serialize(*record)), *record);
}

}  // namespace
