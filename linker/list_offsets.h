// ListOffsets for whole topics: one request per partition leader, however
// many topics are asked (a batch promotion of thousands of topics).
#pragma once

#include <cstdint>
#include <expected>
#include <map>
#include <string>
#include <vector>

#include "kafka/asio.h"
#include "kafka/cluster.h"

namespace klink::linker {

inline constexpr int64_t earliest_timestamp = -2;
inline constexpr int64_t latest_timestamp = -1;
inline constexpr int8_t read_uncommitted = 0;
inline constexpr int8_t read_committed = 1;

using topic_offsets = std::expected<std::vector<int64_t>, std::string>;

// Every partition's offset at `timestamp` (earliest/latest) for each topic,
// indexed by partition; a topic whose metadata is missing or whose leaders
// answer an error gets that error, the others their offsets.
asio::awaitable<std::map<std::string, topic_offsets>> list_offsets(
    kafka::cluster& cluster, const std::vector<std::string>& topics, int64_t timestamp,
    int8_t isolation);

// The same for one topic.
asio::awaitable<topic_offsets> list_offsets(kafka::cluster& cluster, const std::string& topic,
                                            int64_t timestamp, int8_t isolation);

}  // namespace klink::linker
