// Turns the records of one partition in a Fetch response into batches the
// destination accepts (ARCHITECTURE.md, "The life of one record batch", step 2).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "kafka/error.h"
#include "kafka/protocol/bytes.h"
#include "mirror/outbound_batch.h"

namespace klink::mirror {

struct aborted_transaction {
  int64_t producer_id = -1;
  int64_t first_offset = -1;
};

struct transform_counters {
  uint64_t batches_kept = 0;     // bytes forwarded untouched (header rewritten later)
  uint64_t batches_rebuilt = 0;  // slow path: renumbered/re-stamped and recompressed
  uint64_t control_batches_dropped = 0;
  uint64_t aborted_batches_dropped = 0;
  uint64_t records_kept = 0;
};

struct transform_input {
  // The partition's records, inside `owner` (the Fetch response buffer).
  std::shared_ptr<kafka::byte_vector> owner;
  kafka::mutable_bytes_view records;
  int64_t fetch_offset = 0;
  std::vector<aborted_transaction> aborted;  // from the Fetch response
};

struct transform_output {
  std::vector<outbound_batch> batches;
  int64_t next_fetch_offset = 0;  // after the last complete batch seen
  transform_counters counters;
  // Set when a batch is corrupt (klink::errc::corrupt_data, call "Fetch"):
  // everything before it is in `batches`, nothing after. Its detail names the
  // offset; the caller adds cluster, topic and partition.
  std::optional<klink::error> failure;
  int64_t error_offset = -1;
};

// Cheap: walks and checks the batches, decides what happens to each. Batches
// that must be rebuilt are only marked (`needs_rebuild`).
transform_output transform_fetched_records(transform_input input);

// The slow path, CPU-bound (decompress, renumber, recompress): rebuilds every
// marked batch. The engine runs it on its rebuild pool, off the link's executor. On failure, `out`
// keeps only the batches before the one that could not be rebuilt.
void rebuild_marked_batches(transform_output& out);

}  // namespace klink::mirror
