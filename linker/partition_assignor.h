// Scale-out: which instance of a link mirrors which partitions. The group
// leader runs assign_partitions() over what every member reported in its
// JoinGroup metadata; the blobs exchanged through the group coordinator are
// encoded here (see "Scale-out: group membership" in linker/README.md).
// Pure functions: no I/O, no state, any thread.
#pragma once

#include <cstdint>
#include <expected>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kafka/protocol/bytes.h"

namespace klink::linker {

using topic_partition = std::pair<std::string, int32_t>;

// klink's own classic-group protocol (Kafka Connect uses "connect"); a
// consumer group of the same id would be refused (INCONSISTENT_GROUP_PROTOCOL).
inline constexpr std::string_view group_protocol_type = "klink";
inline constexpr std::string_view group_protocol_name = "klink-sticky-v1";
// Version written into both blobs; readers accept any version >= 1 and ignore
// fields they do not know, so a newer member can join an older leader's group.
inline constexpr int blob_version = 1;

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

// JoinGroup protocol metadata of one member.
struct member_metadata {
  std::string instance;  // host:pid, for people
  int32_t generation = -1;
  std::vector<topic_partition> owned;
  friend bool operator==(const member_metadata&, const member_metadata&) = default;
};

// SyncGroup assignment of one member.
struct member_assignment {
  int32_t generation = -1;
  std::string leader;  // the leader's member id
  std::vector<topic_partition> partitions;
  friend bool operator==(const member_assignment&, const member_assignment&) = default;
};

kafka::byte_vector encode_member_metadata(const member_metadata& metadata);
std::expected<member_metadata, std::string> decode_member_metadata(kafka::bytes_view blob);
kafka::byte_vector encode_member_assignment(const member_assignment& assignment);
std::expected<member_assignment, std::string> decode_member_assignment(kafka::bytes_view blob);

}  // namespace klink::linker
