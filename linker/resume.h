// Where a mirror partition resumes after a restart, exactly.
#pragma once

#include <cstdint>
#include <string>

#include "kafka/asio.h"
#include "kafka/cluster.h"
#include "kafka/error.h"
#include "offsets/offset_map.h"

namespace klink::linker {

// Decides the offset map a mirror partition continues with (see
// offsets/README.md, "Exact resume"):
//  - no checkpoint: a fresh map from `fresh_source_start`, if the mirror
//    partition is empty; an error if it already holds records klink cannot
//    account for;
//  - a checkpoint that matches the destination's end: that map;
//  - a destination that holds more (batches acknowledged, or written without
//    an acknowledgement, after the checkpoint): the map advanced over exactly
//    those batches by re-reading the source from the checkpoint;
//  - a destination that holds less: an error (records were lost there).
asio::awaitable<result<offsets::offset_map>> resume_map(kafka::cluster& source,
                                                        const std::string& topic, int32_t partition,
                                                        const std::string* checkpoint,
                                                        int64_t fresh_source_start,
                                                        int64_t destination_end);

}  // namespace klink::linker
