// Topic administration: CreateTopics, CreatePartitions, DescribeConfigs and
// IncrementalAlterConfigs (SET) for topics.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "kafka/asio.h"
#include "kafka/client/call.h"
#include "kafka/cluster.h"
#include "kafka/error.h"

namespace klink::kafka::client {

struct new_topic {
  std::string name;
  int32_t partitions = 1;
  int16_t replication_factor = -1;  // -1: the cluster's default
  std::map<std::string, std::string> configs;
};

// CreateTopics on the controller. True when the call created the topic,
// false when it already existed (TOPIC_ALREADY_EXISTS is not an error here).
asio::awaitable<result<bool>> create_topic(cluster& c, const new_topic& topic,
                                           call_options options = {});

// CreatePartitions: grows `topic` to `count` partitions, placed by the
// cluster. A topic that already has them (INVALID_PARTITIONS) is a success.
asio::awaitable<result<void>> create_partitions(cluster& c, const std::string& topic, int32_t count,
                                                call_options options = {});

// A topic's effective configs (defaults included), by name; configs without
// a value (sensitive ones) are left out.
using topic_configs = std::map<std::string, std::string>;

// DescribeConfigs for topics, at most 200 per request: each topic's configs,
// or the error the broker gave for it. The call fails as a whole only when a
// request fails.
asio::awaitable<result<std::map<std::string, result<topic_configs>>>> describe_topic_configs(
    cluster& c, const std::vector<std::string>& topics, call_options options = {});

// IncrementalAlterConfigs with SET for each topic's given configs: each
// topic's outcome. The call fails as a whole only when the request fails.
asio::awaitable<result<std::map<std::string, result<void>>>> set_topic_configs(
    cluster& c, const std::map<std::string, topic_configs>& changes, call_options options = {});

}  // namespace klink::kafka::client
