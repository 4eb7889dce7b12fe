// What the admin endpoint and the metrics show of a link's mirrors: copies
// taken on the link's executor, so that the layers above read the data path's
// state without seeing its types.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kafka/error.h"
#include "linker/mirror_record.h"

namespace klink::linker {

inline constexpr std::string_view mirror_states[] = {
    "ACTIVE",      "PAUSED",   "PROMOTING",          "PROMOTED",
    "FAILED_OVER", "DIVERGED", "SOURCE_UNAVAILABLE", "FAILED"};
inline constexpr std::string_view link_states[] = {"ACTIVE", "PAUSED", "UNAVAILABLE", "FAILED"};

struct partition_status {
  int32_t partition = 0;
  // ACTIVE, PAUSED, FAILED, DIVERGED, STOPPED, FENCED; or the mirror's own
  // state when it is stopped for good, promoting, or has a source problem.
  std::string state;
  int64_t source_end_offset = -1;  // LSO, else high watermark; -1 before the first fetch answered
  int64_t mirrored_source_offset = 0;  // next source offset to copy
  int64_t destination_end_offset = -1;
  int64_t lag_records = 0;  // 0 once the mirror is stopped for good
  double lag_seconds = 0;
  int32_t preferred_read_replica = -1;
  std::optional<error> last_error;  // why the partition stopped
  // Source offsets deleted before they were copied (the last such gap), and
  // how many were skipped in this process (on_source_gap = skip).
  int64_t source_gap_from = -1;  // [from, to); -1: none
  int64_t source_gap_to = -1;
  uint64_t records_skipped = 0;
  // Since the partition started in this process.
  uint64_t records_produced = 0;
  uint64_t bytes_produced = 0;
  uint64_t batches_rebuilt = 0;
};

struct mirror_status {
  std::string source_topic;
  std::string mirror_topic;
  std::string_view state;  // one of mirror_states
  int64_t lag_records = 0;
  std::string reason;  // why it is stopped (source problem, divergence), or ""
  std::optional<switch_result> result;
  std::vector<partition_status> partitions;  // in partition order
  // Failback: "forward" (the link's source to its destination) or "reverse"
  // (after a :reverse), the generation running, every switch of both
  // directions oldest first, and the divergent records kept, each with the
  // cluster ("source" or "destination", as the link's config names them)
  // that holds them.
  std::string_view direction = "forward";
  int64_t generation = 0;
  std::vector<switch_result> history;
  std::vector<std::pair<std::string_view, divergent_range>> divergent_ranges;
};

// A consumer group's committed source offset and its destination translation.
struct translated_offset {
  std::string topic;
  int32_t partition = 0;
  int64_t source_offset = -1;
  std::optional<int64_t> destination_offset;  // nullopt: not translatable (yet)
};

}  // namespace klink::linker
