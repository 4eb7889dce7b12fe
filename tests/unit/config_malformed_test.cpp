// Every malformed config document klink refuses, with the exact message it
// prints (key path, line:col, what to do). Each document is written out in
// full, not built from a shared base, so that the expected line:col can be
// read straight off the text.
#include <gtest/gtest.h>

#include <ostream>
#include <string>

#include "config/config.h"
#include "config_test_support.h"

namespace {

using klink::config::testing::error_of;

// Each malformed document, the exact message (which includes key path and
// line:col), and why it matters.
struct malformed_case {
  const char* name;
  const char* text;
  const char* expected;
};

// Names the case in failure output instead of dumping its bytes.
void PrintTo(const malformed_case& c, std::ostream* os) {
  *os << c.name;
}

class malformed : public testing::TestWithParam<malformed_case> {};

TEST_P(malformed, reports_key_and_position) {
  const auto& c = GetParam();
  EXPECT_EQ(std::string(error_of(c.text).what()), c.expected);
}

const malformed_case malformed_cases[] = {
    {"unknown_top_level_key", R"([lgo]
level = "info"
)",
     R"(t.toml:1:2: lgo: unknown key; did you mean "log"?)"},
    {"unknown_top_level_key_without_suggestion", R"(color = true
)",
     "t.toml:1:1: color: unknown key; expected one of: log, admin, links"},
    {"unknown_nested_key", R"([[links]]
name = "dr"
[links.source]
bootstrap_servers = ["127.0.0.1:19092"]
[links.destination]
bootstrap_servers = ["127.0.0.1:29092"]
[links.topics]
include = ["orders"]
[links.mirror]
fetch_max_byte = 1048576
)",
     R"(t.toml:10:1: links[0].mirror.fetch_max_byte: unknown key; did you mean "fetch_max_bytes"?)"},
    {"replication_factor_only_on_destination", R"([[links]]
name = "dr"
[links.source]
bootstrap_servers = ["127.0.0.1:19092"]
replication_factor = 3
)",
     "t.toml:5:1: links[0].source.replication_factor: unknown key; expected one of: "
     "bootstrap_servers, client_id, client_rack, security_protocol, tls, sasl"},
    {"unknown_key_in_second_link", R"([[links]]
name = "a"
[links.source]
bootstrap_servers = ["s:1"]
[links.destination]
bootstrap_servers = ["d:1"]
[links.topics]
include = ["x"]
[[links]]
name = "b"
topic = ["x"]
)",
     R"(t.toml:11:1: links[1].topic: unknown key; did you mean "topics"?)"},
    {"string_instead_of_integer", R"([[links]]
name = "dr"
[links.source]
bootstrap_servers = ["127.0.0.1:19092"]
[links.destination]
bootstrap_servers = ["127.0.0.1:29092"]
[links.topics]
include = ["orders"]
[links.mirror]
fetch_max_wait_ms = "500"
)",
     "t.toml:10:21: links[0].mirror.fetch_max_wait_ms: expected an integer, got a string; "
     "write the number without quotes"},
    {"float_instead_of_integer", R"([[links]]
name = "dr"
[links.source]
bootstrap_servers = ["127.0.0.1:19092"]
[links.destination]
bootstrap_servers = ["127.0.0.1:29092"]
replication_factor = 3.0
)",
     "t.toml:7:22: links[0].destination.replication_factor: expected an integer, got a float"},
    {"integer_instead_of_string", R"([[links]]
name = 7
)",
     "t.toml:2:8: links[0].name: expected a string, got an integer"},
    {"string_instead_of_array", R"([[links]]
name = "dr"
[links.source]
bootstrap_servers = "127.0.0.1:19092"
)",
     "t.toml:4:21: links[0].source.bootstrap_servers: expected an array of strings, got a "
     "string; write bootstrap_servers = [\"host:port\", ...]"},
    {"non_string_array_element", R"([[links]]
name = "dr"
[links.source]
bootstrap_servers = ["127.0.0.1:19092", 9092]
)",
     "t.toml:4:41: links[0].source.bootstrap_servers[1]: expected a string, got an integer"},
    {"log_not_a_table", R"(log = "debug"
)",
     "t.toml:1:7: log: expected a table ([log]), got a string"},
    {"bad_start_enum", R"([[links]]
name = "dr"
[links.source]
bootstrap_servers = ["127.0.0.1:19092"]
[links.destination]
bootstrap_servers = ["127.0.0.1:29092"]
[links.topics]
include = ["orders"]
[links.mirror]
start = "earlist"
)",
     R"(t.toml:10:9: links[0].mirror.start: expected earliest, latest or an RFC 3339 timestamp with a UTC offset, e.g. "2026-11-01T00:00:00Z", "2026-11-01T00:00:00.250Z" or "2026-11-01T02:00:00+02:00"; got "earlist" (did you mean "earliest"?))"},
    {"bad_log_level", R"([log]
level = "warning"
)",
     R"(t.toml:2:9: log.level: expected one of: trace, debug, info, warn, error; got "warning")"},
    {"bad_log_format", R"([log]
format = "yaml"
)",
     R"(t.toml:2:10: log.format: expected one of: text, json; got "yaml")"},
    {"bad_regex", R"([[links]]
name = "dr"
[links.source]
bootstrap_servers = ["127.0.0.1:19092"]
[links.destination]
bootstrap_servers = ["127.0.0.1:29092"]
[links.topics]
include = ["orders", "payments("]
)",
     "t.toml:8:22: links[0].topics.include[1]: invalid regular expression \"payments(\": "
     "Mismatched '(' and ')' in regular expression; patterns are ECMAScript regexes matched "
     "against the whole topic name"},
    {"bad_exclude_regex", R"([[links]]
name = "dr"
[links.source]
bootstrap_servers = ["127.0.0.1:19092"]
[links.destination]
bootstrap_servers = ["127.0.0.1:29092"]
[links.topics]
include = ["orders"]
exclude = ["[a-"]
)",
     "t.toml:9:12: links[0].topics.exclude[0]: invalid regular expression \"[a-\": Invalid end of "
     "'[x-x]' range in regular expression; patterns are ECMAScript regexes matched against the "
     "whole topic name"},
    {"empty_include_pattern", R"([[links]]
name = "dr"
[links.source]
bootstrap_servers = ["127.0.0.1:19092"]
[links.destination]
bootstrap_servers = ["127.0.0.1:29092"]
[links.topics]
include = [""]
)",
     "t.toml:8:12: links[0].topics.include[0]: empty pattern; write a topic name or an "
     "ECMAScript regex"},
    {"empty_include_list", R"([[links]]
name = "dr"
[links.source]
bootstrap_servers = ["127.0.0.1:19092"]
[links.destination]
bootstrap_servers = ["127.0.0.1:29092"]
[links.topics]
include = []
)",
     "t.toml:8:11: links[0].topics.include: must not be empty; add include = "
     "[\"topic-regex\", ...]"},
    {"empty_bootstrap_list", R"([[links]]
name = "dr"
[links.source]
bootstrap_servers = []
)",
     "t.toml:4:21: links[0].source.bootstrap_servers: must not be empty; add "
     "bootstrap_servers = [\"host:port\", ...]"},
    {"bootstrap_without_port", R"([[links]]
name = "dr"
[links.source]
bootstrap_servers = ["localhost"]
)",
     "t.toml:4:22: links[0].source.bootstrap_servers[0]: \"localhost\" has no port; expected "
     "host:port, e.g. \"127.0.0.1:9092\""},
    {"bootstrap_port_out_of_range", R"([[links]]
name = "dr"
[links.source]
bootstrap_servers = ["127.0.0.1:19092"]
[links.destination]
bootstrap_servers = ["a:9092", "b:99999"]
)",
     "t.toml:6:32: links[0].destination.bootstrap_servers[1]: port \"99999\" in \"b:99999\" is "
     "not a number in 1..65535"},
    {"bootstrap_port_zero", R"([[links]]
name = "dr"
[links.source]
bootstrap_servers = ["b:0"]
)",
     "t.toml:4:22: links[0].source.bootstrap_servers[0]: port \"0\" in \"b:0\" is not a number "
     "in 1..65535"},
    {"bootstrap_ipv6_without_brackets", R"([[links]]
name = "dr"
[links.source]
bootstrap_servers = ["::1:9092"]
)",
     "t.toml:4:22: links[0].source.bootstrap_servers[0]: \"::1:9092\" looks like an IPv6 "
     "address; put it in brackets, e.g. \"[::1]:9092\""},
    {"bootstrap_bad_host_character", R"([[links]]
name = "dr"
[links.source]
bootstrap_servers = ["my host:9092"]
)",
     "t.toml:4:22: links[0].source.bootstrap_servers[0]: \"my host:9092\" has an invalid "
     "character \" \" in the host; expected a hostname or an IP address"},
    {"admin_listen_without_port", R"([admin]
listen = "127.0.0.1"
)",
     "t.toml:2:10: admin.listen: \"127.0.0.1\" has no port; expected host:port, e.g. "
     "\"127.0.0.1:8083\""},
    {"admin_listen_unclosed_bracket", R"([admin]
listen = "[::1:8083"
)",
     "t.toml:2:10: admin.listen: \"[::1:8083\" has no closing ']'; write IPv6 addresses as "
     "\"[::1]:9092\""},
    {"duplicate_link_names", R"([[links]]
name = "dr"
[links.source]
bootstrap_servers = ["s:1"]
[links.destination]
bootstrap_servers = ["d:1"]
[links.topics]
include = ["x"]
[[links]]
name = "dr"
[links.source]
bootstrap_servers = ["s:1"]
[links.destination]
bootstrap_servers = ["d:1"]
[links.topics]
include = ["y"]
)",
     R"(t.toml:10:8: links[1].name: duplicate link name "dr" (first used at line 2); link names must be unique)"},
    {"bad_link_name", R"([[links]]
name = "my link"
)",
     R"(t.toml:2:8: links[0].name: invalid link name "my link"; use 1..64 characters from A-Z a-z 0-9 . _ -)"},
    {"link_name_too_long", R"([[links]]
name = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
)",
     R"(t.toml:2:8: links[0].name: invalid link name "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"; use 1..64 characters from A-Z a-z 0-9 . _ -)"},
    {"bad_client_id", R"([[links]]
name = "dr"
[links.source]
bootstrap_servers = ["s:1"]
client_id = ""
)",
     R"(t.toml:5:13: links[0].source.client_id: invalid client id ""; use 1..255 printable ASCII characters without spaces)"},
    {"max_in_flight_too_high", R"([[links]]
name = "dr"
[links.source]
bootstrap_servers = ["127.0.0.1:19092"]
[links.destination]
bootstrap_servers = ["127.0.0.1:29092"]
[links.topics]
include = ["orders"]
[links.mirror]
max_in_flight = 6
)",
     "t.toml:10:17: links[0].mirror.max_in_flight: 6 is out of range; expected 1..5 "
     "(idempotent producers keep ordering with at most 5)"},
    {"on_source_gap_unknown", R"([[links]]
name = "dr"
[links.source]
bootstrap_servers = ["127.0.0.1:19092"]
[links.destination]
bootstrap_servers = ["127.0.0.1:29092"]
[links.topics]
include = ["orders"]
[links.mirror]
on_source_gap = "ignore"
)",
     "t.toml:10:17: links[0].mirror.on_source_gap: expected one of: fail, skip; got \"ignore\""},
    {"fetch_max_wait_too_long", R"([[links]]
name = "dr"
[links.source]
bootstrap_servers = ["127.0.0.1:19092"]
[links.destination]
bootstrap_servers = ["127.0.0.1:29092"]
[links.topics]
include = ["orders"]
[links.mirror]
fetch_max_wait_ms = 60001
)",
     "t.toml:10:21: links[0].mirror.fetch_max_wait_ms: 60001 is out of range; expected 0..60000 "
     "(milliseconds)"},
    {"fetch_max_bytes_too_small", R"([[links]]
name = "dr"
[links.source]
bootstrap_servers = ["127.0.0.1:19092"]
[links.destination]
bootstrap_servers = ["127.0.0.1:29092"]
[links.topics]
include = ["orders"]
[links.mirror]
fetch_max_bytes = 1023
)",
     "t.toml:10:19: links[0].mirror.fetch_max_bytes: 1023 is out of range; expected "
     "1024..1073741824 (1 KiB..1 GiB)"},
    {"request_timeout_too_short", R"([[links]]
name = "dr"
[links.source]
bootstrap_servers = ["127.0.0.1:19092"]
[links.destination]
bootstrap_servers = ["127.0.0.1:29092"]
[links.topics]
include = ["orders"]
[links.mirror]
request_timeout_ms = -5
)",
     "t.toml:10:22: links[0].mirror.request_timeout_ms: -5 is out of range; expected "
     "1000..600000 (milliseconds)"},
    {"replication_factor_zero", R"([[links]]
name = "dr"
[links.source]
bootstrap_servers = ["127.0.0.1:19092"]
[links.destination]
bootstrap_servers = ["127.0.0.1:29092"]
replication_factor = 0
)",
     "t.toml:7:22: links[0].destination.replication_factor: 0 is not a valid replication "
     "factor; expected -1 (broker default) or 1..32767"},
    {"replication_factor_too_big", R"([[links]]
name = "dr"
[links.source]
bootstrap_servers = ["127.0.0.1:19092"]
[links.destination]
bootstrap_servers = ["127.0.0.1:29092"]
replication_factor = 32768
)",
     "t.toml:7:22: links[0].destination.replication_factor: 32768 is out of range; expected "
     "-1..32767 (-1 for the broker default, else 1..32767)"},
    {"partition_fetch_max_bytes_above_fetch_max_bytes", R"([[links]]
name = "dr"
[links.source]
bootstrap_servers = ["127.0.0.1:19092"]
[links.destination]
bootstrap_servers = ["127.0.0.1:29092"]
[links.topics]
include = ["orders"]
[links.mirror]
fetch_max_bytes = 1048576
partition_fetch_max_bytes = 2097152
)",
     "t.toml:11:29: links[0].mirror.partition_fetch_max_bytes: 2097152 exceeds fetch_max_bytes "
     "(1048576); a partition's share cannot exceed the whole request: lower it or raise "
     "fetch_max_bytes"},
    {"fetch_max_bytes_below_default_partition_fetch_max_bytes", R"([[links]]
name = "dr"
[links.source]
bootstrap_servers = ["127.0.0.1:19092"]
[links.destination]
bootstrap_servers = ["127.0.0.1:29092"]
[links.topics]
include = ["orders"]
[links.mirror]
fetch_max_bytes = 1048576
)",
     "t.toml:10:19: links[0].mirror.fetch_max_bytes: 1048576 is below partition_fetch_max_bytes "
     "(default 8388608); raise it or set partition_fetch_max_bytes to at most 1048576"},
    {"max_buffered_bytes_too_small", R"([[links]]
name = "dr"
[links.source]
bootstrap_servers = ["127.0.0.1:19092"]
[links.destination]
bootstrap_servers = ["127.0.0.1:29092"]
[links.topics]
include = ["orders"]
[links.mirror]
max_buffered_bytes = 4194304
)",
     "t.toml:10:22: links[0].mirror.max_buffered_bytes: 4194304 is below "
     "partition_fetch_max_bytes (8388608); the buffer must hold at least one partition's fetch: "
     "raise it"},
    {"partition_fetch_max_bytes_above_default_buffer", R"([[links]]
name = "dr"
[links.source]
bootstrap_servers = ["127.0.0.1:19092"]
[links.destination]
bootstrap_servers = ["127.0.0.1:29092"]
[links.topics]
include = ["orders"]
[links.mirror]
fetch_max_bytes = 536870912
partition_fetch_max_bytes = 268435456
)",
     "t.toml:11:29: links[0].mirror.partition_fetch_max_bytes: 268435456 exceeds "
     "max_buffered_bytes (default 134217728); raise max_buffered_bytes or lower this"},
    {"missing_links", R"([log]
level = "info"
)",
     "t.toml:1:1: links: missing required key; add at least one [[links]] table"},
    {"empty_document", "",
     "t.toml:1:1: links: missing required key; add at least one [[links]] table"},
    {"links_as_plain_table", R"([links]
name = "dr"
)",
     "t.toml:1:1: links: expected an array of tables ([[links]]), got a table"},
    {"links_empty_array", R"(links = []
)",
     "t.toml:1:9: links: at least one link is required; add a [[links]] table"},
    {"missing_link_name", R"([log]
level = "info"
[[links]]
[links.source]
bootstrap_servers = ["s:1"]
)",
     R"(t.toml:3:1: links[0].name: missing required key; add name = "my-link")"},
    {"missing_destination", R"([[links]]
name = "dr"
[links.source]
bootstrap_servers = ["127.0.0.1:19092"]
[links.topics]
include = ["orders"]
)",
     "t.toml:1:1: links[0].destination: missing required table; add [links.destination] with "
     "bootstrap_servers"},
    {"missing_topics", R"([[links]]
name = "dr"
[links.source]
bootstrap_servers = ["127.0.0.1:19092"]
[links.destination]
bootstrap_servers = ["127.0.0.1:29092"]
)",
     "t.toml:1:1: links[0].topics: missing required table; add [links.topics] with include = "
     "[\"regex\", ...]"},
    {"missing_include", R"([[links]]
name = "dr"
[links.source]
bootstrap_servers = ["127.0.0.1:19092"]
[links.destination]
bootstrap_servers = ["127.0.0.1:29092"]
[links.topics]
exclude = ["x"]
)",
     "t.toml:7:1: links[0].topics.include: missing required key; add include = "
     "[\"topic-regex\", ...]"},
    {"missing_bootstrap_servers", R"([[links]]
name = "dr"
[links.source]
client_id = "me"
)",
     "t.toml:3:1: links[0].source.bootstrap_servers: missing required key; add "
     "bootstrap_servers = [\"host:port\", ...]"},
    {"consumer_offsets_sync_as_string", R"([[links]]
name = "dr"
[links.source]
bootstrap_servers = ["127.0.0.1:19092"]
[links.destination]
bootstrap_servers = ["127.0.0.1:29092"]
[links.topics]
include = ["orders"]
[links.consumer_offsets]
sync = "true"
)",
     "t.toml:10:8: links[0].consumer_offsets.sync: expected a boolean, got a string; write true or "
     "false without quotes"},
    {"consumer_offsets_sync_as_integer", R"([[links]]
name = "dr"
[links.source]
bootstrap_servers = ["127.0.0.1:19092"]
[links.destination]
bootstrap_servers = ["127.0.0.1:29092"]
[links.topics]
include = ["orders"]
[links.consumer_offsets]
sync = 1
)",
     "t.toml:10:8: links[0].consumer_offsets.sync: expected a boolean, got an integer"},
    {"consumer_offsets_interval_too_small", R"([[links]]
name = "dr"
[links.source]
bootstrap_servers = ["127.0.0.1:19092"]
[links.destination]
bootstrap_servers = ["127.0.0.1:29092"]
[links.topics]
include = ["orders"]
[links.consumer_offsets]
interval_ms = 99
)",
     "t.toml:10:15: links[0].consumer_offsets.interval_ms: 99 is out of range; expected "
     "100..3600000 (milliseconds)"},
    {"consumer_offsets_interval_too_large", R"([[links]]
name = "dr"
[links.source]
bootstrap_servers = ["127.0.0.1:19092"]
[links.destination]
bootstrap_servers = ["127.0.0.1:29092"]
[links.topics]
include = ["orders"]
[links.consumer_offsets]
interval_ms = 3600001
)",
     "t.toml:10:15: links[0].consumer_offsets.interval_ms: 3600001 is out of range; expected "
     "100..3600000 (milliseconds)"},
    {"consumer_offsets_empty_include", R"([[links]]
name = "dr"
[links.source]
bootstrap_servers = ["127.0.0.1:19092"]
[links.destination]
bootstrap_servers = ["127.0.0.1:29092"]
[links.topics]
include = ["orders"]
[links.consumer_offsets]
include = []
)",
     "t.toml:10:11: links[0].consumer_offsets.include: must not be empty; add include = "
     "[\"group-id-regex\", ...]"},
    {"consumer_offsets_bad_include_regex", R"([[links]]
name = "dr"
[links.source]
bootstrap_servers = ["127.0.0.1:19092"]
[links.destination]
bootstrap_servers = ["127.0.0.1:29092"]
[links.topics]
include = ["orders"]
[links.consumer_offsets]
include = ["ok", "orders-("]
)",
     "t.toml:10:18: links[0].consumer_offsets.include[1]: invalid regular expression "
     "\"orders-(\": Mismatched '(' and ')' in regular expression; patterns are ECMAScript "
     "regexes matched against the whole group id"},
    {"consumer_offsets_empty_exclude_pattern", R"([[links]]
name = "dr"
[links.source]
bootstrap_servers = ["127.0.0.1:19092"]
[links.destination]
bootstrap_servers = ["127.0.0.1:29092"]
[links.topics]
include = ["orders"]
[links.consumer_offsets]
exclude = [""]
)",
     "t.toml:10:12: links[0].consumer_offsets.exclude[0]: empty pattern; write a group id or an "
     "ECMAScript regex"},
    {"consumer_offsets_unknown_key", R"([[links]]
name = "dr"
[links.source]
bootstrap_servers = ["127.0.0.1:19092"]
[links.destination]
bootstrap_servers = ["127.0.0.1:29092"]
[links.topics]
include = ["orders"]
[links.consumer_offsets]
intervel_ms = 5000
)",
     "t.toml:10:1: links[0].consumer_offsets.intervel_ms: unknown key; did you mean "
     "\"interval_ms\"?"},
    {"consumer_offsets_not_a_table", R"([[links]]
name = "dr"
consumer_offsets = true
[links.source]
bootstrap_servers = ["127.0.0.1:19092"]
[links.destination]
bootstrap_servers = ["127.0.0.1:29092"]
[links.topics]
include = ["orders"]
)",
     "t.toml:3:20: links[0].consumer_offsets: expected a table ([links.consumer_offsets]), got a "
     "boolean"},
    {"toml_syntax_error", R"([log]
level = "info
)",
     "t.toml:2:14: TOML syntax error: Error while parsing string: unescaped control characters "
     "other than TAB (U+0009) are explicitly prohibited"},
    {"toml_duplicate_key", R"([log]
level = "info"
level = "debug"
)",
     "t.toml:3:9: TOML syntax error: Error while parsing key-value pair: cannot redefine "
     "existing string 'level'"},
};

INSTANTIATE_TEST_SUITE_P(config, malformed, testing::ValuesIn(malformed_cases),
                         [](const testing::TestParamInfo<malformed_case>& info) {
                           return std::string(info.param.name);
                         });

}  // namespace
