// Following the source's topics after a mirror is set up: partitions added,
// configs changed, topics deleted or recreated.
#include <algorithm>
#include <numeric>

#include "kafka/client/list_offsets.h"
#include "kafka/client/topics.h"
#include "kafka/error_code.h"
#include "linker/lifecycle.h"
#include "linker/link_context.h"
#include "linker/mirror_topic_config.h"
#include "linker/offset_book.h"
#include "linker/scale_out.h"
#include "linker/topic_follower.h"
#include "log/log.h"
#include "offsets/checkpoint_store.h"

namespace klink::linker {

namespace {
using kafka::error_code;

std::string changes_text(
    const std::map<std::string, std::pair<std::string, std::string>>& changes) {
  std::string out;
  for (const auto& [name, change] : changes) {
    if (!out.empty()) out += ", ";
    out += name + ": " + (change.first.empty() ? "(unset)" : change.first) + " -> " + change.second;
  }
  return out;
}
}  // namespace

asio::awaitable<std::set<std::string>> topic_follower::recorded_source_mirrors() {
  std::set<std::string> out;
  auto loaded = co_await source_states_->load(false);
  if (!loaded) {
    // Prefixes still keep bidirectional links apart; this is the second line.
    log::debug("cannot read klink's state on the source; mirrors there are known by prefix only",
               {{"link", ctx_.name()}, {"error", loaded.error().message()}});
    co_return out;
  }
  // Only mirrors of this link's destination would loop; mirrors of a third
  // cluster may be passed on (a chain A -> B -> C). Records that do not say
  // where they came from (older ones) count as loops, to be safe.
  const std::string& destination_id = ctx_.destination.metadata().cluster_id;
  for (const auto& [key, value] : source_states_->entries()) {
    if (key.starts_with('!')) continue;  // scale-out pause confirmations, not mirrors
    auto record = parse_mirror_record(value);
    if (record && !record->source_cluster_id.empty() && !destination_id.empty() &&
        record->source_cluster_id != destination_id)
      continue;
    // A promoted or failed-over mirror is a topic of its own now: mirroring
    // it back is a failback, not a loop.
    if (record && is_final(record->phase)) continue;
    if (record && !record->mirror_topic.empty()) {
      out.insert(record->mirror_topic);
    } else if (auto slash = key.find('/'); slash != std::string::npos) {
      // Written before mirror names were recorded: the mirror had its source's name.
      out.insert(key.substr(slash + 1));
    }
  }
  co_return out;
}

void topic_follower::stop_for_source(const std::string& topic, std::string state,
                                     std::string reason) {
  auto& problem = source_problems_[topic];
  if (problem.state == state && problem.reason == reason) return;
  problem = {std::move(state), std::move(reason)};
  // Batches in flight are still answered and recorded; nothing more is fetched.
  ctx_.engine.stop_topic(topic);
  mirrored_.erase(topic);
  excluded_.erase(topic);
  log::error("mirror stopped: " + problem.reason, {{"link", ctx_.name()},
                                                   {"topic", topic},
                                                   {"mirror_topic", ctx_.mirror_name(topic)},
                                                   {"state", problem.state}});
}

asio::awaitable<void> topic_follower::note_source_gone(const std::string& topic) {
  // A listing could miss a topic for a moment; ask for it by name.
  const std::vector<std::string> just_this{topic};
  if (auto refreshed = co_await ctx_.source.refresh_metadata(just_this); !refreshed) co_return;
  const auto* meta = ctx_.source.topic(topic);
  if (meta != nullptr && meta->error == 0 && !meta->partitions.empty()) co_return;
  if (meta != nullptr &&
      meta->error != static_cast<int16_t>(error_code::unknown_topic_or_partition))
    co_return;
  stop_for_source(topic, "SOURCE_UNAVAILABLE",
                  "the source topic was deleted; the mirror topic and its data are kept as they "
                  "are (fail the mirror over to use it as a normal topic)");
}

asio::awaitable<void> topic_follower::follow(const std::string& topic,
                                             const kafka::topic_metadata& meta) {
  if (meta.error != 0 || meta.partitions.empty()) co_return;
  const std::string id = meta.topic_id.to_string();
  const auto* record = ctx_.lifecycle->record_of(topic);
  if (record != nullptr && !record->source_topic_id.empty() && record->source_topic_id != id) {
    // A deleted topic never comes back with its id: this is a new topic that
    // shares the name, and its offsets mean nothing to the mirror's map.
    stop_for_source(topic, "FAILED",
                    "SOURCE_TOPIC_RECREATED: the source topic was deleted and created again "
                    "(topic id " +
                        id + ", the mirror copied " + record->source_topic_id +
                        "); the mirror keeps the old topic's data and copies nothing more");
    co_return;
  }
  if (source_problems_.contains(topic)) co_return;
  const auto have = mirror_partition_count(topic);
  const auto now = static_cast<int32_t>(meta.partitions.size());
  if (now < have) {
    stop_for_source(topic, "FAILED",
                    "SOURCE_PARTITIONS_DECREASED: the source topic has " + std::to_string(now) +
                        " partitions, the mirror " + std::to_string(have));
    co_return;
  }
  if (now == have) co_return;
  log::info("source topic has more partitions; adding them to the mirror",
            {{"link", ctx_.name()},
             {"topic", topic},
             {"mirror_topic", ctx_.mirror_name(topic)},
             {"partitions_before", have},
             {"partitions", now}});
  if (auto added = co_await add_partitions(topic, have, now); !added) {
    if (failed_topics_.insert(topic).second) {
      log::error("cannot add the new partitions to the mirror; retrying at the next refresh",
                 {{"link", ctx_.name()}, {"topic", topic}, {"reason", added.error().message()}});
    }
    co_return;
  }
  failed_topics_.erase(topic);
}

asio::awaitable<result<void>> topic_follower::add_partitions(const std::string& topic, int32_t have,
                                                             int32_t now) {
  if (auto ready = co_await ensure_mirror_partitions(topic, now); !ready) co_return ready;
  if (ctx_.scale_out) {
    // Shared by the group: the next rebalance assigns the new partitions.
    ctx_.scale_out->prepare(topic, now);
    co_return ok();
  }
  // New partitions are new in full: mirrored from their start.
  auto starts = co_await client::list_offsets(ctx_.source, topic, client::earliest_timestamp,
                                              client::isolation::read_committed);
  if (!starts) co_return std::unexpected(std::move(starts.error()));
  if (static_cast<int32_t>(starts->size()) < now)
    co_return std::unexpected(
        error(errc::partition_count_changed, {}, "source partition count changed"));
  std::vector<int32_t> added(static_cast<std::size_t>(now - have));
  std::iota(added.begin(), added.end(), have);
  if (auto started = co_await ctx_.book->start_partitions(topic, added, *starts, false); !started)
    co_return started;
  // New partitions follow the topic's pause.
  if (ctx_.lifecycle->phase(topic) == mirror_phase::paused) ctx_.engine.set_paused(topic, true);
  co_return ok();
}

asio::awaitable<result<std::map<std::string, client::topic_configs>>>
topic_follower::describe_configs(kafka::cluster& cluster, const std::vector<std::string>& topics) {
  auto described = co_await client::describe_topic_configs(cluster, topics);
  if (!described) co_return std::unexpected(std::move(described.error()));
  // The topics that answered; an error only when none did.
  std::map<std::string, client::topic_configs> out;
  std::optional<error> first_error;
  for (auto& [topic, configs] : *described) {
    if (configs) {
      out.emplace(topic, std::move(*configs));
    } else if (!first_error) {
      first_error = std::move(configs.error());
    }
  }
  if (out.empty() && first_error) co_return std::unexpected(std::move(*first_error));
  co_return out;
}

void topic_follower::note_config_error(const std::string& key, const std::string& error) {
  auto& last = config_sync_errors_[key];
  if (last == error) return;
  last = error;
  log::warn("cannot sync mirror topic configs; retrying at the next refresh",
            {{"link", ctx_.name()}, {"topic", key}, {"error", error}});
}

asio::awaitable<void> topic_follower::sync_configs() {
  if (ctx_.options.synced_configs.empty()) co_return;
  std::vector<std::string> topics;
  std::vector<std::string> mirrors;
  for (const auto& topic : mirrored_) {
    if (excluded_.contains(topic) || is_stopped(ctx_.lifecycle->phase(topic))) continue;
    topics.push_back(topic);
    mirrors.push_back(ctx_.mirror_name(topic));
  }
  if (topics.empty()) co_return;
  auto source = co_await describe_configs(ctx_.source, topics);
  if (!source) co_return note_config_error("*", source.error().message());
  auto destination = co_await describe_configs(ctx_.destination, mirrors);
  if (!destination) co_return note_config_error("*", destination.error().message());
  config_sync_errors_.erase("*");

  std::map<std::string, client::topic_configs> wanted;  // mirror -> configs to set
  std::map<std::string, std::string> described;         // mirror -> change text, for the log
  std::map<std::string, std::string> source_of;         // mirror -> source topic
  for (std::size_t i = 0; i < topics.size(); ++i) {
    auto s = source->find(topics[i]);
    auto d = destination->find(mirrors[i]);
    if (s == source->end() || d == destination->end()) continue;
    const auto changes =
        config_changes(desired_synced_configs(s->second, ctx_.options.synced_configs), d->second);
    if (changes.empty()) continue;
    for (const auto& [name, change] : changes)
      wanted[mirrors[i]][name] = change.second;
    described[mirrors[i]] = changes_text(changes);
    source_of[mirrors[i]] = topics[i];
  }
  if (wanted.empty()) co_return;
  auto applied = co_await client::set_topic_configs(ctx_.destination, wanted);
  if (!applied) co_return note_config_error("*", applied.error().message());
  for (const auto& [mirror, outcome] : *applied) {
    const std::string& topic = source_of[mirror];
    if (!outcome) {
      note_config_error(topic, outcome.error().message());
      continue;
    }
    config_sync_errors_.erase(topic);
    log::info("mirror topic configs synced from the source", {{"link", ctx_.name()},
                                                              {"topic", topic},
                                                              {"mirror_topic", mirror},
                                                              {"changes", described[mirror]}});
  }
}

}  // namespace klink::linker
