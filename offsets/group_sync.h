// Consumer-group offset sync: copies the committed offsets of source consumer
// groups to the destination, translated through the link's offset maps, so a
// consumer that fails over to the destination resumes exactly where it
// stopped (no record re-read, none skipped).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kafka/asio.h"
#include "kafka/client/groups.h"
#include "kafka/cluster.h"
#include "kafka/error.h"
#include "offsets/group_filter.h"

namespace klink::offsets {

// A consumer group's committed offset of one partition.
using committed_offset = kafka::client::committed_offset;

using translate_fn = std::function<std::optional<int64_t>(
    const std::string& topic, int32_t partition, int64_t source_offset)>;
// Whether this instance mirrors the partition (scale-out: each instance
// commits only the partitions it runs).
using mirrored_fn = std::function<bool(const std::string& topic, int32_t partition)>;
// A mirror topic's name on the destination, given its source topic's.
using rename_fn = std::function<std::string(const std::string& topic)>;

struct commit_plan {
  std::vector<committed_offset> commits;  // destination offsets to commit
  int64_t untranslatable = 0;             // mirrored partitions the maps cannot answer yet
  int64_t up_to_date = 0;                 // already at (or past) the translated offset
};

// What to commit on the destination for one group, given its source offsets
// and what the destination group already has. The destination group only
// moves forward: a consumer that already read further there (after a
// failover, say) must not be sent back to re-read.
commit_plan plan_commits(const std::vector<committed_offset>& source,
                         const std::vector<committed_offset>& destination,
                         const translate_fn& translate, const mirrored_fn& is_mirrored,
                         const rename_fn& mirror_topic = {});

// A group's committed offsets on every topic (FindCoordinator, OffsetFetch);
// empty when the cluster knows no such group.
asio::awaitable<result<std::vector<committed_offset>>> fetch_committed_offsets(
    kafka::cluster& cluster, const std::string& group);

// Classic group states in which no member holds partitions.
bool group_is_inactive(std::string_view state);

struct sync_result {
  int64_t groups_listed = 0;   // on the source, across all brokers
  int64_t groups_matched = 0;  // passed the filter
  int64_t groups_synced = 0;   // destination now holds the translated offsets
  int64_t groups_skipped_active = 0;
  int64_t groups_failed = 0;
  int64_t partitions_committed = 0;
  int64_t partitions_untranslatable = 0;
  // One per failed group, or for the listing: text, because the result is
  // written into HTTP answers and persisted records as it is.
  std::vector<std::string> errors;
};

struct group_sync_options {
  std::string link_name;
  group_filter groups;
  rename_fn mirror_topic;  // empty: mirrors carry their source topic's name
};

// Periodically translates and commits source group offsets on the destination,
// through the client layer's group calls (kafka/client/groups.h).
// Lives on its link's single-threaded executor. It refreshes the clusters'
// broker lists (never their topics) at each pass, so it may be given clusters
// of its own.
class group_offset_sync {
 public:
  group_offset_sync(kafka::cluster& source, kafka::cluster& destination, group_sync_options options,
                    translate_fn translate, mirrored_fn is_mirrored);

  // One pass over every matching source group. Never throws; failures are in
  // the result (and logged once per change of a group's state).
  asio::awaitable<sync_result> sync_once();

  // One pass over the groups whose source offsets earlier passes read,
  // without asking the source (it may be down: a failover): their last known
  // commits, translated through today's offset maps.
  asio::awaitable<sync_result> sync_known();

  // Partition offsets committed on the destination since start.
  uint64_t partitions_committed_total() const { return partitions_committed_total_; }

  // sync_once() every `interval` until stop().
  asio::awaitable<void> run(std::chrono::milliseconds interval);
  void stop();

 private:
  struct group_outcome;
  asio::awaitable<group_outcome> sync_group(const std::string& group);
  asio::awaitable<group_outcome> commit_translated(const std::string& group,
                                                   const std::vector<committed_offset>& source);
  static void tally(sync_result& result, const std::string& group, const group_outcome& outcome);
  void note_group(const std::string& group, const group_outcome& outcome);
  void note_listing(const std::string& error);

  kafka::cluster& source_;
  kafka::cluster& destination_;
  group_sync_options options_;
  translate_fn translate_;
  mirrored_fn is_mirrored_;
  std::optional<asio::steady_timer> timer_;
  bool stopped_ = false;
  // Last logged state per group ("synced", "active: Stable", "failed: ..."),
  // so that each change is logged once and a steady state not at all.
  std::map<std::string, std::string> group_states_;
  std::string listing_state_;
  // Each group's source commits as last read, for sync_known().
  std::map<std::string, std::vector<committed_offset>> known_source_offsets_;
  uint64_t partitions_committed_total_ = 0;
};

}  // namespace klink::offsets
