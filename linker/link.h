// A link: two clusters, the topics it mirrors between them, and its mirror engine.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "kafka/asio.h"
#include "kafka/cluster.h"
#include "linker/group_membership.h"
#include "linker/mirror_lifecycle.h"
#include "mirror/mirror_engine.h"
#include "offsets/checkpoint_store.h"
#include "offsets/group_sync.h"
#include "offsets/offset_map.h"

namespace klink::linker {

// Where a mirror starts when it has no checkpoint. Applies to the topics
// found at the link's first discovery; a topic created on the source later is
// new in full and is mirrored from its start.
enum class start_position : uint8_t { earliest, latest, timestamp };

// The source configs kept in sync on mirror topics unless the link names others.
inline const std::vector<std::string> default_synced_configs = {
    "cleanup.policy",        "retention.ms",          "retention.bytes",
    "max.message.bytes",     "min.compaction.lag.ms", "max.compaction.lag.ms",
    "delete.retention.ms",   "segment.bytes",         "segment.ms",
    "message.timestamp.type"};

// Scale-out ([links.scale_out]): several instances of the link share its
// partitions through a group on the destination cluster (linker/README.md,
// "Scale-out").
struct scale_out_options {
  bool enabled = false;
  std::string group_id;  // empty: "klink.<link name>"
  std::chrono::milliseconds session_timeout{10000};
  // Test hook (environment KLINK_SCALE_OUT_UNGUARDED=1): produce even after the
  // lease ran out, so that tests see the destination itself refuse a deposed
  // instance's writes. Never set in production.
  bool unguarded = false;
};

struct link_options {
  std::string name;
  std::vector<kafka::broker_address> source_bootstrap;
  std::vector<kafka::broker_address> destination_bootstrap;
  kafka::connection_options source_connection;
  kafka::connection_options destination_connection;
  // Whole-name topic filter; the daemon builds it from the config.
  std::function<bool(const std::string&)> topic_filter;
  std::vector<std::string> include_patterns;  // for "matches nothing yet" messages only
  start_position start = start_position::earliest;
  int64_t start_timestamp_ms = -1;  // start == timestamp: the first record at or after it
  // Mirror topic name = prefix + source topic name.
  std::string topic_prefix;
  // Source topics starting with one of these are mirrors made by a link into
  // this link's source cluster: never mirrored back (bidirectional links).
  std::vector<std::string> mirror_prefixes;
  // Source topic configs applied to the mirrors at creation and every refresh.
  std::vector<std::string> synced_configs = default_synced_configs;
  int16_t replication_factor = -1;
  // How often source topics are listed: new ones mirrored, configs and
  // partition counts followed, deleted ones noticed.
  std::chrono::milliseconds topic_refresh_interval{30000};
  // How often offset maps are checkpointed to the destination. A crash loses
  // nothing either way (the restart re-reads the destination's tail); shorter
  // means less to re-read.
  std::chrono::milliseconds checkpoint_interval{1000};
  mirror::mirror_options mirror;
  // Consumer-group offset sync to the destination (off unless enabled).
  bool sync_consumer_offsets = false;
  offsets::group_filter consumer_groups;
  std::chrono::milliseconds consumer_offsets_interval{5000};
  scale_out_options scale_out;
};

// How a promote or failover call ended for one topic.
enum class switch_status : uint8_t {
  switched,            // promoted / failed over (now or earlier), and persisted
  unknown_topic,       // the link mirrors no such topic
  conflict,            // its state does not allow it (failed, diverged, ...)
  timed_out,           // the cut was not reached in time; the mirror keeps running
  source_unavailable,  // the cut could not be read; the mirror keeps running
  not_persisted,       // the destination did not record the new state
};

struct switch_outcome {
  switch_status status = switch_status::switched;
  std::string message;      // why it did not switch
  int64_t lag_records = 0;  // records still to mirror when it did not
};

// A consumer group's committed source offset and its destination translation.
struct translated_offset {
  std::string topic;
  int32_t partition = 0;
  int64_t source_offset = -1;
  std::optional<int64_t> destination_offset;  // nullopt: not translatable (yet)
};

// Owns everything of one link; lives on the link's single-threaded executor.
class link {
 public:
  link(asio::any_io_executor executor, link_options options);
  ~link();

  void start();
  // Two-phase stop: stop fetching, drain in-flight produces until `deadline`.
  // True when everything fetched reached the destination.
  asio::awaitable<bool> shutdown(std::chrono::milliseconds deadline);

  const std::string& name() const { return options_.name; }
  const mirror::mirror_engine& engine() const { return engine_; }

  // Read-only status for the admin endpoint (same executor: no locks).
  // Whether the last metadata refresh of "source"/"destination" succeeded,
  // and why not when it did not.
  bool reachable(const std::string& role) const;
  std::string unreachable_reason(const std::string& role) const;
  // Why the link is FAILED as a whole ("AUTHENTICATION_FAILED", "TLS_FAILED":
  // a cluster refuses klink's credentials or certificates), or "".
  std::string failure_reason() const;
  // Failed TLS handshakes and SASL authentications per cluster role, since start.
  uint64_t authentication_failures(const std::string& role) const;
  const kafka::cluster& source() const { return source_; }
  const kafka::cluster& destination() const { return destination_; }
  const std::set<std::string>& mirrored_topics() const { return mirrored_; }
  // The mirror topic's name on the destination.
  std::string mirror_name(const std::string& source_topic) const {
    return options_.topic_prefix + source_topic;
  }
  // Mirrors whose source topic is gone or was replaced: state
  // (SOURCE_UNAVAILABLE or FAILED) and why. They copy nothing more; their
  // data on the destination stays as it is.
  struct source_problem {
    std::string state;
    std::string reason;
  };
  const source_problem* source_problem_of(const std::string& topic) const;
  // The source topic of the mirror the admin endpoint was asked about by
  // either name: the source topic's, or the mirror topic's (with the prefix).
  std::string source_topic_named(const std::string& name) const;
  // A mirror the topic filters no longer select (after a reload): it stops
  // fetching and is not listed; selected again, it resumes where it stopped.
  bool excluded(const std::string& topic) const { return excluded_.contains(topic); }
  // A reloaded config's topic selection (filter, include_patterns,
  // mirror_prefixes, synced_configs, topic_refresh_interval are taken from
  // `options`), applied by a discovery pass that starts now.
  void update_topic_selection(const link_options& options);
  // ACTIVE, PAUSED (every mirror paused), UNAVAILABLE (a cluster unreachable),
  // FAILED (a cluster refuses klink's credentials or certificates, or every
  // mirror partition stopped by an error).
  std::string_view state() const;
  int64_t lag_records() const;
  // Consumer-group partition offsets committed on the destination since
  // start; 0 while consumer-offset sync is off.
  uint64_t consumer_offsets_committed() const;
  // Operator pause/resume of one mirror; false if the link mirrors no such
  // topic. While any topic is paused its source end offsets are polled, so
  // that its lag keeps counting what the source receives.
  bool pause(const std::string& topic);
  bool resume(const std::string& topic);

  // Lifecycle (linker/promotion.cpp). Every topic the link mirrors or once
  // mirrored and stopped for good, in name order.
  std::vector<std::string> mirror_topics() const;
  mirror_phase phase(const std::string& topic) const;
  // The persisted record of a stopped mirror (its result, why it diverged).
  const mirror_record* record_of(const std::string& topic) const;
  // Mirrors each topic up to the source's last stable offsets read now, runs
  // a final consumer-offset sync, persists PROMOTED and stops it for good.
  asio::awaitable<std::map<std::string, switch_outcome>> promote(
      const std::vector<std::string>& topics, std::chrono::milliseconds timeout);
  // Stops each topic at once, syncs consumer offsets from the last known
  // source commits, persists FAILED_OVER.
  asio::awaitable<std::map<std::string, switch_outcome>> failover(
      const std::vector<std::string>& topics, std::chrono::milliseconds timeout);
  // The group's committed source offsets on mirrored topics, translated.
  asio::awaitable<std::expected<std::vector<translated_offset>, std::string>> group_offsets(
      const std::string& group);

  // Scale-out: this instance's membership (null unless [links.scale_out] is
  // enabled), and every member's share of the whole link as the group
  // coordinator holds it (any instance can answer); `group_state` gets the
  // group's state ("Stable", "PreparingRebalance", ...).
  const group_membership* membership() const { return membership_.get(); }
  const std::string& scale_out_group() const { return group_id_; }
  asio::awaitable<std::expected<std::vector<member_share>, std::string>> describe_members(
      std::string* group_state);

 private:
  asio::awaitable<void> run();
  asio::awaitable<bool> refresh_clusters();
  asio::awaitable<void> discover_topics();
  asio::awaitable<bool> set_up_mirror(const std::string& topic, bool listed_at_start);
  // Topic following (linker/topic_sync.cpp).
  asio::awaitable<std::set<std::string>> recorded_source_mirrors();
  asio::awaitable<void> follow_source_topic(const std::string& topic,
                                            const kafka::topic_metadata& meta);
  asio::awaitable<void> note_source_gone(const std::string& topic);
  void stop_for_source(const std::string& topic, std::string state, std::string reason);
  // Where each partition of `topic` starts when it has no checkpoint.
  asio::awaitable<std::expected<std::vector<int64_t>, std::string>> start_offsets(
      const std::string& topic, bool listed_at_start);
  // `fresh_starts` is indexed by partition. `fresh`: ignore checkpoints (they
  // belong to a mirror topic of another name).
  asio::awaitable<std::expected<void, std::string>> start_partitions(
      const std::string& topic, const std::vector<int32_t>& partitions,
      const std::vector<int64_t>& fresh_starts, bool fresh = false);
  // How many partitions the mirror of `topic` has set up (all instances together).
  int32_t mirror_partition_count(const std::string& topic) const;
  asio::awaitable<std::expected<void, std::string>> ensure_mirror_partitions(
      const std::string& topic, int32_t partitions);
  asio::awaitable<void> sync_topic_configs();
  asio::awaitable<
      std::expected<std::map<std::string, std::map<std::string, std::string>>, std::string>>
  describe_topic_configs(kafka::cluster& cluster, const std::vector<std::string>& topics);
  void set_excluded(const std::string& topic, bool excluded);
  void note_reachability(kafka::cluster& cluster, const klink::error* error);
  asio::awaitable<bool> load_checkpoints();
  void record(const mirror::acknowledgement& ack);
  asio::awaitable<std::expected<void, std::string>> write_checkpoints();
  asio::awaitable<void> checkpoint_loop();
  // Lifecycle records (linker/promotion.cpp).
  struct lifecycle_entry {
    mirror_record record;
    bool persisted = true;
  };
  void load_lifecycle();
  void note_divergence();
  asio::awaitable<std::expected<void, std::string>> persist(const std::vector<std::string>& topics);
  asio::awaitable<void> persist_pending();
  void set_phase(const std::string& topic, mirror_phase phase);
  bool promotion_reached(const std::string& topic, const std::vector<int64_t>& cut,
                         std::string& failure) const;
  int64_t remaining(const std::string& topic, const std::vector<int64_t>& cut) const;
  switch_result final_result(const std::string& topic, std::string action,
                             const std::vector<int64_t>* cut) const;
  switch_outcome unknown_topic(const std::string& topic) const;
  switch_outcome already_switched(const std::string& topic, std::string_view action) const;

  asio::any_io_executor executor_;
  link_options options_;
  kafka::cluster source_;
  kafka::cluster destination_;
  mirror::mirror_engine engine_;
  offsets::checkpoint_store checkpoints_;
  offsets::checkpoint_store states_;  // mirror lifecycle records
  // The source cluster's own state topic, read only: mirrors other links made there.
  offsets::checkpoint_store source_states_;
  std::map<std::string, lifecycle_entry> lifecycle_;  // by source topic; absent = active
  bool checkpoints_loaded_ = false;
  // Per (source topic, partition): where every mirrored record landed.
  std::map<std::pair<std::string, int32_t>, offsets::offset_map> maps_;
  std::map<std::string, std::string> last_written_;  // checkpoint key -> value
  // Consumer-group offset sync, null unless enabled. It has connections of
  // its own: a broker answers one request per connection at a time, so on the
  // data path's connections every group request would wait behind a
  // long-polling Fetch.
  std::unique_ptr<kafka::cluster> group_source_;
  std::unique_ptr<kafka::cluster> group_destination_;
  std::unique_ptr<offsets::group_offset_sync> group_sync_;
  asio::steady_timer refresh_timer_;
  asio::steady_timer checkpoint_timer_;
  std::set<std::string> mirrored_;
  std::set<std::string> excluded_;
  std::map<std::string, source_problem> source_problems_;
  std::set<std::string> skipped_mirrors_;  // source topics that are mirrors; logged once
  std::map<std::string, std::string> config_sync_errors_;  // per topic, logged once
  bool first_discovery_done_ = false;
  // Source topics listed by the first discovery: `start` applies to these;
  // later ones are new in full.
  std::set<std::string> first_listing_;
  bool rediscover_now_ = false;               // a reload changed the selection: skip the wait
  std::set<std::string> failed_topics_;       // logged once; retried at each refresh
  std::set<std::string> unmatched_patterns_;  // logged once
  std::vector<std::pair<std::string, std::regex>> include_patterns_;
  std::map<std::string, bool> reachable_;                 // per cluster role, for state-change logs
  std::map<std::string, std::string> unreachable_error_;  // per cluster role, for /readyz
  // Per cluster role: AUTHENTICATION_FAILED / TLS_FAILED while that lasts, else "".
  std::map<std::string, std::string> security_failure_;
  std::map<std::string, uint64_t> authentication_failures_;  // per cluster role, since start
  asio::awaitable<std::expected<std::vector<int64_t>, std::string>> source_end_offsets(
      const std::string& topic);
  asio::awaitable<void> paused_end_offsets_loop();
  bool paused_loop_running_ = false;
  bool engine_started_ = false;
  bool stopping_ = false;

  // Scale-out (linker/scale_out.cpp); all null/empty unless enabled.
  void set_up_scale_out();
  // The group's partitions: every partition of every mirror set up, except
  // mirrors stopped for good or held by an instance promoting them.
  std::vector<topic_partition> shared_partitions() const;
  // on_revoked: hands the partitions over (drained, checkpointed, forgotten)
  // and re-reads the state topic, so that the leader assigns from fresh records.
  asio::awaitable<void> hand_over(std::vector<topic_partition> partitions);
  void on_assigned(const std::vector<topic_partition>& assigned, int32_t generation);
  asio::awaitable<void> take_over(std::vector<topic_partition> partitions, int32_t generation,
                                  uint64_t epoch);
  // Starts the given partitions of one topic here (checkpoints re-read first).
  asio::awaitable<std::expected<void, std::string>> start_here(
      const std::string& topic, const std::vector<int32_t>& partitions);
  asio::awaitable<void> release_here(const std::vector<topic_partition>& partitions,
                                     std::chrono::milliseconds deadline);
  // Re-reads the state topic: mirrors other instances paused, resumed,
  // promoted or failed over.
  asio::awaitable<void> refresh_lifecycle();
  asio::awaitable<void> state_poll_loop();
  // Promote/failover of the whole link: records a hold on the topics, waits
  // for a rebalance to take them from every instance, and starts all their
  // partitions here. Topics that could not be gathered get an outcome in `out`.
  asio::awaitable<std::vector<std::string>> gather(const std::vector<std::string>& topics,
                                                   std::chrono::steady_clock::time_point deadline,
                                                   std::map<std::string, switch_outcome>& out);
  // Gathered topics that did not switch go back to the group.
  asio::awaitable<void> scatter(const std::vector<std::string>& topics);
  asio::awaitable<void> return_gathered(const std::vector<std::string>& gathered,
                                        const std::map<std::string, switch_outcome>& out);

  std::string group_id_;
  std::unique_ptr<kafka::cluster> group_cluster_;  // its own connections (long JoinGroups)
  std::unique_ptr<group_membership> membership_;
  bool membership_started_ = false;
  std::map<std::string, int32_t> prepared_;      // mirrors set up: source topic -> partitions
  std::vector<topic_partition> shared_at_join_;  // shared_partitions() when last asked to join
  bool refreshing_lifecycle_ = false;
  std::set<topic_partition> running_;  // partitions in the engine (assigned or gathered)
  std::set<std::string> gathered_;     // topics gathered here for a promote/failover
  uint64_t assignment_epoch_ = 0;      // bumped by each revocation
  bool taking_over_ = false;
  int32_t started_generation_ = -1;  // the generation whose assignment runs here
};

}  // namespace klink::linker
