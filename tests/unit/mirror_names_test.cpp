#include "linker/mirror_names.h"

#include <gtest/gtest.h>

#include <string>

#include "linker/mirror_topic_config.h"

using klink::linker::config_changes;
using klink::linker::desired_synced_configs;
using klink::linker::mirror_of_a_mirror;
using klink::linker::mirror_topic_configs;
using klink::linker::topic_name_problem;

TEST(topic_name_problem, follows_kafkas_rules) {
  EXPECT_EQ(topic_name_problem("east.orders_v2-x"), "");
  EXPECT_NE(topic_name_problem(""), "");
  EXPECT_NE(topic_name_problem("."), "");
  EXPECT_NE(topic_name_problem(".."), "");
  EXPECT_NE(topic_name_problem("orders/eu"), "");
  EXPECT_NE(topic_name_problem("caf\xc3\xa9"), "");
  EXPECT_EQ(topic_name_problem(std::string(249, 'a')), "");
  EXPECT_NE(topic_name_problem(std::string(250, 'a')).find("249"), std::string::npos);
}

TEST(mirror_of_a_mirror, by_prefix_or_by_klinks_state) {
  const std::vector<std::string> prefixes{"west.", ""};
  EXPECT_NE(mirror_of_a_mirror("west.orders", prefixes, {}), "");
  EXPECT_EQ(mirror_of_a_mirror("orders", prefixes, {}), "");
  // An empty prefix marks nothing (it would mark everything).
  EXPECT_EQ(mirror_of_a_mirror("payments", {""}, {}), "");
  EXPECT_NE(mirror_of_a_mirror("payments", {}, {"payments"}), "");
  EXPECT_EQ(mirror_of_a_mirror("payments2", {}, {"payments"}), "");
}

TEST(mirror_topic_configs, copies_synced_and_fixes_what_byte_copying_needs) {
  const std::map<std::string, std::string> source{
      {"retention.ms", "3600000"},      {"cleanup.policy", "compact"},
      {"compression.type", "gzip"},     {"message.timestamp.type", "LogAppendTime"},
      {"max.message.bytes", "1048588"}, {"segment.ms", "1000"}};
  const auto out = mirror_topic_configs(source, {"retention.ms", "cleanup.policy"});
  EXPECT_EQ(out.at("retention.ms"), "3600000");
  EXPECT_EQ(out.at("cleanup.policy"), "compact");
  EXPECT_FALSE(out.contains("segment.ms"));  // not synced
  EXPECT_EQ(out.at("compression.type"), "producer");
  EXPECT_EQ(out.at("message.timestamp.type"), "CreateTime");
  EXPECT_GT(std::stoll(out.at("max.message.bytes")), 1048588);
}

TEST(desired_synced_configs, only_synced_names_with_klinks_fixed_values) {
  const std::map<std::string, std::string> source{{"retention.ms", "1000"},
                                                  {"message.timestamp.type", "LogAppendTime"},
                                                  {"max.message.bytes", "2000000"}};
  const auto desired = desired_synced_configs(
      source, {"retention.ms", "message.timestamp.type", "max.message.bytes", "segment.ms"});
  EXPECT_EQ(desired.size(), 3u);  // segment.ms: the source reported none
  EXPECT_EQ(desired.at("retention.ms"), "1000");
  EXPECT_EQ(desired.at("message.timestamp.type"), "CreateTime");
  EXPECT_EQ(desired.at("max.message.bytes"), std::to_string(2000000 + 2000000 / 8));
  EXPECT_FALSE(desired.contains("compression.type"));
}

TEST(config_changes, lists_only_differences) {
  const auto changes = config_changes({{"retention.ms", "1000"}, {"segment.ms", "5"}},
                                      {{"retention.ms", "604800000"}, {"segment.ms", "5"}});
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes.at("retention.ms"), (std::pair<std::string, std::string>{"604800000", "1000"}));
  EXPECT_EQ(config_changes({{"a", "1"}}, {}).at("a").first, "");
}
