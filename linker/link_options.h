// What a link is told: its clusters, topic selection, data-path settings,
// consumer-offset sync and scale-out. The daemon builds it from the TOML
// config (src/link_options.cpp); nothing in linker/ reads TOML.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "kafka/connection.h"
#include "mirror/mirror_options.h"
#include "offsets/group_filter.h"

namespace klink::linker {

// Where a mirror starts when it has no checkpoint. Applies to the topics
// found at the link's first discovery; a topic created on the source later is
// new in full and is mirrored from its start.
enum class start_position : uint8_t { earliest, latest, timestamp };

// The source configs kept in sync on mirror topics unless the link names others.
inline const std::vector<std::string> default_synced_configs = {
    "cleanup.policy",        "retention.ms",          "retention.bytes",
    "max.message.bytes",     "min.compaction.lag.ms", "max.compaction.lag.ms",
    "delete.retention.ms",   "segment.bytes",         "segment.ms",
    "message.timestamp.type"};

// Scale-out ([links.scale_out]): several instances of the link share its
// partitions through a group on the destination cluster (linker/README.md,
// "Scale-out").
struct scale_out_options {
  bool enabled = false;
  std::string group_id;  // empty: "klink.<link name>"
  std::chrono::milliseconds session_timeout{10000};
  // Test hook (environment KLINK_SCALE_OUT_UNGUARDED=1): produce even after the
  // lease ran out, so that tests see the destination itself refuse a deposed
  // instance's writes. Never set in production.
  bool unguarded = false;
};

struct link_options {
  std::string name;
  std::vector<kafka::broker_address> source_bootstrap;
  std::vector<kafka::broker_address> destination_bootstrap;
  kafka::connection_options source_connection;
  kafka::connection_options destination_connection;
  // Whole-name topic filter; the daemon builds it from the config.
  std::function<bool(const std::string&)> topic_filter;
  std::vector<std::string> include_patterns;  // for "matches nothing yet" messages only
  start_position start = start_position::earliest;
  int64_t start_timestamp_ms = -1;  // start == timestamp: the first record at or after it
  // Mirror topic name = prefix + source topic name.
  std::string topic_prefix;
  // Source topics starting with one of these are mirrors made by a link into
  // this link's source cluster: never mirrored back (bidirectional links).
  std::vector<std::string> mirror_prefixes;
  // Source topic configs applied to the mirrors at creation and every refresh.
  std::vector<std::string> synced_configs = default_synced_configs;
  int16_t replication_factor = -1;
  // How often source topics are listed: new ones mirrored, configs and
  // partition counts followed, deleted ones noticed.
  std::chrono::milliseconds topic_refresh_interval{30000};
  // How often offset maps are checkpointed to the destination. A crash loses
  // nothing either way (the restart re-reads the destination's tail); shorter
  // means less to re-read.
  std::chrono::milliseconds checkpoint_interval{1000};
  mirror::mirror_options mirror;
  // Consumer-group offset sync to the destination (off unless enabled).
  bool sync_consumer_offsets = false;
  offsets::group_filter consumer_groups;
  std::chrono::milliseconds consumer_offsets_interval{5000};
  scale_out_options scale_out;
  // Failback (linker/README.md, "Failing back"): this is the reverse of a
  // link, made by that link, with its clusters swapped. It mirrors only the
  // topics the link reversed, and a mirror topic is named after its source
  // topic without `strip_prefix` (the forward link's topic_prefix).
  bool reverse = false;
  std::string strip_prefix;
};

// The options of `forward`'s reverse: clusters swapped, named
// "<name>~reverse", following only the mirrors recorded for it.
link_options reversed(const link_options& forward);

}  // namespace klink::linker
