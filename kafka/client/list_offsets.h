// ListOffsets for whole topics: one request per partition leader, however
// many topics are asked (a batch promotion of thousands of topics).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "kafka/asio.h"
#include "kafka/client/call.h"
#include "kafka/cluster.h"
#include "kafka/error.h"

namespace klink::kafka::client {

inline constexpr int64_t earliest_timestamp = -2;
inline constexpr int64_t latest_timestamp = -1;

enum class isolation : int8_t { read_uncommitted = 0, read_committed = 1 };

// Every partition's offset, indexed by partition number.
using topic_offsets = result<std::vector<int64_t>>;

// Every partition's offset at `timestamp` (a time in ms, or earliest/latest)
// for each topic, from the leaders in the cluster's cached metadata. A topic
// missing from the metadata, with a leaderless partition, or whose leader
// answers an error gets that error; the others get their offsets.
asio::awaitable<std::map<std::string, topic_offsets>> list_offsets(
    cluster& c, const std::vector<std::string>& topics, int64_t timestamp, isolation level);

// The same for one topic.
asio::awaitable<topic_offsets> list_offsets(cluster& c, const std::string& topic, int64_t timestamp,
                                            isolation level);

}  // namespace klink::kafka::client
