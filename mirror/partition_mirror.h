// The state of one mirror partition: where it reads, what is queued, what is in flight.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include "kafka/error.h"
#include "mirror/outbound_batch.h"

namespace klink::mirror {

enum class partition_state : uint8_t {
  active,
  failed,    // stopped by an error that retrying cannot fix (corrupt batch, refused batch)
  diverged,  // the destination partition holds records klink did not write
  stopped,   // stopped for good by the operator (promoted or failed over), or handed over
  // Scale-out: the destination refused a write because another instance wrote
  // to the partition since (its producer sequence moved on): this instance no
  // longer owns it.
  fenced,
};

std::string_view to_string(partition_state state);

// A batch sent to the destination and not yet committed to the offset record.
struct in_flight_batch {
  outbound_batch batch;
  bool answered = false;
  bool ok = false;
  int64_t destination_base_offset = -1;
};

struct partition_counters {
  uint64_t batches_produced = 0;
  uint64_t batches_rebuilt = 0;
  uint64_t records_produced = 0;
  uint64_t bytes_produced = 0;
  uint64_t control_batches_dropped = 0;
  uint64_t aborted_batches_dropped = 0;
  uint64_t produce_retries = 0;
  // Source offsets deleted before they were copied, skipped (on_source_gap = skip).
  uint64_t records_skipped = 0;
};

// Source offsets [from, to): e.g. deleted on the source before klink copied them.
struct source_offset_range {
  int64_t from = 0;
  int64_t to = 0;
};

// Owned by the mirror_engine; touched only on the link's single-threaded executor.
struct partition_mirror {
  std::string source_topic;
  std::string mirror_topic;
  int32_t partition = 0;

  partition_state state = partition_state::active;
  std::optional<klink::error> failure;  // why the partition stopped
  // The last source records deleted before they were copied (failed on or
  // skipped, as on_source_gap says).
  std::optional<source_offset_range> source_gap;
  // Set when the source sent something unusable (a corrupt batch): no more
  // fetching; the batches before it are still delivered, then the partition
  // stops with this error.
  std::optional<klink::error> stop_after_queued;
  // Paused by the operator: no new fetches; what was fetched is still delivered.
  bool paused = false;
  // A promotion holds the mirror at its cut: nothing at or past this source
  // offset is fetched (-1: no limit). A batch straddling it is copied whole.
  int64_t stop_at = -1;
  // Being stopped for good: nothing more is fetched or queued; batches in
  // flight are still answered and recorded, then the state becomes stopped.
  bool stopping = false;
  // Scale-out: `stopping` because another instance takes the partition over,
  // not for good.
  bool handing_over = false;

  // Source side.
  int64_t fetch_offset = 0;  // next source offset to fetch
  bool fetching = false;
  bool checking_range = false;  // out of range: asking the source for its log's bounds
  int64_t source_high_watermark = -1;
  int64_t source_last_stable_offset = -1;
  int64_t source_log_start_offset = -1;
  // KIP-392: the broker the source leader asked klink to fetch this partition
  // from (a replica in klink's client_rack), or -1 to fetch from the leader.
  int32_t preferred_read_replica = -1;
  // When klink goes back to the leader so it can choose again (a replica
  // nearer or healthier than this one may exist by then).
  std::chrono::steady_clock::time_point read_replica_until{};
  // The replica left only for that periodic re-check: the leader naming it
  // again is no news and is not logged.
  int32_t rechecked_read_replica = -1;

  // Destination side.
  std::deque<outbound_batch> ready;       // transformed, not yet sent
  std::deque<in_flight_batch> in_flight;  // sent, in sequence order
  int unanswered = 0;                     // in_flight entries still waiting for a response
  bool round_failed = false;              // a send failed: resend everything unacknowledged
  int consecutive_failures = 0;
  std::chrono::steady_clock::time_point retry_after{};
  // The idempotent producer this partition writes as (-1: the engine's own).
  // Scale-out continues the producer of the mirror partition's last batch, so
  // that the destination's sequence check fences every other writer.
  int64_t producer_id = -1;
  int16_t producer_epoch = -1;
  int32_t next_sequence = 0;
  int64_t next_destination_offset = -1;  // where the next batch must land; -1 = not known yet
  std::size_t buffered_bytes = 0;

  partition_counters counters;

  // The next source offset not yet on the destination: everything before it
  // has been acknowledged by the destination or deliberately dropped.
  int64_t mirrored_source_offset() const {
    if (!in_flight.empty()) return in_flight.front().batch.source_base_offset;
    if (!ready.empty()) return ready.front().source_base_offset;
    return fetch_offset;
  }
  bool idle() const { return ready.empty() && in_flight.empty(); }
  // Records the source has that the destination does not (read_committed end).
  int64_t lag_records() const {
    const int64_t end =
        source_last_stable_offset >= 0 ? source_last_stable_offset : source_high_watermark;
    return end < 0 ? 0 : std::max<int64_t>(0, end - mirrored_source_offset());
  }
};

}  // namespace klink::mirror
