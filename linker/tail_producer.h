// Scale-out fencing: the producer a mirror partition was last written by.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "kafka/asio.h"
#include "kafka/cluster.h"
#include "kafka/error.h"
#include "mirror/mirror_engine.h"

namespace klink::linker {

// The idempotent producer (id, epoch) of the batch holding the mirror
// partition's last offset (end_offset - 1), and the sequence that follows it.
// A new owner continues that producer, so the destination accepts a write
// from it only where the log really ends, and refuses any other instance
// still writing as the same producer (linker/README.md, "Fencing"). nullopt:
// the partition is empty (or retention emptied it) or its last batch carries
// no producer id; the engine's own producer starts it.
asio::awaitable<result<std::optional<mirror::producer_identity>>> last_batch_producer(
    kafka::cluster& destination, const std::string& mirror_topic, int32_t partition,
    int64_t end_offset);

}  // namespace klink::linker
