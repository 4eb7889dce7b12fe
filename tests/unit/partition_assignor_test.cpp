#include "linker/partition_assignor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>

namespace klink::linker {
namespace {

std::vector<topic_partition> fake_partitions(int count, const std::string& topic = "t") {
  std::vector<topic_partition> out;
  for (int p = 0; p < count; ++p)
    out.emplace_back(topic, p);
  return out;
}

member_subscription fresh(const std::string& id) {
  return member_subscription{id, {}, -1};
}

// Every partition exactly once, counts within one of each other.
void expect_valid(const assignment_map& result, const std::vector<topic_partition>& partitions) {
  std::multiset<topic_partition> all;
  std::size_t lo = SIZE_MAX, hi = 0;
  for (const auto& [member, list] : result) {
    all.insert(list.begin(), list.end());
    lo = std::min(lo, list.size());
    hi = std::max(hi, list.size());
  }
  EXPECT_EQ(all, std::multiset<topic_partition>(partitions.begin(), partitions.end()));
  if (!result.empty()) {
    EXPECT_LE(hi - lo, 1u);
  }
}

std::set<topic_partition> as_set(const std::vector<topic_partition>& v) {
  return {v.begin(), v.end()};
}

TEST(partition_assignor, three_fresh_members_share_24_partitions_8_each) {
  const auto parts = fake_partitions(24);
  auto result = assign_partitions({fresh("c"), fresh("a"), fresh("b")}, parts);
  ASSERT_EQ(result.size(), 3u);
  for (const auto& [member, list] : result)
    EXPECT_EQ(list.size(), 8u) << member;
  expect_valid(result, parts);
}

TEST(partition_assignor, no_members_or_no_partitions) {
  EXPECT_TRUE(assign_partitions({}, fake_partitions(5)).empty());
  auto result = assign_partitions({fresh("a"), fresh("b")}, {});
  ASSERT_EQ(result.size(), 2u);
  EXPECT_TRUE(result["a"].empty());
  EXPECT_TRUE(result["b"].empty());
}

TEST(partition_assignor, more_members_than_partitions) {
  const auto parts = fake_partitions(2);
  auto result = assign_partitions({fresh("a"), fresh("b"), fresh("c")}, parts);
  expect_valid(result, parts);
  EXPECT_EQ(result["a"].size() + result["b"].size() + result["c"].size(), 2u);
}

TEST(partition_assignor, deterministic_whatever_the_input_order) {
  auto parts = fake_partitions(17);
  std::vector<member_subscription> members = {
      {"m1", {{"t", 3}, {"t", 4}}, 2}, {"m2", {{"t", 5}}, 2}, fresh("m3"), fresh("m4")};
  const auto first = assign_partitions(members, parts);
  std::mt19937 rng(7);
  for (int i = 0; i < 20; ++i) {
    std::ranges::shuffle(parts, rng);
    std::ranges::shuffle(members, rng);
    EXPECT_EQ(assign_partitions(members, parts), first);
  }
}

TEST(partition_assignor, member_killed_survivors_keep_theirs_and_split_the_rest) {
  const auto parts = fake_partitions(24);
  auto gen1 = assign_partitions({fresh("a"), fresh("b"), fresh("c")}, parts);
  auto gen2 = assign_partitions({{"a", gen1["a"], 1}, {"b", gen1["b"], 1}}, parts);
  expect_valid(gen2, parts);
  EXPECT_EQ(gen2["a"].size(), 12u);
  EXPECT_EQ(gen2["b"].size(), 12u);
  for (const auto& p : gen1["a"])
    EXPECT_TRUE(as_set(gen2["a"]).contains(p));
  for (const auto& p : gen1["b"])
    EXPECT_TRUE(as_set(gen2["b"]).contains(p));
}

TEST(partition_assignor, member_back_others_give_back_what_they_took_over) {
  const auto parts = fake_partitions(24);
  auto gen1 = assign_partitions({fresh("a"), fresh("b"), fresh("c")}, parts);
  auto gen2 = assign_partitions({{"a", gen1["a"], 1}, {"b", gen1["b"], 1}}, parts);
  // "c" comes back with a new member id and nothing owned.
  auto gen3 = assign_partitions({{"a", gen2["a"], 2}, {"b", gen2["b"], 2}, fresh("c2")}, parts);
  expect_valid(gen3, parts);
  EXPECT_EQ(as_set(gen3["a"]), as_set(gen1["a"]));
  EXPECT_EQ(as_set(gen3["b"]), as_set(gen1["b"]));
  EXPECT_EQ(as_set(gen3["c2"]), as_set(gen1["c"]));
}

TEST(partition_assignor, stale_claim_of_an_older_generation_loses) {
  const auto parts = fake_partitions(6);
  // "old" was frozen while "new" took its partitions over in generation 5.
  auto result = assign_partitions(
      {{"old", {{"t", 0}, {"t", 1}, {"t", 2}}, 3}, {"new", {{"t", 0}, {"t", 1}, {"t", 2}}, 5}},
      parts);
  expect_valid(result, parts);
  EXPECT_EQ(as_set(result["new"]), as_set({{"t", 0}, {"t", 1}, {"t", 2}}));
  EXPECT_EQ(as_set(result["old"]), as_set({{"t", 3}, {"t", 4}, {"t", 5}}));
}

TEST(partition_assignor, balance_beats_stickiness) {
  const auto parts = fake_partitions(10);
  auto result = assign_partitions({{"a", parts, 4}, fresh("b")}, parts);
  expect_valid(result, parts);
  // "a" keeps its five oldest.
  EXPECT_EQ(result["a"], std::vector<topic_partition>(parts.begin(), parts.begin() + 5));
}

TEST(partition_assignor, partitions_gone_are_dropped_new_ones_spread) {
  auto parts = fake_partitions(4);
  parts.emplace_back("u", 0);
  parts.emplace_back("u", 1);
  auto result = assign_partitions(
      {{"a", {{"t", 0}, {"t", 1}, {"gone", 0}}, 2}, {"b", {{"t", 2}, {"t", 3}}, 2}}, parts);
  expect_valid(result, parts);
  EXPECT_EQ(result["a"].size(), 3u);
  EXPECT_EQ(result["b"].size(), 3u);
  EXPECT_EQ(result["a"][0], (topic_partition{"t", 0}));
  EXPECT_EQ(result["b"][0], (topic_partition{"t", 2}));
}

TEST(partition_assignor, random_rebalances_stay_valid_and_move_little) {
  std::mt19937 rng(42);
  std::vector<member_subscription> members;
  const auto parts = fake_partitions(50);
  int next_id = 0;
  for (int gen = 1; gen < 60; ++gen) {
    // A member joins or leaves.
    if (members.size() < 2 || (members.size() < 8 && rng() % 2 == 0)) {
      members.push_back(fresh("m" + std::to_string(next_id++)));
    } else {
      members.erase(members.begin() + static_cast<long>(rng() % members.size()));
    }
    auto result = assign_partitions(members, parts);
    expect_valid(result, parts);
    for (auto& m : members) {
      // A survivor loses partitions only if it had more than its fair share.
      const std::size_t fair = (parts.size() + members.size() - 1) / members.size();
      std::size_t kept = 0;
      for (const auto& p : m.owned)
        kept += as_set(result[m.member_id]).contains(p);
      EXPECT_GE(kept, std::min(m.owned.size(), fair - 1));
      m.owned = result[m.member_id];
      m.owned_generation = gen;
    }
  }
}

TEST(partition_assignor_blobs, metadata_round_trips_in_order) {
  member_metadata m{"host-1:4242", 7, {{"b", 3}, {"a", 1}, {"b", 0}, {"b", 1}}};
  auto blob = encode_member_metadata(m);
  auto back = decode_member_metadata(blob);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(*back, m);
  const std::string text(reinterpret_cast<const char*>(blob.data()), blob.size());
  EXPECT_NE(text.find("\"v\":1"), std::string::npos) << text;
}

TEST(partition_assignor_blobs, assignment_round_trips) {
  member_assignment a{12, "klink-member-1-uuid", {{"t", 0}, {"t", 5}, {"u", 2}}};
  auto back = decode_member_assignment(encode_member_assignment(a));
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(*back, a);
}

TEST(partition_assignor_blobs, newer_version_with_unknown_fields_is_read) {
  const std::string text =
      R"({"v":3,"generation":4,"leader":"L","partitions":[["t",[1,2]]],"future":{"x":1}})";
  auto back = decode_member_assignment(
      kafka::bytes_view(reinterpret_cast<const std::byte*>(text.data()), text.size()));
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->generation, 4);
  EXPECT_EQ(back->partitions, (std::vector<topic_partition>{{"t", 1}, {"t", 2}}));
}

TEST(partition_assignor_blobs, garbage_is_an_error_not_an_exception) {
  for (const std::string text :
       {"", "{", "[]", R"({"generation":1})", R"({"v":0})", R"({"v":1,"owned":[["t",["x"]]]})",
        R"({"v":1,"owned":{"t":[1]}})", R"({"v":1,"generation":"1"})"}) {
    kafka::bytes_view blob(reinterpret_cast<const std::byte*>(text.data()), text.size());
    EXPECT_FALSE(decode_member_metadata(blob)) << text;
  }
}

}  // namespace
}  // namespace klink::linker
