// klink's configuration model and its loader. The TOML keys documented in
// README.md are the public interface; the structs mirror them one to one.
#pragma once

#include <cstdint>
#include <expected>
#include <filesystem>
#include <optional>
#include <regex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "log/log_options.h"

namespace klink::config {

// [log]: the logger's own settings types (log/log_options.h).
using log_level = log::level;
using log_format = log::format;
using log_config = log::options;

// Raised by load_config/parse_config. what() is always
// "FILE:LINE:COL: KEY: MESSAGE" (or "FILE: MESSAGE" when the file itself
// cannot be read) so editors and CI logs can jump to the spot.
class config_error : public std::runtime_error {
 public:
  config_error(std::string file, std::uint32_t line, std::uint32_t column, std::string key,
               std::string message);
  // For failures that have no position in the file (unreadable file).
  config_error(std::string file, std::string message);

  const std::string& file() const noexcept { return file_; }
  std::uint32_t line() const noexcept { return line_; }  // 1-based; 0 when there is none
  std::uint32_t column() const noexcept { return column_; }
  const std::string& key() const noexcept {
    return key_;
  }  // dotted path, e.g. links[0].mirror.start
  const std::string& message() const noexcept { return message_; }

 private:
  std::string file_;
  std::uint32_t line_ = 0;
  std::uint32_t column_ = 0;
  std::string key_;
  std::string message_;
};

// TLS for the admin endpoint ([admin.tls]): HTTPS, and client certificates
// signed by client_ca_file when it is set (mTLS).
struct admin_tls_config {
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;  // empty: no client certificate asked for
};

struct admin_config {
  std::string host = "127.0.0.1";  // IPv6 addresses are stored without brackets
  std::uint16_t port = 8083;       // 0 asks the OS for a free port (handy in tests)
  // Bearer tokens for /v1, one per line; empty = no authentication. A relative
  // path is taken from the config file's folder, so a config and its tokens
  // can move together.
  std::string tokens_file;
  std::optional<admin_tls_config> tls;
};

// How klink talks to one cluster; the names are Kafka's.
enum class security_protocol : std::uint8_t { plaintext, ssl, sasl_plaintext, sasl_ssl };

struct tls_config {
  std::string ca_file;    // empty: the system trust store
  std::string cert_file;  // client certificate (mTLS) and its key, both or neither
  std::string key_file;
  bool verify_hostname = true;
  friend bool operator==(const tls_config&, const tls_config&) = default;
};

enum class sasl_mechanism : std::uint8_t { plain, scram_sha_256, scram_sha_512 };

// Secrets are never in the TOML: the password comes from a file or an
// environment variable, read again at each authentication.
struct sasl_config {
  sasl_mechanism mechanism = sasl_mechanism::scram_sha_512;
  std::string username;
  std::string password_file;
  std::string password_env;
  friend bool operator==(const sasl_config&, const sasl_config&) = default;
};

struct cluster_config {
  std::vector<std::string> bootstrap_servers;  // "host:port" / "[v6]:port", validated
  std::string client_id;                       // defaults to "klink-<link name>"
  std::int16_t replication_factor = -1;        // destination only; -1 = broker default
  security_protocol protocol = security_protocol::plaintext;
  std::optional<tls_config> tls;    // set for SSL and SASL_SSL
  std::optional<sasl_config> sasl;  // set for SASL_PLAINTEXT and SASL_SSL
  // Source only (KIP-392): the rack klink runs in, so that fetches can go to
  // the nearest replica. Empty: fetch from the leader.
  std::string client_rack;
  friend bool operator==(const cluster_config&, const cluster_config&) = default;
};

// Which source topics a link mirrors. Copyable; the regexes are compiled once at load time.
class topic_filter {
 public:
  topic_filter() = default;
  // Throws std::regex_error for a pattern that does not compile.
  topic_filter(std::vector<std::string> include, std::vector<std::string> exclude);

  // Whole-name match against any include and no exclude pattern. Internal
  // topics (names starting with "__") never match: mirroring
  // __consumer_offsets or __transaction_state would corrupt the destination.
  bool matches(std::string_view topic) const;

  const std::vector<std::string>& include() const noexcept { return include_; }
  const std::vector<std::string>& exclude() const noexcept { return exclude_; }
  // Same patterns (the compiled regexes follow from them).
  friend bool operator==(const topic_filter& a, const topic_filter& b) {
    return a.include_ == b.include_ && a.exclude_ == b.exclude_;
  }

 private:
  std::vector<std::string> include_;
  std::vector<std::string> exclude_;
  std::vector<std::regex> include_re_;
  std::vector<std::regex> exclude_re_;
};

// Where a mirror without a checkpoint starts reading its source partitions.
enum class start_position : std::uint8_t { earliest, latest, timestamp };

enum class source_gap_policy : std::uint8_t { fail, skip };

struct mirror_config {
  start_position start = start_position::earliest;
  // start == timestamp: milliseconds since the epoch (UTC), the first record
  // at or after it (ListOffsets). -1 otherwise.
  std::int64_t start_timestamp_ms = -1;
  std::int32_t fetch_max_wait_ms = 500;
  std::int32_t fetch_max_bytes = 52428800;           // per Fetch request
  std::int32_t partition_fetch_max_bytes = 8388608;  // per partition within a Fetch
  // Fetched but not yet acknowledged by the destination, per link: the
  // back-pressure bound that keeps memory flat when the destination is slow.
  std::int64_t max_buffered_bytes = 134217728;
  std::int32_t max_in_flight = 5;  // Produce requests per partition; idempotence allows 5
  std::int32_t request_timeout_ms = 30000;
  // Source records deleted (retention, DeleteRecords) before klink copied
  // them: stop the partition (FAILED, SOURCE_RECORDS_DELETED) or skip them.
  source_gap_policy on_source_gap = source_gap_policy::fail;
  friend bool operator==(const mirror_config&, const mirror_config&) = default;
};

// Consumer-group offset sync ([links.consumer_offsets]): the committed offsets
// of source consumer groups, translated, are committed on the destination.
struct consumer_offsets_config {
  bool sync = false;
  std::vector<std::string> include{".*"};  // group-id ECMAScript regexes, whole-name match
  std::vector<std::string> exclude;
  std::int32_t interval_ms = 5000;
  friend bool operator==(const consumer_offsets_config&, const consumer_offsets_config&) = default;
};

// Scale-out ([links.scale_out]): several klink instances of one link share
// its partitions through a group on the destination cluster. Every instance
// of the link must run with the same values.
struct scale_out_config {
  bool enabled = false;
  // The loader applies the default, "klink.<link name>", so this is always
  // the id the group will have.
  std::string group_id;
  // How long the coordinator waits for a silent instance before its
  // partitions move to the others.
  std::int32_t session_timeout_ms = 10000;
  friend bool operator==(const scale_out_config&, const scale_out_config&) = default;
};

// The source topic configs kept in sync on mirror topics by default.
inline const std::vector<std::string> default_sync_configs = {
    "cleanup.policy",        "retention.ms",          "retention.bytes",
    "max.message.bytes",     "min.compaction.lag.ms", "max.compaction.lag.ms",
    "delete.retention.ms",   "segment.bytes",         "segment.ms",
    "message.timestamp.type"};

struct link_config {
  std::string name;
  cluster_config source;
  cluster_config destination;
  topic_filter topics;
  // Mirror topic name = topic_prefix + source topic name. Checked against
  // Kafka's topic-name characters and kept below 249 characters; the runtime
  // checks each full mirror name.
  std::string topic_prefix;
  std::int32_t topic_refresh_interval_ms = 30000;  // discovery and config/partition sync
  // Source topic configs applied to the mirror when they differ; never
  // compression.type (mirrors keep "producer") nor the timestamp windows klink sets.
  std::vector<std::string> sync_configs = default_sync_configs;
  mirror_config mirror;
  consumer_offsets_config consumer_offsets;
  scale_out_config scale_out;
};

struct config {
  log_config log;
  admin_config admin;
  std::vector<link_config> links;  // at least one
  std::string source_file;         // the path it was loaded from, for messages
};

// Reads and validates a TOML file. Throws config_error.
config load_config(const std::filesystem::path& path);

// Same, from text; source_name stands in for the file name in messages.
config parse_config(std::string_view toml_text, const std::string& source_name);

std::string_view to_string(start_position start) noexcept;
std::string_view to_string(security_protocol protocol) noexcept;

// An RFC 3339 timestamp ("2026-11-01T00:00:00Z", "2026-11-01T00:00:00.250Z",
// "2026-11-01T02:00:00+02:00") as milliseconds since the epoch, UTC; digits
// beyond milliseconds are truncated. On failure, what is wrong with it.
// Timestamps before 1970 are refused: Kafka reserves negative ones.
std::expected<std::int64_t, std::string> parse_rfc3339_ms(std::string_view text);

// Whether two cluster configs name the same cluster: their bootstrap_servers
// share an entry (host:port compared case-insensitively, "localhost",
// "127.0.0.1" and "[::1]" taken as the same host). Different addresses of one
// cluster are not detected.
bool same_cluster(const cluster_config& a, const cluster_config& b);

// Prefixes of every link whose destination is the same cluster as `link`'s
// source: topics there that start with one of them are mirrors and must never
// be mirrored back. Includes `link`'s own prefix when its source and
// destination are the same cluster. Empty prefixes are left out (a topic
// mirrored without a prefix cannot be told apart by its name; validation
// rejects the loops that would allow), and each prefix appears once.
std::vector<std::string> mirror_prefixes_into_source(const config& cfg, const link_config& link);

}  // namespace klink::config
