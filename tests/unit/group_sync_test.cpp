#include "offsets/group_sync.h"

#include <gtest/gtest.h>

#include <map>
#include <regex>

#include "offsets/offset_map.h"

namespace {

using klink::offsets::committed_offset;
using klink::offsets::group_filter;
using klink::offsets::group_is_inactive;
using klink::offsets::offset_map;
using klink::offsets::plan_commits;
using klink::offsets::source_run;

TEST(group_filter, whole_name_match_with_excludes) {
  const group_filter f({"orders-.*", "billing"}, {"orders-tmp-.*"});
  EXPECT_TRUE(f.matches("orders-app"));
  EXPECT_TRUE(f.matches("billing"));
  EXPECT_FALSE(f.matches("billing-2"));  // whole name, not a substring
  EXPECT_FALSE(f.matches("my-orders-app"));
  EXPECT_FALSE(f.matches("orders-tmp-1"));
  EXPECT_FALSE(group_filter().matches("anything"));  // no include pattern
}

TEST(group_filter, never_matches_klinks_own_groups) {
  const group_filter f({".*"}, {});
  EXPECT_TRUE(f.matches("app"));
  EXPECT_FALSE(f.matches("__klink"));
  EXPECT_FALSE(f.matches("__klink-link-a"));
}

TEST(group_filter, bad_pattern_throws) {
  EXPECT_THROW(group_filter({"orders-("}, {}), std::regex_error);
}

TEST(group_state, only_empty_and_dead_are_inactive) {
  EXPECT_TRUE(group_is_inactive("Empty"));
  EXPECT_TRUE(group_is_inactive("Dead"));
  for (const char* s : {"Stable", "PreparingRebalance", "CompletingRebalance", "Unknown", ""}) {
    EXPECT_FALSE(group_is_inactive(s)) << s;
  }
}

// One partition whose source holds: records 0..9, a commit marker at 10,
// aborted records 11..14, a marker at 15, records 16..19. klink copied 0..9
// to 0..9 and 16..19 to 10..13.
offset_map transactional_map() {
  offset_map map(0, 0);
  const source_run first[] = {{0, 10}};
  EXPECT_TRUE(map.record_batch(first, 0, 10));
  EXPECT_TRUE(map.record_gap(16));
  const source_run second[] = {{16, 4}};
  EXPECT_TRUE(map.record_batch(second, 10, 20));
  return map;
}

struct fixture {
  std::map<std::pair<std::string, int32_t>, offset_map> maps;
  klink::offsets::translate_fn translate = [this](const std::string& t, int32_t p,
                                                  int64_t o) -> std::optional<int64_t> {
    auto it = maps.find({t, p});
    if (it == maps.end()) return std::nullopt;
    return it->second.translate(o);
  };
  klink::offsets::mirrored_fn mirrored = [](const std::string& t, int32_t) {
    return t == "orders";
  };
};

TEST(plan_commits, translates_past_markers_and_aborted_records) {
  fixture f;
  f.maps.emplace(std::pair<std::string, int32_t>{"orders", 0}, transactional_map());
  const std::vector<committed_offset> source = {
      {"orders", 0, 10, "meta"},  // next is the marker: the next record is source 16
  };
  auto plan = plan_commits(source, {}, f.translate, f.mirrored);
  ASSERT_EQ(plan.commits.size(), 1u);
  EXPECT_EQ(plan.commits[0], (committed_offset{"orders", 0, 10, "meta"}));
  for (int64_t c : {11, 12, 15, 16}) {
    plan = plan_commits({{"orders", 0, c, std::nullopt}}, {}, f.translate, f.mirrored);
    ASSERT_EQ(plan.commits.size(), 1u) << c;
    EXPECT_EQ(plan.commits[0].offset, 10) << c;
  }
  plan = plan_commits({{"orders", 0, 18, std::nullopt}}, {}, f.translate, f.mirrored);
  EXPECT_EQ(plan.commits.at(0).offset, 12);
  // At or past everything mirrored: the destination's end (re-read, never skip).
  plan = plan_commits({{"orders", 0, 25, std::nullopt}}, {}, f.translate, f.mirrored);
  EXPECT_EQ(plan.commits.at(0).offset, 14);
}

TEST(plan_commits, skips_unmirrored_untranslatable_and_negative) {
  fixture f;
  f.maps.emplace(std::pair<std::string, int32_t>{"orders", 0}, offset_map(100, 0));
  const std::vector<committed_offset> source = {
      {"orders", 0, 50, std::nullopt},   // below where mirroring started
      {"orders", 1, 5, std::nullopt},    // no map for this partition
      {"orders", 0, -1, std::nullopt},   // nothing committed
      {"payments", 0, 5, std::nullopt},  // not mirrored
  };
  auto plan = plan_commits(source, {}, f.translate, f.mirrored);
  EXPECT_TRUE(plan.commits.empty());
  EXPECT_EQ(plan.untranslatable, 2);
}

TEST(plan_commits, scale_out_commits_only_the_partitions_run_here) {
  fixture f;
  f.maps.emplace(std::pair<std::string, int32_t>{"orders", 0}, transactional_map());
  f.maps.emplace(std::pair<std::string, int32_t>{"orders", 1}, transactional_map());
  // Partition 1 runs on another instance of the link, which commits it.
  f.mirrored = [](const std::string& t, int32_t p) { return t == "orders" && p == 0; };
  const std::vector<committed_offset> source = {
      {"orders", 0, 18, std::nullopt},
      {"orders", 1, 18, std::nullopt},
  };
  auto plan = plan_commits(source, {}, f.translate, f.mirrored);
  ASSERT_EQ(plan.commits.size(), 1u);
  EXPECT_EQ(plan.commits[0], (committed_offset{"orders", 0, 12, std::nullopt}));
  EXPECT_EQ(plan.untranslatable, 0);  // not run here is not "cannot translate"
}

TEST(plan_commits, destination_group_only_moves_forward) {
  fixture f;
  f.maps.emplace(std::pair<std::string, int32_t>{"orders", 0}, transactional_map());
  f.maps.emplace(std::pair<std::string, int32_t>{"orders", 1}, transactional_map());
  f.maps.emplace(std::pair<std::string, int32_t>{"orders", 2}, transactional_map());
  const std::vector<committed_offset> source = {
      {"orders", 0, 18, std::nullopt},  // -> 12
      {"orders", 1, 18, std::nullopt},  // -> 12
      {"orders", 2, 18, std::nullopt},  // -> 12
  };
  const std::vector<committed_offset> destination = {
      {"orders", 0, 12, std::nullopt},  // already there
      {"orders", 1, 13, std::nullopt},  // a consumer read further on the destination
      {"orders", 2, 4, std::nullopt},   // behind
  };
  auto plan = plan_commits(source, destination, f.translate, f.mirrored);
  ASSERT_EQ(plan.commits.size(), 1u);
  EXPECT_EQ(plan.commits[0], (committed_offset{"orders", 2, 12, std::nullopt}));
  EXPECT_EQ(plan.up_to_date, 2);
}

}  // namespace

TEST(plan_commits, commits_under_the_prefixed_mirror_name) {
  fixture f;
  f.maps.emplace(std::pair<std::string, int32_t>{"orders", 0}, transactional_map());
  auto prefixed = [](const std::string& t) { return "east." + t; };
  // Source offset 18 translates to 12. An offset under the source's name on
  // the destination is not the mirror's: only east.orders counts.
  const std::vector<committed_offset> destination = {{"orders", 0, 100, std::nullopt},
                                                     {"east.orders", 0, 2, std::nullopt}};
  auto plan = plan_commits({{"orders", 0, 18, std::nullopt}}, destination, f.translate, f.mirrored,
                           prefixed);
  ASSERT_EQ(plan.commits.size(), 1u);
  EXPECT_EQ(plan.commits[0], (committed_offset{"east.orders", 0, 12, std::nullopt}));
  plan = plan_commits({{"orders", 0, 18, std::nullopt}}, {{"east.orders", 0, 13, std::nullopt}},
                      f.translate, f.mirrored, prefixed);
  EXPECT_TRUE(plan.commits.empty());
  EXPECT_EQ(plan.up_to_date, 1);
}
