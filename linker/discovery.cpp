// The topic follower's discovery pass and what it knows of the link's topics.
#include <algorithm>

#include "linker/lifecycle.h"
#include "linker/link_context.h"
#include "linker/mirror_names.h"
#include "linker/scale_out.h"
#include "linker/topic_follower.h"
#include "log/log.h"
#include "offsets/checkpoint_store.h"

namespace klink::linker {

topic_follower::topic_follower(link_context& context)
    : ctx_(context),
      source_states_(
          std::make_unique<offsets::checkpoint_store>(context.source, -1, mirror_state_topic)) {
  compile_patterns();
}

topic_follower::~topic_follower() = default;

void topic_follower::compile_patterns() {
  include_patterns_.clear();
  for (const auto& pattern : ctx_.options.include_patterns)
    include_patterns_.emplace_back(pattern, std::regex(pattern));
}

asio::awaitable<void> topic_follower::discover() {
  // Read before deciding anything: a reverse link records a mirror before it
  // creates the topic, so every mirror in the listing just taken is known.
  const auto recorded_mirrors = co_await recorded_source_mirrors();
  std::set<std::string> matched_patterns;
  // A copy: setting up a mirror refreshes single topics in the live cache.
  const auto listed = ctx_.source.metadata().topics;
  if (!first_discovery_done_) {
    for (const auto& [name, meta] : listed)
      first_listing_.insert(name);
  }
  for (const auto& [name, meta] : listed) {
    if (ctx_.stopping) co_return;
    co_await consider(name, meta, recorded_mirrors, matched_patterns);
  }
  co_await notice_gone(listed);
  if (ctx_.stopping) co_return;
  first_discovery_done_ = true;
  note_unmatched(matched_patterns);
}

asio::awaitable<void> topic_follower::consider(const std::string& name,
                                               const kafka::topic_metadata& meta,
                                               const std::set<std::string>& recorded_mirrors,
                                               std::set<std::string>& matched_patterns) {
  // klink's own topics start with "__" like Kafka's internal ones.
  if (meta.is_internal || name.starts_with("__")) co_return;
  if (!ctx_.options.topic_filter(name)) {
    if (mirrored_.contains(name)) set_excluded(name, true);
    co_return;
  }
  for (const auto& [pattern, re] : include_patterns_) {
    if (std::regex_match(name, re)) matched_patterns.insert(pattern);
  }
  if (!mirrored_.contains(name)) {
    if (auto why = mirror_of_a_mirror(name, ctx_.options.mirror_prefixes, recorded_mirrors);
        !why.empty()) {
      if (skipped_mirrors_.insert(name).second) {
        log::info("source topic is itself a mirror; it is never mirrored back",
                  {{"link", ctx_.name()}, {"topic", name}, {"reason", why}});
      }
      co_return;
    }
  }
  if (excluded_.contains(name)) set_excluded(name, false);
  // Promoted, failed over or diverged: never written to again. A source
  // problem (deleted, recreated) keeps it stopped too.
  if (!mirrored_.contains(name) && is_stopped(ctx_.lifecycle->phase(name))) co_return;
  if (mirrored_.contains(name) || source_problems_.contains(name)) {
    co_await follow(name, meta);
    co_return;
  }
  co_await set_up_mirror(name, first_listing_.contains(name));
}

asio::awaitable<void> topic_follower::notice_gone(
    const std::map<std::string, kafka::topic_metadata>& listed) {
  // Mirrors whose source topic is no longer listed.
  std::vector<std::string> gone;
  for (const auto& topic : mirrored_) {
    if (!listed.contains(topic)) gone.push_back(topic);
  }
  // And mirrors an earlier run set up whose source topic is gone since.
  for (const auto& [topic, e] : ctx_.lifecycle->entries()) {
    if (!is_stopped(e.record.phase) && !e.record.source_topic_id.empty() &&
        !mirrored_.contains(topic) && !source_problems_.contains(topic) &&
        ctx_.options.topic_filter(topic) && !listed.contains(topic)) {
      gone.push_back(topic);
    }
  }
  for (const auto& topic : gone) {
    if (ctx_.stopping) co_return;
    co_await note_source_gone(topic);
  }
}

void topic_follower::note_unmatched(const std::set<std::string>& matched_patterns) {
  for (const auto& pattern : ctx_.options.include_patterns) {
    if (matched_patterns.contains(pattern)) {
      unmatched_patterns_.erase(pattern);
    } else if (unmatched_patterns_.insert(pattern).second) {
      log::warn("no source topic matches an include pattern yet; checking again at each refresh",
                {{"link", ctx_.name()},
                 {"pattern", pattern},
                 {"refresh_interval_ms",
                  static_cast<int64_t>(ctx_.options.topic_refresh_interval.count())}});
    }
  }
}

void topic_follower::update_selection(const link_options& options) {
  ctx_.options.topic_filter = options.topic_filter;
  ctx_.options.include_patterns = options.include_patterns;
  ctx_.options.mirror_prefixes = options.mirror_prefixes;
  ctx_.options.synced_configs = options.synced_configs;
  ctx_.options.topic_refresh_interval = options.topic_refresh_interval;
  compile_patterns();
  unmatched_patterns_.clear();
  skipped_mirrors_.clear();
}

void topic_follower::set_excluded(const std::string& topic, bool excluded) {
  if (excluded) {
    if (!excluded_.insert(topic).second) return;
    ctx_.engine.set_paused(topic, true);
    log::info(
        "mirror no longer selected by the topic filters: it stops fetching; its topic, "
        "data and checkpoint stay, and it resumes where it stopped if selected again",
        {{"link", ctx_.name()}, {"topic", topic}, {"mirror_topic", ctx_.mirror_name(topic)}});
  } else {
    if (excluded_.erase(topic) == 0) return;
    ctx_.engine.set_paused(topic, ctx_.lifecycle->phase(topic) == mirror_phase::paused);
    log::info("mirror selected by the topic filters again: it resumes where it stopped",
              {{"link", ctx_.name()}, {"topic", topic}, {"mirror_topic", ctx_.mirror_name(topic)}});
  }
}

void topic_follower::forget(const std::string& topic) {
  mirrored_.erase(topic);
  source_problems_.erase(topic);
  skipped_mirrors_.erase(topic);
  failed_topics_.erase(topic);
}

bool topic_follower::source_has_records(std::string_view key_prefix) const {
  const auto& entries = source_states_->entries();
  auto it = entries.lower_bound(std::string(key_prefix));
  return it != entries.end() && it->first.starts_with(key_prefix);
}

const source_problem* topic_follower::source_problem_of(const std::string& topic) const {
  auto it = source_problems_.find(topic);
  return it == source_problems_.end() ? nullptr : &it->second;
}

int32_t topic_follower::mirror_partition_count(const std::string& topic) const {
  if (ctx_.scale_out) return ctx_.scale_out->prepared_partitions(topic);
  return static_cast<int32_t>(ctx_.engine.partitions_of(topic).size());
}

std::vector<std::string> topic_follower::mirror_topics() const {
  std::set<std::string> topics;
  for (const auto& p : ctx_.engine.partitions()) {
    if (!excluded_.contains(p->source_topic)) topics.insert(p->source_topic);
  }
  // Mirrors whose source topic went away stay listed with that state.
  for (const auto& [topic, problem] : source_problems_)
    topics.insert(topic);
  // Stopped mirrors the filters no longer select stay final, but unlisted.
  for (const auto& [topic, e] : ctx_.lifecycle->entries()) {
    if (is_stopped(e.record.phase) && ctx_.options.topic_filter(topic)) topics.insert(topic);
  }
  // Scale-out: mirrors whose partitions all run on other instances.
  if (ctx_.scale_out) {
    for (const auto& topic : ctx_.scale_out->prepared_topics()) {
      if (!excluded_.contains(topic)) topics.insert(topic);
    }
  }
  return {topics.begin(), topics.end()};
}

std::string topic_follower::source_topic_named(const std::string& name) const {
  const auto& prefix = ctx_.options.topic_prefix;
  if (prefix.empty() || !name.starts_with(prefix)) return name;
  const auto known = mirror_topics();
  if (std::ranges::binary_search(known, name)) return name;
  std::string stripped = name.substr(prefix.size());
  return std::ranges::binary_search(known, stripped) ? stripped : name;
}

}  // namespace klink::linker
