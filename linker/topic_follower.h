// The topic follower of a link: which source topics it mirrors and how their
// mirrors follow them. Each discovery pass lists the source, sets up new
// mirrors (state record, CreateTopics, start offsets), follows partition
// counts, notices deleted and recreated source topics, skips mirrors of
// mirrors, and pauses mirrors the filters no longer select; a config pass
// keeps the synced configs equal (README.md in this folder, "Following the
// source").
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kafka/asio.h"
#include "kafka/cluster.h"
#include "kafka/error.h"

namespace klink::offsets {
class checkpoint_store;
}

namespace klink::linker {

struct link_context;
struct link_options;

// A mirror whose source topic is gone or was replaced: it copies nothing more
// and its data stays. Derived at every refresh, not persisted.
struct source_problem {
  std::string state;  // SOURCE_UNAVAILABLE or FAILED
  std::string reason;
};

// Lives on the link's executor.
class topic_follower {
 public:
  explicit topic_follower(link_context& context);
  ~topic_follower();

  // One pass over the source's topics (its metadata was just refreshed whole).
  asio::awaitable<void> discover();
  // Applies the synced configs of every running mirror where they differ.
  asio::awaitable<void> sync_configs();
  // A reloaded config's topic selection (filter, include_patterns,
  // mirror_prefixes, synced_configs, topic_refresh_interval).
  void update_selection(const link_options& options);

  // Records, creates and starts (or, with scale-out, prepares) the mirror of
  // `topic`; false (logged once) when it cannot yet. `listed_at_start`: the
  // link's `start` applies; otherwise the topic is new in full.
  asio::awaitable<bool> set_up_mirror(const std::string& topic, bool listed_at_start);
  // Where each partition of `topic` starts when it has no checkpoint.
  asio::awaitable<result<std::vector<int64_t>>> start_offsets(const std::string& topic,
                                                              bool listed_at_start);
  bool listed_at_start(const std::string& topic) const { return first_listing_.contains(topic); }
  bool first_discovery_done() const { return first_discovery_done_; }

  // Mirrors set up and followed, by source topic.
  const std::set<std::string>& mirrored() const { return mirrored_; }
  // Switched for good (promoted, failed over): no longer followed.
  void stop_following(const std::string& topic) { mirrored_.erase(topic); }
  // Reversed back to this link: set up again at the next discovery pass.
  void forget(const std::string& topic);
  // Whether the source cluster's state topic, as the last discovery pass
  // read it, holds a record whose key starts with `key_prefix`.
  bool source_has_records(std::string_view key_prefix) const;
  // Each topic's effective configs; fails only when no topic could be described.
  asio::awaitable<result<std::map<std::string, std::map<std::string, std::string>>>>
  describe_configs(kafka::cluster& cluster, const std::vector<std::string>& topics);
  // A mirror the filters no longer select (after a reload): it stops
  // fetching and is not listed; selected again, it resumes where it stopped.
  bool excluded(const std::string& topic) const { return excluded_.contains(topic); }
  const source_problem* source_problem_of(const std::string& topic) const;
  // How many partitions the mirror of `topic` has set up (all instances together).
  int32_t mirror_partition_count(const std::string& topic) const;

  // Every topic the link mirrors or once mirrored and stopped for good, in
  // name order.
  std::vector<std::string> mirror_topics() const;
  // The source topic of the mirror asked about by either name: the source
  // topic's, or the mirror topic's (with the prefix).
  std::string source_topic_named(const std::string& name) const;

 private:
  // mirror_setup.cpp
  asio::awaitable<result<void>> record_mirror(const std::string& topic, const std::string& mirror,
                                              bool& renamed);
  asio::awaitable<result<void>> create_mirror_topic(const std::string& topic, int32_t partitions);
  asio::awaitable<result<void>> start_mirror(const std::string& topic, int32_t partitions,
                                             bool listed_at_start, bool fresh);
  asio::awaitable<result<void>> ensure_mirror_partitions(const std::string& topic,
                                                         int32_t partitions);
  // topic_sync.cpp
  asio::awaitable<std::set<std::string>> recorded_source_mirrors();
  asio::awaitable<void> follow(const std::string& topic, const kafka::topic_metadata& meta);
  asio::awaitable<result<void>> add_partitions(const std::string& topic, int32_t have, int32_t now);
  asio::awaitable<void> note_source_gone(const std::string& topic);
  void stop_for_source(const std::string& topic, std::string state, std::string reason);
  void set_excluded(const std::string& topic, bool excluded);
  void note_config_error(const std::string& key, const std::string& error);
  // discovery.cpp
  asio::awaitable<void> consider(const std::string& name, const kafka::topic_metadata& meta,
                                 const std::set<std::string>& recorded_mirrors,
                                 std::set<std::string>& matched_patterns);
  asio::awaitable<void> notice_gone(const std::map<std::string, kafka::topic_metadata>& listed);
  void note_unmatched(const std::set<std::string>& matched_patterns);
  void compile_patterns();

  link_context& ctx_;
  // The source cluster's own state topic, read only: mirrors other links made there.
  std::unique_ptr<offsets::checkpoint_store> source_states_;
  std::set<std::string> mirrored_;
  std::set<std::string> excluded_;
  std::map<std::string, source_problem> source_problems_;
  bool first_discovery_done_ = false;
  // Source topics listed by the first discovery: `start` applies to these;
  // later ones are new in full.
  std::set<std::string> first_listing_;
  // Logged once each.
  std::set<std::string> skipped_mirrors_;  // source topics that are mirrors
  std::set<std::string> failed_topics_;    // retried at each refresh
  std::set<std::string> unmatched_patterns_;
  std::map<std::string, std::string> config_sync_errors_;  // per topic
  std::vector<std::pair<std::string, std::regex>> include_patterns_;
};

}  // namespace klink::linker
