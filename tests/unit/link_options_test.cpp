// What a link is started with from its config (to_link_options), and which
// config changes a SIGHUP reload applies without restarting the link
// (same_except_topic_selection). Scale-out for now.
#include "link_options.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <string>

#include "config/config.h"

namespace {

using klink::config::parse_config;

// A link named `name`; `scale_out` is the body of its [links.scale_out]
// table, which is left out when nullptr.
std::string link(const std::string& name, const char* scale_out) {
  std::string out = "[[links]]\nname = \"" + name +
                    "\"\n[links.source]\nbootstrap_servers = [\"127.0.0.1:19092\"]\n"
                    "[links.destination]\nbootstrap_servers = [\"127.0.0.1:29092\"]\n"
                    "[links.topics]\ninclude = [\"orders\"]\n";
  if (scale_out != nullptr) out += "[links.scale_out]\n" + std::string(scale_out);
  return out;
}

TEST(link_options_scale_out, carries_the_settings) {
  ::unsetenv("KLINK_SCALE_OUT_UNGUARDED");
  const auto cfg = parse_config(
      link("east", "enabled = true\nsession_timeout_ms = 12000\n") + link("west", nullptr),
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
  const auto cfg = parse_config(link("east", "enabled = true\n"), "t.toml");
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
  const auto before = parse_config(link("east", "enabled = true\n"), "t.toml").links.at(0);
  EXPECT_TRUE(klink::same_except_topic_selection(before, before));
  for (const char* changed : {"enabled = false\n", "enabled = true\ngroup_id = \"other\"\n",
                              "enabled = true\nsession_timeout_ms = 20000\n"}) {
    const auto after = parse_config(link("east", changed), "t.toml").links.at(0);
    EXPECT_FALSE(klink::same_except_topic_selection(before, after)) << changed;
  }
  // Writing the defaults out changes nothing.
  const auto spelt_out = parse_config(link("east",
                                           "enabled = true\ngroup_id = \"klink.east\"\n"
                                           "session_timeout_ms = 10000\n"),
                                      "t.toml")
                             .links.at(0);
  EXPECT_TRUE(klink::same_except_topic_selection(before, spelt_out));
}

}  // namespace
