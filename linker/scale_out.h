// The scale-out coordinator of a link ([links.scale_out] enabled): the link
// as one member of its group on the destination cluster. Every instance
// prepares every mirror; each runs only the partitions the group's leader
// assigns it, taking them over exactly and handing them over drained; a
// whole-link promote or failover gathers a mirror's partitions here first
// (README.md in this folder, "Scale-out").
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "kafka/asio.h"
#include "kafka/cluster.h"
#include "kafka/error.h"
#include "linker/group_membership.h"
#include "linker/lifecycle.h"

namespace klink::linker {

struct link_context;

// Lives on the link's executor.
class scale_out_coordinator {
 public:
  explicit scale_out_coordinator(link_context& context);
  ~scale_out_coordinator();

  // After each discovery pass: joins the group the first time, and asks for a
  // rebalance when the shared partitions changed (new mirrors or partitions,
  // a changed selection, a hold that ended).
  void after_discovery();
  // Hands everything over and leaves the group (SIGTERM): the others take
  // the partitions at once instead of after the session timeout.
  asio::awaitable<void> leave();
  void close();
  // Revokes and rejoins at the next opportunity (this instance was fenced:
  // its view of the group is stale).
  void request_rejoin() { membership_->request_rejoin(); }

  // Mirrors set up on the destination (by this instance), by source topic.
  void prepare(const std::string& topic, int32_t partitions);
  void forget(const std::string& topic);
  bool prepared(const std::string& topic) const { return prepared_.contains(topic); }
  int32_t prepared_partitions(const std::string& topic) const;
  std::vector<std::string> prepared_topics() const;
  // Whether this instance runs the partition now (assigned or gathered).
  bool runs(const std::string& topic, int32_t partition) const {
    return running_.contains({topic, partition});
  }
  // Whether a promote/failover of this instance holds the mirror here.
  bool gathered(const std::string& topic) const { return gathered_.contains(topic); }

  // Promote/failover of the whole link: records a hold on the topics, waits
  // for a rebalance to take them from every instance, and starts all their
  // partitions here. Topics that could not be gathered get an outcome in `out`.
  asio::awaitable<std::vector<std::string>> gather(const std::vector<std::string>& topics,
                                                   std::chrono::steady_clock::time_point deadline,
                                                   switch_outcomes& out);
  // After the switch: gathered topics that did not switch go back to the group.
  asio::awaitable<void> return_gathered(const std::vector<std::string>& gathered,
                                        const switch_outcomes& out);

  // Exact pause across instances (scale_out_pause.cpp): records a new pause
  // epoch and waits until every other instance that runs partitions of
  // `topic` confirms it stopped them. Returns the instances that did not by
  // the deadline ("" = all did), or an error when the pause was not recorded.
  asio::awaitable<result<std::string>> confirm_paused(
      const std::string& topic, std::chrono::steady_clock::time_point deadline);

  const group_membership& membership() const { return *membership_; }
  bool membership_started() const { return membership_started_; }
  const std::string& group_id() const { return group_id_; }
  // Every member's share of the whole link as the group coordinator holds it.
  asio::awaitable<result<std::vector<member_share>>> describe_members(std::string* group_state);

 private:
  // The group's partitions: every partition of every prepared mirror, except
  // mirrors excluded, with a source problem, stopped for good, or held.
  std::vector<topic_partition> shared_partitions() const;
  // on_revoked: hands the partitions over (drained, checkpointed, forgotten)
  // and re-reads the state topic, so that the leader assigns from fresh records.
  asio::awaitable<void> hand_over(std::vector<topic_partition> partitions);
  void on_assigned(const std::vector<topic_partition>& assigned, int32_t generation);
  asio::awaitable<void> take_over(std::vector<topic_partition> partitions, int32_t generation,
                                  uint64_t epoch);
  asio::awaitable<result<void>> take_over_topic(const std::string& topic,
                                                const std::vector<int32_t>& partitions);
  // Starts the given partitions of one topic here (checkpoints re-read first).
  asio::awaitable<result<void>> start_here(const std::string& topic,
                                           const std::vector<int32_t>& partitions);
  asio::awaitable<void> release_here(const std::vector<topic_partition>& partitions,
                                     std::chrono::milliseconds deadline);
  asio::awaitable<void> state_poll_loop();
  // scale_out_pause.cpp: confirms the pauses other instances recorded, once
  // this instance's partitions of those mirrors have stopped.
  asio::awaitable<void> confirm_pauses_here();
  // gather.cpp
  std::vector<std::string> holdable(const std::vector<std::string>& topics,
                                    switch_outcomes& out) const;
  asio::awaitable<bool> hold(const std::vector<std::string>& topics,
                             std::chrono::steady_clock::time_point deadline, switch_outcomes& out);
  asio::awaitable<void> scatter(const std::vector<std::string>& topics);

  link_context& ctx_;
  std::string group_id_;
  std::unique_ptr<kafka::cluster> group_cluster_;  // its own connections (long JoinGroups)
  std::unique_ptr<group_membership> membership_;
  bool membership_started_ = false;
  std::map<std::string, int32_t> prepared_;      // mirrors set up: source topic -> partitions
  std::vector<topic_partition> shared_at_join_;  // shared_partitions() when last asked to join
  std::set<topic_partition> running_;            // partitions in the engine (assigned or gathered)
  std::set<std::string> gathered_;               // topics gathered here for a promote/failover
  uint64_t assignment_epoch_ = 0;                // bumped by each revocation
  bool taking_over_ = false;
  int32_t started_generation_ = -1;                 // the generation whose assignment runs here
  std::map<std::string, int64_t> confirmed_pause_;  // topic -> pause epoch confirmed here
};

}  // namespace klink::linker
