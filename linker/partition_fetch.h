// One immediate Fetch of one partition from its leader: the reads klink does
// outside the data path (re-reading the source's tail at resume, reading the
// mirror partition's last batch for scale-out fencing).
#pragma once

#include <cstdint>
#include <expected>
#include <string>

#include "kafka/asio.h"
#include "kafka/cluster.h"
#include "kafka/messages/fetch.h"

namespace klink::linker {

using partition_fetch_response = kafka::response<kafka::msg::fetch_response>;

// The whole response (it owns the buffer the partition's records point
// into); fails when the partition has no leader, the request fails or the
// answer names no partition. The partition's own error code is the caller's.
asio::awaitable<std::expected<partition_fetch_response, std::string>> fetch_partition_now(
    kafka::cluster& cluster, const std::string& topic, int32_t partition, int64_t offset,
    int32_t max_bytes, int8_t isolation_level);

}  // namespace klink::linker
