#include "config/config.h"
#include "config_test_support.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace {

using klink::config::config_error;
using klink::config::parse_config;
using klink::config::testing::error_of;

// Base document (the malformed documents, each written out in full so that
// the expected line:col can be read off the text, are in
// config_malformed_test.cpp).
constexpr const char* minimal = R"([[links]]
name = "dr"
[links.source]
bootstrap_servers = ["127.0.0.1:19092"]
[links.destination]
bootstrap_servers = ["127.0.0.1:29092"]
[links.topics]
include = ["orders"]
)";

TEST(config, minimal_config_gets_defaults) {
  const auto cfg = parse_config(minimal, "t.toml");
  EXPECT_EQ(cfg.source_file, "t.toml");
  EXPECT_EQ(cfg.log.level, klink::config::log_level::info);
  EXPECT_EQ(cfg.log.format, klink::config::log_format::text);
  EXPECT_EQ(cfg.admin.host, "127.0.0.1");
  EXPECT_EQ(cfg.admin.port, 8083);
  ASSERT_EQ(cfg.links.size(), 1u);
  const auto& link = cfg.links[0];
  EXPECT_EQ(link.name, "dr");
  EXPECT_EQ(link.source.bootstrap_servers, std::vector<std::string>{"127.0.0.1:19092"});
  EXPECT_EQ(link.source.client_id, "klink-dr");
  EXPECT_EQ(link.destination.client_id, "klink-dr");
  EXPECT_EQ(link.destination.replication_factor, -1);
  EXPECT_EQ(link.mirror.start, klink::config::start_position::earliest);
  EXPECT_EQ(link.mirror.fetch_max_wait_ms, 500);
  EXPECT_EQ(link.mirror.fetch_max_bytes, 52428800);
  EXPECT_EQ(link.mirror.partition_fetch_max_bytes, 8388608);
  EXPECT_EQ(link.mirror.max_buffered_bytes, 134217728);
  EXPECT_EQ(link.mirror.max_in_flight, 5);
  EXPECT_EQ(link.mirror.request_timeout_ms, 30000);
  EXPECT_FALSE(link.consumer_offsets.sync);
  EXPECT_EQ(link.consumer_offsets.include, std::vector<std::string>{".*"});
  EXPECT_TRUE(link.consumer_offsets.exclude.empty());
  EXPECT_EQ(link.consumer_offsets.interval_ms, 5000);
}

TEST(config, every_key_is_read) {
  const auto cfg = parse_config(R"([log]
level = "debug"
format = "json"
[admin]
listen = "[::1]:9000"
[[links]]
name = "a.b_c-1"
[links.source]
bootstrap_servers = ["src-1:9092", "[fd00::1]:9093"]
client_id = "src-client"
[links.destination]
bootstrap_servers = ["dst:9092"]
client_id = "dst-client"
replication_factor = 3
[links.topics]
include = ["orders", "payments\\..*"]
exclude = ["payments\\.tmp"]
[links.mirror]
start = "latest"
fetch_max_wait_ms = 0
fetch_max_bytes = 1048576
partition_fetch_max_bytes = 1024
max_buffered_bytes = 1024
max_in_flight = 1
request_timeout_ms = 600000
on_source_gap = "skip"
[[links]]
name = "second"
[links.source]
bootstrap_servers = ["s:1"]
[links.destination]
bootstrap_servers = ["d:65535"]
[links.topics]
include = ["x"]
)",
                                "t.toml");
  EXPECT_EQ(cfg.log.level, klink::config::log_level::debug);
  EXPECT_EQ(cfg.log.format, klink::config::log_format::json);
  EXPECT_EQ(cfg.admin.host, "::1");
  EXPECT_EQ(cfg.admin.port, 9000);
  ASSERT_EQ(cfg.links.size(), 2u);
  const auto& l = cfg.links[0];
  EXPECT_EQ(l.name, "a.b_c-1");
  EXPECT_EQ(l.source.bootstrap_servers.size(), 2u);
  EXPECT_EQ(l.source.client_id, "src-client");
  EXPECT_EQ(l.destination.client_id, "dst-client");
  EXPECT_EQ(l.destination.replication_factor, 3);
  EXPECT_EQ(l.topics.include().size(), 2u);
  EXPECT_EQ(l.topics.exclude().size(), 1u);
  EXPECT_EQ(l.mirror.start, klink::config::start_position::latest);
  EXPECT_EQ(l.mirror.fetch_max_wait_ms, 0);
  EXPECT_EQ(l.mirror.fetch_max_bytes, 1048576);
  EXPECT_EQ(l.mirror.partition_fetch_max_bytes, 1024);
  EXPECT_EQ(l.mirror.max_buffered_bytes, 1024);
  EXPECT_EQ(l.mirror.max_in_flight, 1);
  EXPECT_EQ(l.mirror.request_timeout_ms, 600000);
  EXPECT_EQ(l.mirror.on_source_gap, klink::config::source_gap_policy::skip);
  EXPECT_EQ(cfg.links[1].mirror.on_source_gap, klink::config::source_gap_policy::fail);
  EXPECT_EQ(cfg.links[1].name, "second");
  EXPECT_EQ(cfg.links[1].source.client_id, "klink-second");
}

TEST(config, consumer_offsets_keys_are_read) {
  const auto cfg = parse_config(std::string(minimal) + R"([links.consumer_offsets]
sync = true
include = ["orders-.*", "billing"]
exclude = ["console-consumer-.*"]
interval_ms = 100
)",
                                "t.toml");
  const auto& c = cfg.links[0].consumer_offsets;
  EXPECT_TRUE(c.sync);
  EXPECT_EQ(c.include, (std::vector<std::string>{"orders-.*", "billing"}));
  EXPECT_EQ(c.exclude, std::vector<std::string>{"console-consumer-.*"});
  EXPECT_EQ(c.interval_ms, 100);
  // An omitted include keeps the default: every group.
  const auto defaults =
      parse_config(std::string(minimal) + "[links.consumer_offsets]\nsync = true\n", "t");
  EXPECT_EQ(defaults.links[0].consumer_offsets.include, std::vector<std::string>{".*"});
  EXPECT_EQ(
      parse_config(std::string(minimal) + "[links.consumer_offsets]\ninterval_ms = 3600000\n", "t")
          .links[0]
          .consumer_offsets.interval_ms,
      3600000);
}

TEST(config, admin_port_zero_means_any_free_port) {
  const auto cfg = parse_config(std::string("[admin]\nlisten = \"localhost:0\"\n") + minimal, "t");
  EXPECT_EQ(cfg.admin.host, "localhost");
  EXPECT_EQ(cfg.admin.port, 0);
}

TEST(config, admin_tokens_file_is_checked_and_resolved_next_to_the_config) {
  const auto dir = std::filesystem::temp_directory_path() / "klink_config_tokens_test";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "tokens") << "# operators\n\n  s3cret  \n";
  std::ofstream(dir / "empty") << "# nothing here\n\n";
  const std::string cfg_path = (dir / "klink.toml").string();

  EXPECT_EQ(parse_config(minimal, "t").admin.tokens_file, "");
  const auto cfg =
      parse_config(std::string("[admin]\ntokens_file = \"tokens\"\n") + minimal, cfg_path);
  EXPECT_EQ(cfg.admin.tokens_file, (dir / "tokens").string());
  const auto absolute =
      parse_config("[admin]\ntokens_file = \"" + (dir / "tokens").string() + "\"\n" + minimal, "t");
  EXPECT_EQ(absolute.admin.tokens_file, (dir / "tokens").string());

  auto error_for = [&](const std::string& value) {
    try {
      parse_config("[admin]\ntokens_file = \"" + value + "\"\n" + minimal, cfg_path);
    } catch (const config_error& e) {
      EXPECT_EQ(e.key(), "admin.tokens_file");
      EXPECT_EQ(e.line(), 2u);
      return e.message();
    }
    ADD_FAILURE() << "expected config_error for " << value;
    return std::string();
  };
  EXPECT_EQ(error_for("missing"), "cannot read \"" + (dir / "missing").string() + "\"");
  EXPECT_EQ(error_for("."), "cannot read \"" + (dir / ".").string() + "\"");
  EXPECT_EQ(error_for("empty"),
            "\"" + (dir / "empty").string() + "\" holds no token; write one token per line");
  EXPECT_EQ(error_for(""), "must not be empty; remove the key to serve /v1 without tokens");
  std::filesystem::remove_all(dir);
}

TEST(topic_filter, whole_name_match_with_excludes) {
  const klink::config::topic_filter f({"orders", "payments\\..*"}, {".*\\.tmp"});
  EXPECT_TRUE(f.matches("orders"));
  EXPECT_FALSE(f.matches("orders-dlq"));  // whole name, not a prefix
  EXPECT_FALSE(f.matches("my-orders"));
  EXPECT_TRUE(f.matches("payments.eu"));
  EXPECT_FALSE(f.matches("payments"));
  EXPECT_FALSE(f.matches("payments.eu.tmp"));
  EXPECT_FALSE(f.matches(""));
}

TEST(topic_filter, internal_topics_never_match) {
  const klink::config::topic_filter f({".*"}, {});
  EXPECT_TRUE(f.matches("anything"));
  EXPECT_TRUE(f.matches("_single_underscore"));
  EXPECT_FALSE(f.matches("__consumer_offsets"));
  EXPECT_FALSE(f.matches("__transaction_state"));
}

TEST(topic_filter, copies_keep_working) {
  klink::config::topic_filter copy;
  {
    const klink::config::topic_filter f({"a.*"}, {"ab"});
    copy = f;
  }
  EXPECT_TRUE(copy.matches("ac"));
  EXPECT_FALSE(copy.matches("ab"));
  EXPECT_FALSE(klink::config::topic_filter().matches("a"));
}

TEST(topic_filter, bad_pattern_throws) {
  EXPECT_THROW(klink::config::topic_filter({"("}, {}), std::regex_error);
}

TEST(config, load_config_reads_file_and_reports_missing_file) {
  const auto dir = std::filesystem::temp_directory_path() / "klink_config_test";
  std::filesystem::create_directories(dir);
  const auto path = dir / "ok.toml";
  std::ofstream(path) << minimal;
  const auto cfg = klink::config::load_config(path);
  EXPECT_EQ(cfg.source_file, path.string());
  EXPECT_EQ(cfg.links.size(), 1u);

  try {
    klink::config::load_config(dir / "missing.toml");
    FAIL() << "expected config_error";
  } catch (const config_error& e) {
    EXPECT_EQ(std::string(e.what()), (dir / "missing.toml").string() +
                                         ": cannot read config file: No such file or directory");
  }
  try {
    klink::config::load_config(dir);
    FAIL() << "expected config_error";
  } catch (const config_error& e) {
    EXPECT_EQ(std::string(e.what()), dir.string() + ": cannot read config file: is a directory");
  }
  std::filesystem::remove_all(dir);
}

TEST(config, error_carries_its_parts) {
  const auto e = error_of("nope = 1\n");
  EXPECT_EQ(e.file(), "t.toml");
  EXPECT_EQ(e.line(), 1u);
  EXPECT_EQ(e.column(), 1u);
  EXPECT_EQ(e.key(), "nope");
  EXPECT_EQ(e.message(), "unknown key; expected one of: log, admin, links");
}

}  // namespace
