// Link management keys (issue 6): topic prefix, discovery interval, config
// sync list, start timestamps, client_rack, and the loop rules across links.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/config.h"
#include "config_test_support.h"

namespace {

using klink::config::config_error;
using klink::config::parse_config;
using klink::config::parse_rfc3339_ms;
using klink::config::start_position;
using klink::config::testing::contains;
using klink::config::testing::error_of;

// One link; `topics` and `extra` are appended to [links.topics] and after it.
std::string one_link(const std::string& topics, const std::string& extra = "") {
  return R"([[links]]
name = "dr"
[links.source]
bootstrap_servers = ["127.0.0.1:19092"]
[links.destination]
bootstrap_servers = ["127.0.0.1:29092"]
[links.topics]
include = ["orders"]
)" + topics +
         extra;
}

std::string link(const std::string& name, const std::string& source, const std::string& destination,
                 const std::string& prefix) {
  std::string out = "[[links]]\nname = \"" + name + "\"\n[links.source]\nbootstrap_servers = [" +
                    source + "]\n[links.destination]\nbootstrap_servers = [" + destination +
                    "]\n[links.topics]\ninclude = [\".*\"]\n";
  if (!prefix.empty()) out += "prefix = \"" + prefix + "\"\n";
  return out;
}

// --- defaults and valid values ---

TEST(config_link_management, defaults) {
  const auto cfg = parse_config(one_link(""), "t.toml");
  const auto& l = cfg.links.at(0);
  EXPECT_EQ(l.topic_prefix, "");
  EXPECT_EQ(l.topic_refresh_interval_ms, 30000);
  EXPECT_EQ(l.sync_configs,
            (std::vector<std::string>{"cleanup.policy", "retention.ms", "retention.bytes",
                                      "max.message.bytes", "min.compaction.lag.ms",
                                      "max.compaction.lag.ms", "delete.retention.ms",
                                      "segment.bytes", "segment.ms", "message.timestamp.type"}));
  EXPECT_EQ(l.sync_configs, klink::config::default_sync_configs);
  EXPECT_EQ(l.mirror.start, start_position::earliest);
  EXPECT_EQ(l.mirror.start_timestamp_ms, -1);
  EXPECT_EQ(l.source.client_rack, "");
  EXPECT_EQ(l.destination.client_rack, "");
}

TEST(config_link_management, valid_values_are_read) {
  const auto cfg = parse_config(one_link(R"(prefix = "east-1.dc_A."
refresh_interval_ms = 100
sync_configs = ["retention.ms", "cleanup.policy", "confluent.tier.enable"]
)",
                                         R"([links.mirror]
start = "latest"
)"),
                                "t.toml");
  const auto& l = cfg.links.at(0);
  EXPECT_EQ(l.topic_prefix, "east-1.dc_A.");
  EXPECT_EQ(l.topic_refresh_interval_ms, 100);
  EXPECT_EQ(l.sync_configs,
            (std::vector<std::string>{"retention.ms", "cleanup.policy", "confluent.tier.enable"}));
  EXPECT_EQ(l.mirror.start, start_position::latest);
  EXPECT_EQ(l.mirror.start_timestamp_ms, -1);
}

TEST(config_link_management, refresh_interval_upper_bound_is_accepted) {
  const auto cfg = parse_config(one_link("refresh_interval_ms = 86400000\n"), "t.toml");
  EXPECT_EQ(cfg.links.at(0).topic_refresh_interval_ms, 86400000);
}

TEST(config_link_management, empty_sync_configs_syncs_nothing) {
  const auto cfg = parse_config(one_link("sync_configs = []\n"), "t.toml");
  EXPECT_TRUE(cfg.links.at(0).sync_configs.empty());
}

TEST(config_link_management, explicit_empty_prefix_is_no_prefix) {
  const auto cfg = parse_config(one_link("prefix = \"\"\n"), "t.toml");
  EXPECT_EQ(cfg.links.at(0).topic_prefix, "");
}

TEST(config_link_management, longest_prefix_is_248_characters) {
  const std::string p(248, 'p');
  EXPECT_EQ(parse_config(one_link("prefix = \"" + p + "\"\n"), "t.toml").links.at(0).topic_prefix,
            p);
}

TEST(config_link_management, client_rack_on_source) {
  const auto cfg = parse_config(R"([[links]]
name = "dr"
[links.source]
bootstrap_servers = ["127.0.0.1:19092"]
client_rack = "az1"
[links.destination]
bootstrap_servers = ["127.0.0.1:29092"]
[links.topics]
include = ["orders"]
)",
                                "t.toml");
  EXPECT_EQ(cfg.links.at(0).source.client_rack, "az1");
  EXPECT_EQ(cfg.links.at(0).destination.client_rack, "");
}

TEST(config_link_management, to_string_start_position) {
  EXPECT_EQ(klink::config::to_string(start_position::earliest), "earliest");
  EXPECT_EQ(klink::config::to_string(start_position::latest), "latest");
  EXPECT_EQ(klink::config::to_string(start_position::timestamp), "timestamp");
}

// --- rejections ---

TEST(config_link_management, prefix_with_an_illegal_character) {
  const auto e = error_of(one_link("prefix = \"east/\"\n"));
  EXPECT_STREQ(e.what(),
               R"(t.toml:9:10: links[0].topics.prefix: invalid character "/" in prefix "east/"; )"
               R"(Kafka topic names allow only ASCII letters, digits, '.', '_' and '-')");
  EXPECT_TRUE(
      contains(error_of(one_link("prefix = \"east \"\n")).message(), R"(invalid character " ")"));
  EXPECT_TRUE(contains(error_of(one_link("prefix = \"ost\u00e9.\"\n")).message(),
                       "non-ASCII character in prefix"));
}

TEST(config_link_management, prefix_too_long) {
  const auto e = error_of(one_link("prefix = \"" + std::string(249, 'p') + "\"\n"));
  EXPECT_EQ(e.key(), "links[0].topics.prefix");
  EXPECT_EQ(e.message(),
            "prefix is 249 characters long; Kafka topic names are at most 249 characters and a "
            "mirror name is the prefix plus the source topic's name, so use at most 248");
}

TEST(config_link_management, prefix_of_internal_topics) {
  const auto e = error_of(one_link("prefix = \"__east.\"\n"));
  EXPECT_EQ(e.key(), "links[0].topics.prefix");
  EXPECT_TRUE(contains(e.message(), "marks internal topics"));
}

TEST(config_link_management, prefix_must_be_a_string) {
  const auto e = error_of(one_link("prefix = 1\n"));
  EXPECT_EQ(e.key(), "links[0].topics.prefix");
  EXPECT_EQ(e.message(), "expected a string, got an integer");
}

TEST(config_link_management, refresh_interval_out_of_range) {
  EXPECT_STREQ(error_of(one_link("refresh_interval_ms = 99\n")).what(),
               "t.toml:9:23: links[0].topics.refresh_interval_ms: 99 is out of range; expected "
               "100..86400000 (milliseconds between topic discoveries and config syncs; default "
               "30000)");
  EXPECT_TRUE(contains(error_of(one_link("refresh_interval_ms = 86400001\n")).message(),
                       "expected 100..86400000"));
  EXPECT_TRUE(contains(error_of(one_link("refresh_interval_ms = \"30000\"\n")).message(),
                       "write the number without quotes"));
}

TEST(config_link_management, sync_configs_not_config_names) {
  for (const char* bad : {"Retention.ms", "retention_ms", "", ".retention", "retention.",
                          "retention..ms", "retention ms"}) {
    const auto e =
        error_of(one_link("sync_configs = [\"cleanup.policy\", \"" + std::string(bad) + "\"]\n"));
    EXPECT_EQ(e.key(), "links[0].topics.sync_configs[1]") << bad;
    EXPECT_TRUE(contains(e.message(),
                         "is not a topic config name; write Kafka's names: lowercase letters, "
                         "digits and dots, e.g. \"retention.ms\""))
        << bad;
  }
}

TEST(config_link_management, sync_configs_duplicates) {
  const auto e =
      error_of(one_link("sync_configs = [\"retention.ms\", \"segment.ms\", \"retention.ms\"]\n"));
  EXPECT_EQ(e.key(), "links[0].topics.sync_configs[2]");
  EXPECT_EQ(e.message(),
            R"(duplicate "retention.ms" (also sync_configs[0]); name each config once)");
}

TEST(config_link_management, sync_configs_compression_type) {
  const auto e = error_of(one_link("sync_configs = [\"compression.type\"]\n"));
  EXPECT_STREQ(e.what(),
               "t.toml:9:17: links[0].topics.sync_configs[0]: compression.type cannot be synced: "
               "mirrors keep compression.type=producer so that batches stay byte-for-byte as on "
               "the source; remove it");
}

TEST(config_link_management, sync_configs_timestamp_windows) {
  for (const char* name : {"message.timestamp.before.max.ms", "message.timestamp.after.max.ms"}) {
    const auto e = error_of(one_link("sync_configs = [\"" + std::string(name) + "\"]\n"));
    EXPECT_EQ(e.key(), "links[0].topics.sync_configs[0]");
    EXPECT_EQ(e.message(), std::string(name) +
                               " cannot be synced: klink sets it on mirrors so that old records "
                               "are accepted whatever their age; remove it");
  }
}

TEST(config_link_management, sync_configs_wrong_types) {
  EXPECT_TRUE(contains(error_of(one_link("sync_configs = \"retention.ms\"\n")).message(),
                       "expected an array of strings, got a string"));
  const auto e = error_of(one_link("sync_configs = [1]\n"));
  EXPECT_EQ(e.key(), "links[0].topics.sync_configs[0]");
  EXPECT_EQ(e.message(), "expected a string, got an integer");
}

TEST(config_link_management, client_rack_on_destination_is_explained) {
  const auto e = error_of(R"([[links]]
name = "dr"
[links.source]
bootstrap_servers = ["127.0.0.1:19092"]
[links.destination]
bootstrap_servers = ["127.0.0.1:29092"]
client_rack = "az1"
[links.topics]
include = ["orders"]
)");
  EXPECT_STREQ(e.what(),
               "t.toml:7:15: links[0].destination.client_rack: client_rack applies to fetching "
               "from the source (KIP-392: read from the nearest replica); klink only produces to "
               "the destination, so set it in [links.source] or remove it");
}

TEST(config_link_management, client_rack_invalid) {
  for (const char* bad : {"", "az 1"}) {
    const auto e = error_of(R"([[links]]
name = "dr"
[links.source]
bootstrap_servers = ["127.0.0.1:19092"]
client_rack = ")" + std::string(bad) +
                            R"("
[links.destination]
bootstrap_servers = ["127.0.0.1:29092"]
[links.topics]
include = ["orders"]
)");
    EXPECT_EQ(e.key(), "links[0].source.client_rack");
    EXPECT_TRUE(contains(e.message(), "1..255 printable ASCII characters without spaces"));
  }
}

// --- start timestamps ---

TEST(config_link_management, rfc3339_exact_milliseconds) {
  const std::int64_t nov1 = 1793491200000;  // 2026-11-01T00:00:00Z
  EXPECT_EQ(parse_rfc3339_ms("2026-11-01T00:00:00Z"), nov1);
  EXPECT_EQ(parse_rfc3339_ms("2026-11-01T00:00:00.250Z"), nov1 + 250);
  EXPECT_EQ(parse_rfc3339_ms("2026-11-01T00:00:00.1Z"), nov1 + 100);
  EXPECT_EQ(parse_rfc3339_ms("2026-11-01T00:00:00.07Z"), nov1 + 70);
  EXPECT_EQ(parse_rfc3339_ms("2026-11-01T00:00:00.123999999Z"), nov1 + 123);  // truncated
  EXPECT_EQ(parse_rfc3339_ms("2026-11-01T02:00:00+02:00"), nov1);
  EXPECT_EQ(parse_rfc3339_ms("2026-10-31T19:30:00-04:30"), nov1);
  EXPECT_EQ(parse_rfc3339_ms("2026-11-01T05:45:00.500+05:45"), nov1 + 500);
  EXPECT_EQ(parse_rfc3339_ms("2026-11-01T00:00:00-00:00"), nov1);
  EXPECT_EQ(parse_rfc3339_ms("2026-11-01t00:00:00z"), nov1);
  EXPECT_EQ(parse_rfc3339_ms("2026-11-01 00:00:00Z"), nov1);
  EXPECT_EQ(parse_rfc3339_ms("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_rfc3339_ms("1970-01-01T01:00:00+01:00"), 0);
  EXPECT_EQ(parse_rfc3339_ms("2024-02-29T12:34:56Z"), 1709210096000);
  EXPECT_EQ(parse_rfc3339_ms("2016-12-31T23:59:60Z"), 1483228800000);  // leap second
}

TEST(config_link_management, rfc3339_malformed) {
  auto error = [](const char* text) {
    auto r = parse_rfc3339_ms(text);
    EXPECT_FALSE(r.has_value()) << text;
    return r.has_value() ? std::string() : r.error();
  };
  EXPECT_EQ(error("2026-11-01"), "a 'T' and a time must follow the date");
  EXPECT_EQ(error("26-11-01T00:00:00Z"), "the date must be YYYY-MM-DD");
  EXPECT_EQ(error("2026-11-01T0:00:00Z"), "the time must be hh:mm:ss");
  EXPECT_EQ(error("2026-11-01T00:00Z"), "the time must be hh:mm:ss");
  EXPECT_EQ(error("2026-11-01T00:00:00"), "a UTC offset must follow the time: Z, +hh:mm or -hh:mm");
  EXPECT_EQ(error("2026-11-01T00:00:00+0200"), "the UTC offset must be +hh:mm or -hh:mm");
  EXPECT_EQ(error("2026-11-01T00:00:00+24:00"), "the UTC offset is out of range");
  EXPECT_EQ(error("2026-11-01T00:00:00.Z"), "a '.' must be followed by fraction digits");
  EXPECT_EQ(error("2026-11-01T00:00:00Zjunk"), "unexpected text after the UTC offset");
  EXPECT_EQ(error("2026-13-01T00:00:00Z"), "no such date");
  EXPECT_EQ(error("2026-02-29T00:00:00Z"), "no such date");
  EXPECT_EQ(error("2026-11-01T24:00:00Z"), "the time is out of range");
  EXPECT_EQ(error("2026-11-01T00:60:00Z"), "the time is out of range");
  EXPECT_EQ(error("1969-12-31T23:59:59Z"), "it is before 1970-01-01T00:00:00Z");
  EXPECT_EQ(error("1970-01-01T00:30:00+01:00"), "it is before 1970-01-01T00:00:00Z");
}

TEST(config_link_management, start_timestamp_in_config) {
  const auto cfg = parse_config(one_link("", R"([links.mirror]
start = "2026-11-01T02:00:00.250+02:00"
)"),
                                "t.toml");
  EXPECT_EQ(cfg.links.at(0).mirror.start, start_position::timestamp);
  EXPECT_EQ(cfg.links.at(0).mirror.start_timestamp_ms, 1793491200250);
}

TEST(config_link_management, start_unquoted_toml_date_time) {
  const auto cfg = parse_config(one_link("", R"([links.mirror]
start = 2026-11-01T00:00:00.5-01:00
)"),
                                "t.toml");
  EXPECT_EQ(cfg.links.at(0).mirror.start, start_position::timestamp);
  EXPECT_EQ(cfg.links.at(0).mirror.start_timestamp_ms, 1793491200000 + 3600000 + 500);
}

TEST(config_link_management, start_unquoted_local_date_time_is_refused) {
  const auto e = error_of(one_link("", R"([links.mirror]
start = 2026-11-01T00:00:00
)"));
  EXPECT_EQ(e.key(), "links[0].mirror.start");
  EXPECT_TRUE(contains(e.message(), "this date-time has no UTC offset; add Z or +hh:mm/-hh:mm"));
}

TEST(config_link_management, start_malformed_timestamp_quotes_the_accepted_forms) {
  const auto e = error_of(one_link("", R"([links.mirror]
start = "2026-11-01T00:00:00"
)"));
  EXPECT_STREQ(e.what(),
               R"(t.toml:10:9: links[0].mirror.start: invalid timestamp "2026-11-01T00:00:00": )"
               R"(a UTC offset must follow the time: Z, +hh:mm or -hh:mm; expected earliest, )"
               R"(latest or an RFC 3339 timestamp with a UTC offset, e.g. "2026-11-01T00:00:00Z", )"
               R"("2026-11-01T00:00:00.250Z" or "2026-11-01T02:00:00+02:00")");
  EXPECT_TRUE(contains(
      error_of(one_link("", "[links.mirror]\nstart = \"2026-02-30T00:00:00Z\"\n")).message(),
      R"(invalid timestamp "2026-02-30T00:00:00Z": no such date; expected)"));
}

TEST(config_link_management, start_wrong_word_or_type) {
  EXPECT_TRUE(contains(error_of(one_link("", "[links.mirror]\nstart = \"newest\"\n")).message(),
                       R"(or "2026-11-01T02:00:00+02:00"; got "newest")"));
  EXPECT_TRUE(contains(error_of(one_link("", "[links.mirror]\nstart = \"lates\"\n")).message(),
                       R"((did you mean "latest"?))"));
  EXPECT_TRUE(contains(error_of(one_link("", "[links.mirror]\nstart = 0\n")).message(),
                       "expected a string, got an integer; expected earliest, latest or"));
}

// --- clusters and loops ---

klink::config::cluster_config cluster(std::vector<std::string> servers) {
  klink::config::cluster_config c;
  c.bootstrap_servers = std::move(servers);
  return c;
}

TEST(config_link_management, same_cluster_compares_bootstrap_entries) {
  using klink::config::same_cluster;
  EXPECT_TRUE(same_cluster(cluster({"a:9092", "b:9092"}), cluster({"c:9092", "b:9092"})));
  EXPECT_TRUE(
      same_cluster(cluster({"Kafka-1.Example.COM:9092"}), cluster({"kafka-1.example.com:9092"})));
  EXPECT_TRUE(same_cluster(cluster({"localhost:9092"}), cluster({"127.0.0.1:9092"})));
  EXPECT_TRUE(same_cluster(cluster({"LOCALHOST:9092"}), cluster({"[::1]:9092"})));
  EXPECT_TRUE(same_cluster(cluster({"[FD00::1]:9092"}), cluster({"[fd00::1]:9092"})));
  EXPECT_FALSE(same_cluster(cluster({"localhost:9092"}), cluster({"127.0.0.1:9093"})));
  EXPECT_FALSE(same_cluster(cluster({"a:9092"}), cluster({"b:9092"})));
  EXPECT_FALSE(same_cluster(cluster({"10.0.0.1:9092"}), cluster({"127.0.0.1:9092"})));
}

TEST(config_link_management, self_loop_without_prefix_is_rejected) {
  const auto e = error_of(link("self", "\"localhost:9092\"", "\"127.0.0.1:9092\"", ""));
  EXPECT_STREQ(
      e.what(),
      R"(t.toml:7:1: links[0].topics.prefix: link "self" (links[0]) mirrors a cluster )"
      R"(into itself (source and destination share "localhost:9092") without a prefix: )"
      R"(it would mirror into its own source topics; set prefix = "..." in [links.topics])");
}

TEST(config_link_management, self_loop_with_prefix_is_accepted) {
  const auto cfg = parse_config(link("copy", "\"a:9092\"", "\"a:9092\"", "copy."), "t.toml");
  EXPECT_EQ(klink::config::mirror_prefixes_into_source(cfg, cfg.links.at(0)),
            std::vector<std::string>{"copy."});
}

TEST(config_link_management, opposite_pair_without_prefixes_is_rejected) {
  const auto e = error_of(link("east-to-west", "\"east:9092\"", "\"west:9092\"", "") +
                          link("west-to-east", "\"west:9092\"", "\"east:9092\"", ""));
  EXPECT_EQ(e.key(), "links[1].topics.prefix");
  EXPECT_EQ(e.line(), 15u);  // the second link's [links.topics]
  EXPECT_EQ(e.message(),
            R"(links "east-to-west" (links[0]) and "west-to-east" (links[1]) mirror in opposite )"
            R"(directions between the same two clusters ("east:9092" and "west:9092") and )"
            R"(neither has a prefix; both need different non-empty prefix values in )"
            R"([links.topics] (e.g. "east." and "west.") so that neither mirrors the other's )"
            R"(mirror topics back)");
}

TEST(config_link_management, opposite_pair_with_one_prefix_is_rejected) {
  const auto e = error_of(link("east-to-west", "\"east:9092\"", "\"west:9092\"", "east.") +
                          link("west-to-east", "\"west:9092\"", "\"east:9092\"", ""));
  EXPECT_EQ(e.key(), "links[1].topics.prefix");
  EXPECT_TRUE(contains(e.message(), R"(and "west-to-east" has no prefix; both need different )"
                                    R"(non-empty prefix values)"));
  const auto f = error_of(link("east-to-west", "\"east:9092\"", "\"west:9092\"", "") +
                          link("west-to-east", "\"west:9092\"", "\"east:9092\"", "west."));
  EXPECT_TRUE(contains(f.message(), R"(and "east-to-west" has no prefix)"));
}

TEST(config_link_management, opposite_pair_with_equal_prefixes_is_rejected) {
  const auto e = error_of(link("a", "\"east:9092\"", "\"west:9092\"", "dr.") +
                          link("b", "\"west:9092\"", "\"east:9092\"", "dr."));
  EXPECT_EQ(e.line(), 18u);  // the second link's prefix
  EXPECT_EQ(e.column(), 10u);
  EXPECT_TRUE(contains(e.message(), R"(links "a" (links[0]) and "b" (links[1]) mirror in )"
                                    R"(opposite directions)"));
  EXPECT_TRUE(contains(e.message(), R"(and both use prefix "dr."; both need different non-empty)"));
}

TEST(config_link_management, opposite_pair_found_through_any_shared_entry_and_localhost) {
  const auto e =
      error_of(link("a", "\"localhost:19092\", \"x:1\"", "\"y:2\", \"127.0.0.1:29092\"", "") +
               link("b", "\"LOCALHOST:29092\"", "\"127.0.0.1:19092\"", ""));
  EXPECT_TRUE(
      contains(e.message(), R"(same two clusters ("localhost:19092" and "127.0.0.1:29092"))"));
}

TEST(config_link_management, valid_bidirectional_pair_is_accepted) {
  const auto cfg = parse_config(
      link("east-to-west", "\"east-1:9092\", \"east-2:9092\"", "\"west-1:9092\"", "east.") +
          link("west-to-east", "\"west-1:9092\"", "\"east-2:9092\"", "west."),
      "t.toml");
  ASSERT_EQ(cfg.links.size(), 2u);
  using klink::config::mirror_prefixes_into_source;
  // Topics on east starting with "west." came from west: never mirrored back.
  EXPECT_EQ(mirror_prefixes_into_source(cfg, cfg.links[0]), std::vector<std::string>{"west."});
  EXPECT_EQ(mirror_prefixes_into_source(cfg, cfg.links[1]), std::vector<std::string>{"east."});
}

TEST(config_link_management, same_direction_links_and_chains_are_not_loops) {
  const auto cfg = parse_config(link("a", "\"east:9092\"", "\"west:9092\"", "") +
                                    link("b", "\"east:9092\"", "\"west:9092\"", "") +
                                    link("c", "\"west:9092\"", "\"north:9092\"", ""),
                                "t.toml");
  using klink::config::mirror_prefixes_into_source;
  // Unprefixed links into west cannot be told apart by name: no prefix to skip.
  EXPECT_TRUE(mirror_prefixes_into_source(cfg, cfg.links[2]).empty());
  EXPECT_TRUE(mirror_prefixes_into_source(cfg, cfg.links[0]).empty());
}

TEST(config_link_management, mirror_prefixes_into_source_collects_every_link_into_the_source) {
  const auto cfg =
      parse_config(link("w2e", "\"west:9092\"", "\"east:9092\"", "west.") +
                       link("n2e", "\"north:9092\"", "\"localhost:7000\"", "north.") +
                       link("s2e", "\"south:9092\"", "\"east:9092\"", "west.") +
                       link("e2w", "\"east:9092\", \"127.0.0.1:7000\"", "\"west:9092\"", "east.") +
                       link("e2e", "\"east:9092\"", "\"east:9092\"", "copy."),
                   "t.toml");
  EXPECT_EQ(klink::config::mirror_prefixes_into_source(cfg, cfg.links[3]),
            (std::vector<std::string>{"west.", "north.", "copy."}));
  EXPECT_EQ(klink::config::mirror_prefixes_into_source(cfg, cfg.links[4]),
            (std::vector<std::string>{"copy.", "west."}));
  EXPECT_EQ(klink::config::mirror_prefixes_into_source(cfg, cfg.links[0]),
            std::vector<std::string>{"east."});
  EXPECT_TRUE(klink::config::mirror_prefixes_into_source(cfg, cfg.links[1]).empty());
}

TEST(config_link_management, longer_cycle_through_unprefixed_links_is_rejected) {
  const auto e =
      error_of(link("a", "\"x:1\"", "\"y:1\"", "a.") + link("b", "\"y:1\"", "\"z:1\"", "") +
               link("c", "\"z:1\"", "\"x:1\"", ""));
  EXPECT_EQ(e.key(), "links[2].topics.prefix");
  EXPECT_EQ(e.message(),
            R"(links "a" -> "b" -> "c" form a cycle back to "a"'s source cluster, and every )"
            R"(link after "a" has no prefix: its topics would be mirrored back into the cluster )"
            R"(they came from; give one of those links a prefix in [links.topics])");
}

TEST(config_link_management, longer_cycle_with_two_prefixes_is_accepted) {
  const auto cfg =
      parse_config(link("a", "\"x:1\"", "\"y:1\"", "a.") + link("b", "\"y:1\"", "\"z:1\"", "") +
                       link("c", "\"z:1\"", "\"x:1\"", "c."),
                   "t.toml");
  EXPECT_EQ(cfg.links.size(), 3u);
}

}  // namespace
