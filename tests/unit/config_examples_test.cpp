// Every example in config/ must pass `klink validate`, through the very code
// path the command uses, so the examples cannot rot.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "config/config.h"
#include "config/validate.h"

namespace {

std::filesystem::path config_dir() {
#ifdef KLINK_CONFIG_DIR
  return KLINK_CONFIG_DIR;
#else
  // tests/unit/config_examples_test.cpp -> <repo>/config
  return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() / "config";
#endif
}

std::vector<std::filesystem::path> examples() {
  std::vector<std::filesystem::path> out;
  for (const auto& entry : std::filesystem::directory_iterator(config_dir())) {
    if (entry.path().extension() == ".toml") out.push_back(entry.path());
  }
  std::ranges::sort(out);
  return out;
}

TEST(config_examples, the_documented_examples_exist) {
  for (const char* name : {"quickstart.toml", "dr-basic.toml", "json-logs.toml",
                           "many-topics-filters.toml", "bidirectional.toml"}) {
    EXPECT_TRUE(std::filesystem::exists(config_dir() / name)) << name;
  }
}

TEST(config_examples, every_example_validates) {
  const auto files = examples();
  ASSERT_FALSE(files.empty()) << "no *.toml in " << config_dir();
  for (const auto& file : files) {
    std::ostringstream out;
    std::ostringstream err;
    EXPECT_EQ(klink::config::validate_command(file, out, err), 0) << err.str();
    EXPECT_EQ(err.str(), "");
    EXPECT_EQ(out.str().rfind(file.string() + ": ok (", 0), 0u) << out.str();
  }
}

TEST(config_examples, quickstart_matches_the_quickstart_script) {
  const auto cfg = klink::config::load_config(config_dir() / "quickstart.toml");
  EXPECT_EQ(cfg.admin.host, "127.0.0.1");
  EXPECT_EQ(cfg.admin.port, 8083);
  ASSERT_EQ(cfg.links.size(), 1u);
  const auto& link = cfg.links[0];
  EXPECT_EQ(link.source.bootstrap_servers, std::vector<std::string>{"127.0.0.1:19092"});
  EXPECT_EQ(link.destination.bootstrap_servers, std::vector<std::string>{"127.0.0.1:29092"});
  EXPECT_EQ(link.topics.include(), std::vector<std::string>{"demo.*"});
  EXPECT_TRUE(link.topics.matches("demo"));
  EXPECT_TRUE(link.topics.matches("demo-orders"));
  EXPECT_FALSE(link.topics.matches("other"));
}

TEST(config_examples, bidirectional_links_use_prefixes_that_keep_them_loop_free) {
  const auto cfg = klink::config::load_config(config_dir() / "bidirectional.toml");
  ASSERT_EQ(cfg.links.size(), 2u);
  const auto& east = cfg.links[0];
  const auto& west = cfg.links[1];
  EXPECT_EQ(east.name, "east-to-west");
  EXPECT_EQ(west.name, "west-to-east");
  EXPECT_TRUE(klink::config::same_cluster(east.source, west.destination));
  EXPECT_TRUE(klink::config::same_cluster(east.destination, west.source));
  EXPECT_EQ(east.topic_prefix, "east.");
  EXPECT_EQ(west.topic_prefix, "west.");
  EXPECT_EQ(klink::config::mirror_prefixes_into_source(cfg, east),
            std::vector<std::string>{"west."});
  EXPECT_EQ(klink::config::mirror_prefixes_into_source(cfg, west),
            std::vector<std::string>{"east."});
  EXPECT_EQ(east.source.client_rack, "az1");
  EXPECT_EQ(east.mirror.start, klink::config::start_position::timestamp);
  EXPECT_EQ(east.mirror.start_timestamp_ms, 1793491200000);  // 2026-11-01T00:00:00Z
  EXPECT_EQ(east.sync_configs, klink::config::default_sync_configs);
  EXPECT_EQ(west.mirror.start, klink::config::start_position::latest);
  EXPECT_EQ(west.sync_configs.size(), 8u);
  EXPECT_TRUE(std::ranges::find(west.sync_configs, "segment.bytes") == west.sync_configs.end());
}

TEST(config_examples, validate_reports_errors_with_exit_code_2) {
  std::ostringstream out;
  std::ostringstream err;
  const auto missing = config_dir() / "does-not-exist.toml";
  EXPECT_EQ(klink::config::validate_command(missing, out, err), 2);
  EXPECT_EQ(out.str(), "");
  EXPECT_EQ(err.str(), missing.string() + ": cannot read config file: No such file or directory\n");
}

}  // namespace
