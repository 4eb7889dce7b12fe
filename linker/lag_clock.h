// The age of a mirror partition's lag, for klink_mirror_partition_lag_seconds
// and the admin endpoint's lag_seconds.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <tuple>

#include "mirror/partition_mirror.h"

namespace klink::linker {

// The source end offset the lag is measured against (LSO, else the high
// watermark), or -1 before the first fetch answered.
int64_t source_end_offset(const mirror::partition_mirror& p);

// Age of the oldest source record not yet on the destination, 0 when caught
// up. The record's timestamp is the first queued or in-flight batch's base
// timestamp; while records are missing but none is fetched (a paused topic),
// the last known timestamp stands, or, if none was seen since the partition
// was caught up, the moment the lag was first noticed (a lower bound), so the
// age keeps growing while nothing moves.
// Lives on the link's executor (one per link).
class lag_clock {
 public:
  double lag_seconds(const std::string& link, const mirror::partition_mirror& p,
                     std::chrono::system_clock::time_point now);

 private:
  std::map<std::tuple<std::string, std::string, int32_t>, int64_t> oldest_ms_;
};

}  // namespace klink::linker
