// What a link is started with from its config (to_link_options), and which
// config changes a SIGHUP reload applies without restarting the link
// (same_except_topic_selection). Scale-out for now.
#include "link_options.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <string>

#include "config/config.h"
#include "config_test_support.h"

namespace {

using klink::config::parse_config;
using klink::config::testing::scale_out_link;

TEST(link_options_scale_out, carries_the_settings) {
  ::unsetenv("KLINK_SCALE_OUT_UNGUARDED");
  const auto cfg =
      parse_config(scale_out_link("east", "enabled = true\nsession_timeout_ms = 12000\n") +
                       scale_out_link("west", nullptr),
                   "t.toml");
  const auto east = klink::to_link_options(cfg, cfg.links.at(0));
  EXPECT_TRUE(east.scale_out.enabled);
  EXPECT_EQ(east.scale_out.group_id, "klink.east");
  EXPECT_EQ(east.scale_out.session_timeout, std::chrono::milliseconds(12000));
  EXPECT_FALSE(east.scale_out.unguarded);
  const auto west = klink::to_link_options(cfg, cfg.links.at(1));
  EXPECT_FALSE(west.scale_out.enabled);
  EXPECT_EQ(west.scale_out.session_timeout, std::chrono::milliseconds(10000));

  // A link_config built in code, without the loader's default.
  auto built = cfg.links.at(0);
  built.scale_out.group_id.clear();
  EXPECT_EQ(klink::to_link_options(cfg, built).scale_out.group_id, "klink.east");
}

TEST(link_options_scale_out, unguarded_test_hook_only_for_exactly_1) {
  const auto cfg = parse_config(scale_out_link("east", "enabled = true\n"), "t.toml");
  ::setenv("KLINK_SCALE_OUT_UNGUARDED", "1", 1);
  EXPECT_TRUE(klink::to_link_options(cfg, cfg.links.at(0)).scale_out.unguarded);
  ::setenv("KLINK_SCALE_OUT_UNGUARDED", "true", 1);
  EXPECT_FALSE(klink::to_link_options(cfg, cfg.links.at(0)).scale_out.unguarded);
  ::setenv("KLINK_SCALE_OUT_UNGUARDED", "0", 1);
  EXPECT_FALSE(klink::to_link_options(cfg, cfg.links.at(0)).scale_out.unguarded);
  ::unsetenv("KLINK_SCALE_OUT_UNGUARDED");
  EXPECT_FALSE(klink::to_link_options(cfg, cfg.links.at(0)).scale_out.unguarded);
}

TEST(link_options_scale_out, any_scale_out_change_restarts_the_link_on_reload) {
  const auto before =
      parse_config(scale_out_link("east", "enabled = true\n"), "t.toml").links.at(0);
  EXPECT_TRUE(klink::same_except_topic_selection(before, before));
  for (const char* changed : {"enabled = false\n", "enabled = true\ngroup_id = \"other\"\n",
                              "enabled = true\nsession_timeout_ms = 20000\n"}) {
    const auto after = parse_config(scale_out_link("east", changed), "t.toml").links.at(0);
    EXPECT_FALSE(klink::same_except_topic_selection(before, after)) << changed;
  }
  // Writing the defaults out changes nothing.
  const auto spelt_out = parse_config(scale_out_link("east",
                                                     "enabled = true\ngroup_id = \"klink.east\"\n"
                                                     "session_timeout_ms = 10000\n"),
                                      "t.toml")
                             .links.at(0);
  EXPECT_TRUE(klink::same_except_topic_selection(before, spelt_out));
}

}  // namespace
