// Scale-out: which instance of a link mirrors which partitions. The group
// leader runs assign_partitions() over what every member reported in its
// JoinGroup metadata; the blobs exchanged through the group coordinator are
// kafka/client/group_assignment.h (see "Scale-out: group membership" in
// linker/README.md). Pure functions: no I/O, no state, any thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "kafka/client/group_assignment.h"

namespace klink::linker {

// The blobs' names as linker code has always spelled them.
using kafka::client::blob_version;
using kafka::client::decode_member_assignment;
using kafka::client::decode_member_metadata;
using kafka::client::encode_member_assignment;
using kafka::client::encode_member_metadata;
using kafka::client::group_protocol_name;
using kafka::client::group_protocol_type;
using kafka::client::member_assignment;
using kafka::client::member_metadata;
using kafka::client::topic_partition;

// One member as the leader sees it in the JoinGroup response.
struct member_subscription {
  std::string member_id;
  // What the member owned before this rebalance, oldest first, and in which
  // generation.
  std::vector<topic_partition> owned;
  int32_t owned_generation = -1;
};

// member id -> its partitions: those it keeps in the order it reported them
// (oldest first), then the new ones sorted. Every member has an entry.
using assignment_map = std::map<std::string, std::vector<topic_partition>>;

// Balanced (partition counts differ by at most one), sticky (a member keeps
// what it owned as far as the balance allows, dropping its most recently
// acquired partitions first, so that after a member leaves and comes back the
// others give back what they took over and keep what they had; when two
// members claim a partition the claim of the newer generation wins, then the
// smaller member id), and deterministic (the result depends only on the
// members' reports and the set of partitions, not on the order of `members`
// or `partitions`). Owned partitions no longer in `partitions` are dropped.
assignment_map assign_partitions(std::vector<member_subscription> members,
                                 std::vector<topic_partition> partitions);

}  // namespace klink::linker
