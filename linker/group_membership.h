// Scale-out: one instance of a link as a member of the link's group on the
// destination cluster (Kafka's classic group protocol with klink's own
// protocol type). The coordinator elects a leader, the leader assigns the
// link's partitions (linker/partition_assignor.h), and each member learns its
// share. See "Scale-out: group membership" in linker/README.md, which also
// argues why owns_lease() is a sound fencing guard.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "kafka/asio.h"
#include "kafka/cluster.h"
#include "kafka/error.h"
#include "linker/partition_assignor.h"

namespace klink::linker {

struct group_membership_options {
  std::string group_id;
  // host:pid, shown by describe(); not a static group.instance.id.
  std::string instance;
  std::chrono::milliseconds session_timeout{10000};
  // Raised to session_timeout if lower: the lease argument needs it.
  std::chrono::milliseconds rebalance_timeout{30000};
  // Zero: session_timeout / 3.
  std::chrono::milliseconds heartbeat_interval{0};
  // The lease ends this long before the session could: covers the client's
  // and the coordinator's clocks running at slightly different rates. Zero:
  // session_timeout / 5.
  std::chrono::milliseconds lease_margin{0};
  std::chrono::milliseconds retry_backoff{500};
};

struct group_callbacks {
  // Leader only: the partitions the group shares (called at each assignment).
  std::function<std::vector<topic_partition>()> all_partitions;
  // Awaited before (re)joining, with every partition owned so far (eager
  // protocol): the caller stops them and drains their in-flight writes, so
  // no partition is written by its old and its new owner at once.
  std::function<asio::awaitable<void>(const std::vector<topic_partition>& revoked)> on_revoked;
  // After each successful SyncGroup: this member's partitions (oldest first).
  std::function<void(const std::vector<topic_partition>& assigned, int32_t generation)> on_assigned;
};

// One member's share of the link, as the leader assigned it.
struct member_share {
  std::string member_id;
  std::string instance;
  std::string client_host;  // describe() only
  int32_t generation = -1;
  std::vector<topic_partition> partitions;
};

// Lives on its link's single-threaded executor; run(), leave(), describe()
// and request_rejoin() are called there.
//
// `destination` should be a cluster of its own with a request timeout above
// rebalance_timeout: a JoinGroup is answered only when the rebalance
// completes, and a broker serves one request per connection at a time, so a
// shared connection would hold up the link's produce requests meanwhile.
class group_membership {
 public:
  group_membership(kafka::cluster& destination, group_membership_options options,
                   group_callbacks callbacks);

  // Joins, syncs and heartbeats until leave() is called. Never throws.
  asio::awaitable<void> run();
  // Revokes and rejoins at the next opportunity (e.g. the partition set changed).
  void request_rejoin();
  // Revokes everything (awaiting on_revoked), then LeaveGroup, so that the
  // others take the partitions over at once instead of after the session
  // timeout. run() returns after this.
  asio::awaitable<void> leave();

  // True while the member may write to the partitions it was assigned: the
  // last Heartbeat or SyncGroup that the coordinator answered successfully
  // was sent less than session_timeout - lease_margin before `now`.
  bool owns_lease(std::chrono::steady_clock::time_point now) const;

  // Leader only (empty elsewhere): every member's share of the current generation.
  const std::vector<member_share>& members() const { return members_; }
  // Every member's share as the coordinator holds it (DescribeGroups), from
  // any member; the group state is in `state` when given.
  asio::awaitable<result<std::vector<member_share>>> describe(std::string* state = nullptr);

  const std::string& member_id() const { return member_id_; }
  int32_t generation() const { return generation_; }
  bool is_leader() const { return !member_id_.empty() && leader_id_ == member_id_; }
  const std::vector<topic_partition>& owned() const { return owned_; }

 private:
  using clock = std::chrono::steady_clock;

  asio::awaitable<result<void>> discover_coordinator();
  asio::awaitable<void> join_and_sync();
  // After a successful SyncGroup sent at `sync_sent`: this member's share.
  asio::awaitable<void> accept_assignment(const kafka::byte_vector& blob,
                                          clock::time_point sync_sent);
  asio::awaitable<void> heartbeat();
  asio::awaitable<void> revoke_all();
  asio::awaitable<void> pause(std::chrono::milliseconds duration);
  // Forgets the member id: the coordinator no longer knows it.
  void reset_member(const std::string& why);
  void coordinator_lost(const std::string& why);
  void note_error(const std::string& error);

  kafka::cluster& cluster_;
  group_membership_options options_;
  group_callbacks callbacks_;
  // The timer run() sleeps on, if it does: cancelled to wake it early.
  asio::steady_timer* sleeping_ = nullptr;

  std::optional<int32_t> coordinator_;
  std::string member_id_;
  int32_t generation_ = -1;
  std::string leader_id_;
  bool in_group_ = false;  // synced, and no rebalance seen since
  bool rejoin_requested_ = false;
  bool stopping_ = false;
  bool revoking_ = false;
  std::vector<topic_partition> owned_;  // granted and not revoked
  // Reported in JoinGroup metadata for stickiness: the last assignment, even
  // after it was revoked, and its generation.
  std::vector<topic_partition> last_owned_;
  int32_t last_owned_generation_ = -1;
  std::optional<clock::time_point> lease_anchor_;
  std::vector<member_share> members_;
  std::string last_error_;
};

}  // namespace klink::linker
