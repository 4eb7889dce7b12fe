// [links.scale_out] (issue 7): several instances of one link share its
// partitions through a group on the destination cluster. The keys, their
// bounds, one group per link, and what the link is started with.
#include <gtest/gtest.h>

#include <string>

#include "config/config.h"
#include "config_test_support.h"

namespace {

using klink::config::parse_config;
using klink::config::testing::contains;
using klink::config::testing::error_of;
using klink::config::testing::scale_out_link;

// --- defaults and valid values ---

TEST(config_scale_out, off_by_default_with_the_default_group) {
  const auto cfg = parse_config(scale_out_link("east", nullptr), "t.toml");
  const auto& s = cfg.links.at(0).scale_out;
  EXPECT_FALSE(s.enabled);
  EXPECT_EQ(s.group_id, "klink.east");
  EXPECT_EQ(s.session_timeout_ms, 10000);
  EXPECT_EQ(s, klink::config::scale_out_config{.group_id = "klink.east"});
}

TEST(config_scale_out, enabled_alone_takes_the_defaults) {
  const auto cfg = parse_config(scale_out_link("east", "enabled = true\n"), "t.toml");
  const auto& s = cfg.links.at(0).scale_out;
  EXPECT_TRUE(s.enabled);
  EXPECT_EQ(s.group_id, "klink.east");
  EXPECT_EQ(s.session_timeout_ms, 10000);
}

TEST(config_scale_out, every_key_is_read) {
  const auto cfg = parse_config(scale_out_link("east", R"(enabled = true
group_id = "mirrors.east-1"
session_timeout_ms = 45000
)"),
                                "t.toml");
  const auto& s = cfg.links.at(0).scale_out;
  EXPECT_TRUE(s.enabled);
  EXPECT_EQ(s.group_id, "mirrors.east-1");
  EXPECT_EQ(s.session_timeout_ms, 45000);
}

TEST(config_scale_out, disabled_table_with_other_keys_is_fine) {
  const auto cfg = parse_config(scale_out_link("east", R"(enabled = false
group_id = "later"
session_timeout_ms = 6000
)"),
                                "t.toml");
  const auto& s = cfg.links.at(0).scale_out;
  EXPECT_FALSE(s.enabled);
  EXPECT_EQ(s.group_id, "later");
  EXPECT_EQ(s.session_timeout_ms, 6000);
}

TEST(config_scale_out, session_timeout_bounds_are_inclusive) {
  for (int ms : {6000, 300000}) {
    const auto text =
        scale_out_link("east", ("session_timeout_ms = " + std::to_string(ms) + "\n").c_str());
    EXPECT_EQ(parse_config(text, "t.toml").links.at(0).scale_out.session_timeout_ms, ms);
  }
}

TEST(config_scale_out, longest_group_id_is_249_characters) {
  const std::string id(249, 'g');
  const auto text = scale_out_link("east", ("group_id = \"" + id + "\"\n").c_str());
  EXPECT_EQ(parse_config(text, "t.toml").links.at(0).scale_out.group_id, id);
}

TEST(config_scale_out, operator_equal_compares_every_field) {
  klink::config::scale_out_config a{.enabled = true, .group_id = "g", .session_timeout_ms = 6000};
  auto b = a;
  EXPECT_EQ(a, b);
  b.enabled = false;
  EXPECT_NE(a, b);
  b = a;
  b.group_id = "h";
  EXPECT_NE(a, b);
  b = a;
  b.session_timeout_ms = 6001;
  EXPECT_NE(a, b);
}

// --- malformed ---

TEST(config_scale_out, session_timeout_below_the_broker_minimum) {
  const auto e = error_of(scale_out_link("east", "enabled = true\nsession_timeout_ms = 5999\n"));
  EXPECT_EQ(e.key(), "links[0].scale_out.session_timeout_ms");
  EXPECT_EQ(e.line(), 11u);
  EXPECT_EQ(e.file(), "t.toml");
  EXPECT_TRUE(contains(e.message(), "5999 is out of range; expected 6000..300000"));
  EXPECT_TRUE(contains(e.message(), "group.min.session.timeout.ms"));
}

TEST(config_scale_out, session_timeout_above_the_maximum) {
  const auto e = error_of(scale_out_link("east", "session_timeout_ms = 300001\n"));
  EXPECT_EQ(e.key(), "links[0].scale_out.session_timeout_ms");
  EXPECT_TRUE(contains(e.message(), "300001 is out of range; expected 6000..300000"));
}

TEST(config_scale_out, session_timeout_must_be_an_integer) {
  const auto e = error_of(scale_out_link("east", "session_timeout_ms = \"10000\"\n"));
  EXPECT_EQ(e.key(), "links[0].scale_out.session_timeout_ms");
  EXPECT_EQ(e.message(), "expected an integer, got a string; write the number without quotes");
}

TEST(config_scale_out, enabled_must_be_a_boolean) {
  const auto e = error_of(scale_out_link("east", "enabled = \"true\"\n"));
  EXPECT_EQ(e.key(), "links[0].scale_out.enabled");
  EXPECT_EQ(e.message(), "expected a boolean, got a string; write true or false without quotes");
}

TEST(config_scale_out, bad_group_ids) {
  for (const char* bad : {R"("")", R"("has space")", R"("tab\there")", R"("caf\u00e9")"}) {
    const auto e =
        error_of(scale_out_link("east", ("group_id = " + std::string(bad) + "\n").c_str()));
    EXPECT_EQ(e.key(), "links[0].scale_out.group_id") << bad;
    EXPECT_TRUE(contains(e.message(),
                         "for link \"east\"; use 1..249 printable ASCII characters "
                         "without spaces, or remove the key for the default "
                         "\"klink.east\""))
        << bad;
  }
  const auto e =
      error_of(scale_out_link("east", ("group_id = \"" + std::string(250, 'g') + "\"\n").c_str()));
  EXPECT_EQ(e.key(), "links[0].scale_out.group_id");
  EXPECT_TRUE(contains(e.message(), "1..249 printable ASCII characters"));
  const auto not_string = error_of(scale_out_link("east", "group_id = 7\n"));
  EXPECT_EQ(not_string.key(), "links[0].scale_out.group_id");
  EXPECT_EQ(not_string.message(), "expected a string, got an integer");
}

TEST(config_scale_out, unknown_key_is_named) {
  const auto e = error_of(scale_out_link("east", "enabled = true\nsession_timeout = 10000\n"));
  EXPECT_EQ(e.key(), "links[0].scale_out.session_timeout");
  EXPECT_EQ(e.line(), 11u);
  EXPECT_EQ(e.message(), "unknown key; did you mean \"session_timeout_ms\"?");
  const auto far = error_of(scale_out_link("east", "replicas = 3\n"));
  EXPECT_EQ(far.key(), "links[0].scale_out.replicas");
  EXPECT_EQ(far.message(), "unknown key; expected one of: enabled, group_id, session_timeout_ms");
}

TEST(config_scale_out, must_be_a_table) {
  const std::string text = R"([[links]]
name = "east"
scale_out = true
[links.source]
bootstrap_servers = ["127.0.0.1:19092"]
[links.destination]
bootstrap_servers = ["127.0.0.1:29092"]
[links.topics]
include = ["orders"]
)";
  const auto e = error_of(text);
  EXPECT_EQ(e.key(), "links[0].scale_out");
  EXPECT_EQ(e.message(), "expected a table ([links.scale_out]), got a boolean");
}

// --- one group per link ---

TEST(config_scale_out, two_links_with_one_explicit_group_are_refused) {
  const auto e = error_of(scale_out_link("east", "enabled = true\ngroup_id = \"shared\"\n") +
                          scale_out_link("west", "enabled = true\ngroup_id = \"shared\"\n"));
  EXPECT_EQ(e.key(), "links[1].scale_out.group_id");
  EXPECT_EQ(e.line(), 22u);  // the second link's group_id
  EXPECT_EQ(e.message(),
            "links \"east\" (links[0]) and \"west\" (links[1]) both use the "
            "scale-out group "
            "\"shared\"; one group shares the partitions of one link, so give "
            "each link its own "
            "group_id in [links.scale_out] (or remove group_id for the default "
            "\"klink.<link name>\")");
}

TEST(config_scale_out, an_explicit_group_equal_to_another_links_default_is_refused) {
  const auto e = error_of(scale_out_link("east", "enabled = true\n") +
                          scale_out_link("west", "enabled = true\ngroup_id = \"klink.east\"\n"));
  EXPECT_EQ(e.key(), "links[1].scale_out.group_id");
  EXPECT_TRUE(contains(e.message(), "both use the scale-out group \"klink.east\""));
  // Blamed on the table that enabled the default when the later link wrote no
  // group_id.
  const auto d = error_of(scale_out_link("west", "enabled = true\ngroup_id = \"klink.east\"\n") +
                          scale_out_link("east", "enabled = true\n"));
  EXPECT_EQ(d.key(), "links[1].scale_out.group_id");
  EXPECT_EQ(d.line(), 20u);  // [links.scale_out] of "east"
}

TEST(config_scale_out, a_shared_group_id_is_fine_while_one_link_does_not_scale_out) {
  const auto cfg =
      parse_config(scale_out_link("east", "enabled = true\ngroup_id = \"shared\"\n") +
                       scale_out_link("west", "enabled = false\ngroup_id = \"shared\"\n"),
                   "t.toml");
  EXPECT_EQ(cfg.links.at(1).scale_out.group_id, "shared");
  const auto two = parse_config(
      scale_out_link("east", "enabled = true\n") + scale_out_link("west", "enabled = true\n"),
      "t.toml");
  EXPECT_EQ(two.links.at(0).scale_out.group_id, "klink.east");
  EXPECT_EQ(two.links.at(1).scale_out.group_id, "klink.west");
}

}  // namespace
