// A batch on its way from the source to the destination.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "kafka/protocol/bytes.h"

namespace klink::mirror {

// Consecutive source offsets that all reached the destination.
struct record_run {
  int64_t source_offset = 0;
  int64_t count = 0;
};

struct outbound_batch {
  // Keeps `bytes` alive: the Fetch response buffer the batch sits in (the fast
  // path never copies it) or the buffer of a rebuilt batch.
  std::shared_ptr<kafka::byte_vector> owner;
  kafka::mutable_bytes_view bytes;
  int64_t source_base_offset = 0;
  int64_t source_last_offset = 0;
  int32_t record_count = 0;
  bool rebuilt = false;
  // Still the source's bytes, but must be rebuilt before sending (offset holes
  // or LogAppendTime); see rebuild_marked_batches.
  bool needs_rebuild = false;
  // The source offsets of the records, when they are not simply
  // base..base+count-1 (a compacted batch with holes); filled by the rebuild.
  std::vector<record_run> holey_source_runs;
  // Idempotent-producer sequence, assigned on the first send and kept across
  // resends so the broker can recognise a batch it already has.
  int32_t sequence = -1;
};

}  // namespace klink::mirror
