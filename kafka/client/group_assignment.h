// klink's own classic-group protocol: the blobs its members exchange through
// the group coordinator (JoinGroup metadata, SyncGroup assignments). JSON with
// a version, so that members of different klink releases can share a group
// (see "Scale-out: group membership" in linker/README.md). The assignment
// algorithm that fills them in is linker/partition_assignor.h.
// Pure functions: no I/O, no state, any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kafka/error.h"
#include "kafka/protocol/bytes.h"

namespace klink::kafka::client {

using topic_partition = std::pair<std::string, int32_t>;

// klink's own classic-group protocol (Kafka Connect uses "connect"); a
// consumer group of the same id would be refused (INCONSISTENT_GROUP_PROTOCOL).
inline constexpr std::string_view group_protocol_type = "klink";
inline constexpr std::string_view group_protocol_name = "klink-sticky-v1";
// Version written into both blobs; readers accept any version >= 1 and ignore
// fields they do not know, so a newer member can join an older leader's group.
inline constexpr int blob_version = 1;

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

// Decoding fails with klink::errc::corrupt_data (never throws).
byte_vector encode_member_metadata(const member_metadata& metadata);
result<member_metadata> decode_member_metadata(bytes_view blob);
byte_vector encode_member_assignment(const member_assignment& assignment);
result<member_assignment> decode_member_assignment(bytes_view blob);

}  // namespace klink::kafka::client
