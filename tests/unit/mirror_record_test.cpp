#include "linker/mirror_record.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace {

using namespace klink::linker;

switch_result sample_result() {
  switch_result r;
  r.action = "failover";
  r.completed_at_ms = 1'795'000'000'123;
  r.partitions = {{0, 120, 100, 95, 20}, {1, 50, 50, 50, 0}};
  r.consumer_offsets_synced = true;
  r.consumer_groups_synced = 3;
  r.consumer_groups_failed = 1;
  r.consumer_offset_errors = {"billing: destination FindCoordinator: COORDINATOR_NOT_AVAILABLE"};
  return r;
}

TEST(mirror_lifecycle, phases_round_trip_by_name) {
  for (auto phase : {mirror_phase::active, mirror_phase::paused, mirror_phase::promoting,
                     mirror_phase::promoted, mirror_phase::failed_over, mirror_phase::diverged}) {
    EXPECT_EQ(parse_phase(to_string(phase)), phase);
  }
  EXPECT_FALSE(parse_phase("promoted"));  // names are upper case, as the API shows them
  EXPECT_TRUE(is_final(mirror_phase::promoted));
  EXPECT_TRUE(is_final(mirror_phase::failed_over));
  EXPECT_FALSE(is_final(mirror_phase::diverged));
  EXPECT_TRUE(is_stopped(mirror_phase::diverged));
  EXPECT_FALSE(is_stopped(mirror_phase::promoting));
}

TEST(mirror_lifecycle, records_round_trip) {
  const mirror_record promoted{
      mirror_phase::failed_over, "", sample_result(), "", "", "", "", 0, 0, {}, {}, 0};
  auto parsed = parse_mirror_record(serialize(promoted));
  ASSERT_TRUE(parsed) << parsed.error().message();
  EXPECT_EQ(*parsed, promoted);
  EXPECT_EQ(parsed->result->abandoned_records(), 20);

  const mirror_record diverged{mirror_phase::diverged,
                               "partition 2: landed at 7, expected 6",
                               std::nullopt,
                               "",
                               "",
                               "",
                               "",
                               0,
                               0,
                               {},
                               {},
                               0};
  EXPECT_EQ(parse_mirror_record(serialize(diverged)), diverged);
  const mirror_record paused{
      mirror_phase::paused, "", std::nullopt, "", "", "", "", 0, 0, {}, {}, 0};
  EXPECT_EQ(parse_mirror_record(serialize(paused)), paused);
  // Scale-out: a mirror held by an instance promoting it.
  const mirror_record held{
      mirror_phase::active, "", std::nullopt, "t", "id", "cluster", "host-1:42",
      1767225600000,        0,  {},           {},  0};
  EXPECT_EQ(parse_mirror_record(serialize(held)), held);
  // Scale-out: the third pause of a mirror.
  const mirror_record paused_again{
      mirror_phase::paused, "", std::nullopt, "", "", "", "", 0, 0, {}, {}, 3};
  EXPECT_EQ(parse_mirror_record(serialize(paused_again)), paused_again);
}

TEST(mirror_lifecycle, a_promotion_in_progress_reads_back_as_active) {
  const mirror_record promoting{
      mirror_phase::promoting, "", std::nullopt, "", "", "", "", 0, 0, {}, {}, 0};
  auto parsed = parse_mirror_record(serialize(promoting));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->phase, mirror_phase::active);
}

TEST(mirror_lifecycle, malformed_records_are_errors) {
  EXPECT_FALSE(parse_mirror_record(""));
  EXPECT_FALSE(parse_mirror_record("[]"));
  EXPECT_FALSE(parse_mirror_record(R"({"state": "PROMOTED"})"));                // no version
  EXPECT_FALSE(parse_mirror_record(R"({"version": 2, "state": "PROMOTED"})"));  // future format
  EXPECT_FALSE(parse_mirror_record(R"({"version": 1, "state": "GONE"})"));
  EXPECT_FALSE(parse_mirror_record(R"({"version": 1, "state": "PROMOTED", "result": {}})"));
}

TEST(mirror_lifecycle, keys_and_admin_json) {
  EXPECT_EQ(mirror_state_key("dr", "orders.eu"), "dr/orders.eu");
  const auto j = to_json(sample_result());
  EXPECT_EQ(j["action"], "failover");
  EXPECT_EQ(j["abandoned_records"], 20);
  EXPECT_EQ(j["completed_at"], "2026-11-18T11:06:40.123Z");
  EXPECT_EQ(j["partitions"][0]["destination_end_offset"], 95);
  EXPECT_EQ(j["consumer_offsets"]["groups_failed"], 1);
  switch_result without_sync = sample_result();
  without_sync.consumer_offsets_synced = false;
  EXPECT_FALSE(to_json(without_sync).contains("consumer_offsets"));
}

}  // namespace

TEST(mirror_record, keeps_the_mirror_name_and_source_topic_id) {
  klink::linker::mirror_record r;
  r.mirror_topic = "east.orders";
  r.source_topic_id = "x9Hc4yZ1QkWm0P1q3yL7Kw";
  r.source_cluster_id = "Jc-2ZinbQVG_21gg4zklYA";
  auto back = klink::linker::parse_mirror_record(klink::linker::serialize(r));
  ASSERT_TRUE(back.has_value()) << back.error().message();
  EXPECT_EQ(*back, r);
  // Records written before these fields read as unnamed (the source's name).
  auto old = klink::linker::parse_mirror_record(R"({"version":1,"state":"PAUSED"})");
  ASSERT_TRUE(old.has_value());
  EXPECT_EQ(old->mirror_topic, "");
  EXPECT_EQ(old->source_topic_id, "");
}

namespace {

TEST(mirror_record, keeps_generation_history_and_divergent_ranges) {
  klink::linker::mirror_record r;
  r.phase = klink::linker::mirror_phase::paused;
  r.generation = 3;
  auto reversed = sample_result();
  reversed.action = "reverse";
  reversed.consumer_offsets_synced = false;
  reversed.consumer_groups_synced = 0;
  reversed.consumer_groups_failed = 0;
  reversed.consumer_offset_errors.clear();
  r.history = {sample_result(), reversed};
  r.divergent_ranges = {{0, 100, 130, 25, "orders.divergent", 1}, {2, 7, 9, 2, "", 3}};
  auto back = klink::linker::parse_mirror_record(klink::linker::serialize(r));
  ASSERT_TRUE(back.has_value()) << back.error().message();
  EXPECT_EQ(*back, r);
  const auto json = klink::linker::to_json(r.divergent_ranges[0]);
  EXPECT_EQ(json["copied_to"], "orders.divergent");
  EXPECT_EQ(json["records"], 25);
  EXPECT_FALSE(klink::linker::to_json(r.divergent_ranges[1]).contains("copied_to"));
  // Records written before failback read as generation 0 with no history.
  auto old = klink::linker::parse_mirror_record(R"({"version":1,"state":"PROMOTED"})");
  ASSERT_TRUE(old.has_value());
  EXPECT_EQ(old->generation, 0);
  EXPECT_TRUE(old->history.empty());
  EXPECT_TRUE(old->divergent_ranges.empty());
  // A broken range or a negative generation names what is wrong.
  auto bad = klink::linker::parse_mirror_record(
      R"({"version":1,"state":"ACTIVE","divergent_ranges":[{"partition":0}]})");
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message().find("malformed mirror state record"), std::string::npos);
  auto negative =
      klink::linker::parse_mirror_record(R"({"version":1,"state":"ACTIVE","generation":-1})");
  ASSERT_FALSE(negative.has_value());
  EXPECT_NE(negative.error().message().find("negative generation"), std::string::npos);
}

}  // namespace
