// Consumer and klink groups as an administrator sees them: FindCoordinator,
// OffsetFetch, OffsetCommit (as an admin: no generation, no member),
// ListGroups and DescribeGroups.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kafka/asio.h"
#include "kafka/client/call.h"
#include "kafka/cluster.h"
#include "kafka/error.h"
#include "kafka/protocol/bytes.h"

namespace klink::kafka::client {

// The node id of the broker coordinating `group`, from any broker of `c`;
// the broker's address is in the cluster's metadata when this succeeds
// (read again if the node was not known yet).
asio::awaitable<result<int32_t>> find_coordinator(cluster& c, const std::string& group,
                                                  call_options options = {});

// A group's committed offset of one partition.
struct committed_offset {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = -1;
  std::optional<std::string> metadata;
  friend bool operator==(const committed_offset&, const committed_offset&) = default;
};

// Every committed offset of `group` (OffsetFetch with all topics, by topic
// name: v2..v9), from its coordinator. Partitions with an error or no
// offset are left out; a group the broker does not know has none.
asio::awaitable<result<std::vector<committed_offset>>> fetch_group_offsets(
    cluster& c, int32_t coordinator, const std::string& group, call_options options = {});

// What an admin commit achieved: the partitions committed before the first
// one the coordinator refused (that one's error in `refused`).
struct commit_outcome {
  int64_t committed = 0;
  std::optional<error> refused;
};

// OffsetCommit of `offsets` for `group` without generation or member (the
// broker accepts it only while the group has no members; a refusal because
// it has one is UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, REBALANCE_IN_PROGRESS,
// FENCED_MEMBER_EPOCH or STALE_MEMBER_EPOCH in `refused`). Leader epochs are
// not sent (-1).
asio::awaitable<result<commit_outcome>> commit_group_offsets(
    cluster& c, int32_t coordinator, const std::string& group,
    const std::vector<committed_offset>& offsets, call_options options = {});

// The groups `broker` coordinates (ListGroups answers for its own only).
asio::awaitable<result<std::vector<std::string>>> list_groups(cluster& c, int32_t broker,
                                                              call_options options = {});

struct group_member {
  std::string member_id;
  std::string client_host;
  byte_vector metadata;    // the member's JoinGroup protocol metadata
  byte_vector assignment;  // its SyncGroup assignment (empty while rebalancing)
};

struct group_description {
  std::string state;  // "Stable", "Empty", "Dead" (also for a group the broker does not know), ...
  std::string protocol_type;
  std::vector<group_member> members;
};

// DescribeGroups of one group on its coordinator.
asio::awaitable<result<group_description>> describe_group(cluster& c, int32_t coordinator,
                                                          const std::string& group,
                                                          call_options options = {});

}  // namespace klink::kafka::client
