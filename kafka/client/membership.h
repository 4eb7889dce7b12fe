// The classic group membership protocol, one call per request: JoinGroup,
// SyncGroup, Heartbeat, LeaveGroup. Their error codes are states of the
// protocol (REBALANCE_IN_PROGRESS, UNKNOWN_MEMBER_ID, ...), so each is tried
// once and answered as a klink::error for the member's state machine
// (linker/group_membership.cpp) to act on.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "kafka/asio.h"
#include "kafka/cluster.h"
#include "kafka/error.h"
#include "kafka/protocol/bytes.h"

namespace klink::kafka::client {

struct join_request {
  std::string group_id;
  std::chrono::milliseconds session_timeout{10000};
  std::chrono::milliseconds rebalance_timeout{30000};
  std::string protocol_type;
  std::string protocol_name;
  byte_vector metadata;  // this member's protocol metadata
  std::string reason;    // v5+
};

struct joined_member {
  std::string member_id;
  byte_vector metadata;
};

struct join_result {
  int32_t generation = -1;
  std::string leader;                  // the leader's member id
  std::vector<joined_member> members;  // filled for the leader only
};

// JoinGroup on the coordinator. `member_id` is this member's id ("" the
// first time) and is updated whenever the coordinator names one: JoinGroup
// v4+ first answers MEMBER_ID_REQUIRED with an id, and the call then joins
// again with it (once: a second MEMBER_ID_REQUIRED is returned as the error,
// with `member_id` updated, for the caller to join again).
asio::awaitable<result<join_result>> join_group(cluster& c, int32_t coordinator,
                                                const join_request& request,
                                                std::string& member_id);

struct sync_request {
  std::string group_id;
  int32_t generation = -1;
  std::string member_id;
  std::string protocol_type;
  std::string protocol_name;
  // The leader's assignment: member id -> its blob. Empty for the others.
  std::vector<std::pair<std::string, byte_vector>> assignments;
};

// SyncGroup: this member's assignment blob (empty when it has none).
asio::awaitable<result<byte_vector>> sync_group(cluster& c, int32_t coordinator,
                                                const sync_request& request);

asio::awaitable<result<void>> heartbeat(cluster& c, int32_t coordinator,
                                        const std::string& group_id, int32_t generation,
                                        const std::string& member_id);

// LeaveGroup of this member (v3+ names it in `members`, with the reason).
asio::awaitable<result<void>> leave_group(cluster& c, int32_t coordinator,
                                          const std::string& group_id, const std::string& member_id,
                                          const std::string& reason);

}  // namespace klink::kafka::client
