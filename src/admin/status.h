// Mirror and link status as the admin endpoint and the metrics report it,
// derived from the engine's partition state on the daemon's one thread.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "linker/link.h"
#include "mirror/partition_mirror.h"

namespace klink::admin {

inline constexpr std::string_view mirror_states[] = {
    "ACTIVE",      "PAUSED",   "PROMOTING",          "PROMOTED",
    "FAILED_OVER", "DIVERGED", "SOURCE_UNAVAILABLE", "FAILED"};
inline constexpr std::string_view link_states[] = {"ACTIVE", "PAUSED", "UNAVAILABLE", "FAILED"};

// A link's mirror partitions grouped by source topic, in topic order; a
// mirror stopped for good by an earlier run is listed without partitions.
std::map<std::string, std::vector<const mirror::partition_mirror*>> partitions_by_topic(
    const linker::link& link);

// One of mirror_states for a topic's partitions.
std::string_view mirror_state(const linker::link& link, const std::string& topic,
                              const std::vector<const mirror::partition_mirror*>& partitions);

// Whether the link shares its partitions with other instances
// ([links.scale_out] enabled); its membership may not have started yet.
bool runs_scale_out(const linker::link& link);

// The source end offset the lag is measured against (LSO, else the high
// watermark), or -1 before the first fetch answered.
int64_t source_end_offset(const mirror::partition_mirror& p);

// Age of the oldest source record not yet on the destination, 0 when caught
// up. The record's timestamp is the first queued or in-flight batch's base
// timestamp; while records are missing but none is fetched (a paused topic),
// the last known timestamp stands, or, if none was seen since the partition
// was caught up, the moment the lag was first noticed (a lower bound), so the
// age keeps growing while nothing moves.
class lag_clock {
 public:
  double lag_seconds(const std::string& link, const mirror::partition_mirror& p,
                     std::chrono::system_clock::time_point now);

 private:
  std::map<std::tuple<std::string, std::string, int32_t>, int64_t> oldest_ms_;
};

}  // namespace klink::admin
