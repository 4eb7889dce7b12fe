// Following the source's topics after a mirror is set up: partitions added,
// configs changed, topics deleted or recreated, filters changed by a reload.
#include <algorithm>
#include <numeric>

#include "kafka/error_code.h"
#include "kafka/messages/create_partitions.h"
#include "kafka/messages/describe_configs.h"
#include "kafka/messages/incremental_alter_configs.h"
#include "kafka/sleep.h"
#include "linker/error_text.h"
#include "linker/link.h"
#include "linker/list_offsets.h"
#include "linker/mirror_topic_config.h"
#include "linker/resume.h"
#include "linker/tail_producer.h"
#include "log/log.h"

namespace klink::linker {

namespace {
using kafka::error_code;

constexpr int8_t topic_resource = 2;
constexpr int8_t set_config = 0;  // IncrementalAlterConfigs operation SET
// Topics per DescribeConfigs / IncrementalAlterConfigs request.
constexpr std::size_t configs_batch = 200;

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

const link::source_problem* link::source_problem_of(const std::string& topic) const {
  auto it = source_problems_.find(topic);
  return it == source_problems_.end() ? nullptr : &it->second;
}

std::string link::source_topic_named(const std::string& name) const {
  const auto& prefix = options_.topic_prefix;
  if (prefix.empty() || !name.starts_with(prefix)) return name;
  const auto known = mirror_topics();
  if (std::ranges::binary_search(known, name)) return name;
  std::string stripped = name.substr(prefix.size());
  return std::ranges::binary_search(known, stripped) ? stripped : name;
}

void link::update_topic_selection(const link_options& options) {
  options_.topic_filter = options.topic_filter;
  options_.include_patterns = options.include_patterns;
  options_.mirror_prefixes = options.mirror_prefixes;
  options_.synced_configs = options.synced_configs;
  options_.topic_refresh_interval = options.topic_refresh_interval;
  include_patterns_.clear();
  for (const auto& pattern : options_.include_patterns)
    include_patterns_.emplace_back(pattern, std::regex(pattern));
  unmatched_patterns_.clear();
  skipped_mirrors_.clear();
  log::info(
      "topic selection reloaded; applying it now",
      {{"link", options_.name},
       {"refresh_interval_ms", static_cast<int64_t>(options_.topic_refresh_interval.count())}});
  rediscover_now_ = true;
  refresh_timer_.cancel();
}

void link::set_excluded(const std::string& topic, bool excluded) {
  if (excluded) {
    if (!excluded_.insert(topic).second) return;
    engine_.set_paused(topic, true);
    log::info(
        "mirror no longer selected by the topic filters: it stops fetching; its topic, "
        "data and checkpoint stay, and it resumes where it stopped if selected again",
        {{"link", options_.name}, {"topic", topic}, {"mirror_topic", mirror_name(topic)}});
  } else {
    if (excluded_.erase(topic) == 0) return;
    engine_.set_paused(topic, phase(topic) == mirror_phase::paused);
    log::info("mirror selected by the topic filters again: it resumes where it stopped",
              {{"link", options_.name}, {"topic", topic}, {"mirror_topic", mirror_name(topic)}});
  }
}

asio::awaitable<std::set<std::string>> link::recorded_source_mirrors() {
  std::set<std::string> out;
  auto loaded = co_await source_states_.load_if_present();
  if (!loaded) {
    // Prefixes still keep bidirectional links apart; this is the second line.
    log::debug("cannot read klink's state on the source; mirrors there are known by prefix only",
               {{"link", options_.name}, {"error", loaded.error().message()}});
    co_return out;
  }
  // Only mirrors of this link's destination would loop; mirrors of a third
  // cluster may be passed on (a chain A -> B -> C). Records that do not say
  // where they came from (older ones) count as loops, to be safe.
  const std::string& destination_id = destination_.metadata().cluster_id;
  for (const auto& [key, value] : source_states_.entries()) {
    auto record = parse_mirror_record(value);
    if (record && !record->source_cluster_id.empty() && !destination_id.empty() &&
        record->source_cluster_id != destination_id)
      continue;
    if (record && !record->mirror_topic.empty()) {
      out.insert(record->mirror_topic);
    } else if (auto slash = key.find('/'); slash != std::string::npos) {
      // Written before mirror names were recorded: the mirror had its source's name.
      out.insert(key.substr(slash + 1));
    }
  }
  co_return out;
}

void link::stop_for_source(const std::string& topic, std::string state, std::string reason) {
  auto& problem = source_problems_[topic];
  if (problem.state == state && problem.reason == reason) return;
  problem = {std::move(state), std::move(reason)};
  // Batches in flight are still answered and recorded; nothing more is fetched.
  engine_.stop_topic(topic);
  mirrored_.erase(topic);
  excluded_.erase(topic);
  log::error("mirror stopped: " + problem.reason, {{"link", options_.name},
                                                   {"topic", topic},
                                                   {"mirror_topic", mirror_name(topic)},
                                                   {"state", problem.state}});
}

asio::awaitable<void> link::note_source_gone(const std::string& topic) {
  // A listing could miss a topic for a moment; ask for it by name.
  const std::vector<std::string> just_this{topic};
  if (auto refreshed = co_await source_.refresh_metadata(just_this); !refreshed) co_return;
  const auto* meta = source_.topic(topic);
  if (meta != nullptr && meta->error == 0 && !meta->partitions.empty()) co_return;
  if (meta != nullptr &&
      meta->error != static_cast<int16_t>(error_code::unknown_topic_or_partition))
    co_return;
  stop_for_source(topic, "SOURCE_UNAVAILABLE",
                  "the source topic was deleted; the mirror topic and its data are kept as they "
                  "are (fail the mirror over to use it as a normal topic)");
}

asio::awaitable<void> link::follow_source_topic(const std::string& topic,
                                                const kafka::topic_metadata& meta) {
  if (meta.error != 0 || meta.partitions.empty()) co_return;
  const std::string id = meta.topic_id.to_string();
  const auto* record = record_of(topic);
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
            {{"link", options_.name},
             {"topic", topic},
             {"mirror_topic", mirror_name(topic)},
             {"partitions_before", have},
             {"partitions", now}});
  auto fail = [&](const std::string& why) {
    if (failed_topics_.insert(topic).second) {
      log::error("cannot add the new partitions to the mirror; retrying at the next refresh",
                 {{"link", options_.name}, {"topic", topic}, {"reason", why}});
    }
  };
  if (auto ready = co_await ensure_mirror_partitions(topic, now); !ready) {
    fail(ready.error());
    co_return;
  }
  if (membership_) {
    // Shared by the group: the next rebalance assigns the new partitions.
    prepared_[topic] = now;
    failed_topics_.erase(topic);
    co_return;
  }
  // New partitions are new in full: mirrored from their start.
  auto starts = co_await list_offsets(source_, topic, earliest_timestamp, read_committed);
  if (!starts || static_cast<int32_t>(starts->size()) < now) {
    fail(starts ? std::string("source partition count changed") : starts.error());
    co_return;
  }
  std::vector<int32_t> added(static_cast<std::size_t>(now - have));
  std::iota(added.begin(), added.end(), have);
  if (auto started = co_await start_partitions(topic, added, *starts); !started) {
    fail(started.error());
    co_return;
  }
  failed_topics_.erase(topic);
  // New partitions follow the topic's pause.
  if (phase(topic) == mirror_phase::paused) engine_.set_paused(topic, true);
}

int32_t link::mirror_partition_count(const std::string& topic) const {
  if (membership_) {
    auto it = prepared_.find(topic);
    return it == prepared_.end() ? 0 : it->second;
  }
  return static_cast<int32_t>(engine_.partitions_of(topic).size());
}

asio::awaitable<std::expected<void, std::string>> link::start_partitions(
    const std::string& topic, const std::vector<int32_t>& partitions,
    const std::vector<int64_t>& fresh_starts, bool fresh) {
  const int32_t needed = partitions.empty() ? 0 : std::ranges::max(partitions) + 1;
  const std::string mirror = mirror_name(topic);
  const std::vector<std::string> just_mirror{mirror};
  std::expected<std::vector<int64_t>, std::string> destination_ends;
  // A just-created partition's leader may not serve ListOffsets for a moment.
  for (int attempt = 0; attempt < 50 && !stopping_; ++attempt) {
    destination_ends =
        co_await list_offsets(destination_, mirror, latest_timestamp, read_uncommitted);
    if (destination_ends && static_cast<int32_t>(destination_ends->size()) >= needed) break;
    co_await sleep_for(std::chrono::milliseconds(200));
    co_await destination_.refresh_metadata(just_mirror);
  }
  if (!destination_ends)
    co_return std::unexpected("destination offsets: " + destination_ends.error());
  if (static_cast<int32_t>(destination_ends->size()) < needed)
    co_return std::unexpected("the mirror topic lacks partitions");
  if (static_cast<int32_t>(fresh_starts.size()) < needed)
    co_return std::unexpected("the source topic lacks partitions");

  // Where each partition resumes: from its checkpoint (advanced over whatever
  // the destination holds beyond it), or from its fresh start.
  std::vector<offsets::offset_map> resumed;
  std::vector<std::optional<mirror::producer_identity>> producers;
  std::vector<std::pair<std::string, std::string>> initial;
  for (const int32_t p : partitions) {
    const auto i = static_cast<std::size_t>(p);
    const std::string key = offsets::checkpoint_key(options_.name, topic, p);
    const std::string* checkpoint = fresh ? nullptr : checkpoints_.find(key);
    auto map =
        co_await resume_map(source_, topic, p, checkpoint, fresh_starts[i], (*destination_ends)[i]);
    if (!map) co_return std::unexpected("partition " + std::to_string(p) + ": " + map.error());
    // Scale-out: continue the producer that wrote the partition's last
    // batch, so that the destination refuses whoever else still writes as it.
    std::optional<mirror::producer_identity> producer;
    if (membership_) {
      auto last = co_await last_batch_producer(destination_, mirror, p, (*destination_ends)[i]);
      if (!last) co_return std::unexpected("partition " + std::to_string(p) + ": " + last.error());
      producer = *last;
    }
    producers.push_back(producer);
    initial.emplace_back(key, map->serialize());
    resumed.push_back(std::move(*map));
  }
  // The starting point is durable before the first batch is sent, so a crash
  // at any moment after this leaves a checkpoint to resume from.
  if (auto written = co_await checkpoints_.write(initial); !written)
    co_return std::unexpected("cannot write the initial checkpoint: " + written.error().message());
  for (std::size_t n = 0; n < partitions.size(); ++n) {
    const int32_t p = partitions[n];
    auto& map = resumed[n];
    if (map.mirrored_source_offset() != fresh_starts[static_cast<std::size_t>(p)] ||
        map.destination_end_offset() != 0) {
      log::info("mirror partition resumes from its checkpoint",
                {{"link", options_.name},
                 {"topic", topic},
                 {"partition", p},
                 {"source_offset", map.mirrored_source_offset()},
                 {"destination_offset", map.destination_end_offset()}});
    }
    engine_.add_partition(
        mirror::partition_start{.source_topic = topic,
                                .mirror_topic = mirror,
                                .partition = p,
                                .source_offset = map.mirrored_source_offset(),
                                .destination_offset = map.destination_end_offset(),
                                .producer = producers[n]});
    maps_.insert_or_assign({topic, p}, std::move(map));
  }
  co_return std::expected<void, std::string>{};
}

asio::awaitable<std::expected<void, std::string>> link::ensure_mirror_partitions(
    const std::string& topic, int32_t partitions) {
  const std::string mirror = mirror_name(topic);
  const std::vector<std::string> just_mirror{mirror};
  bool asked = false;
  for (int attempt = 0; attempt < 100 && !stopping_; ++attempt) {
    auto refreshed = co_await destination_.refresh_metadata(just_mirror);
    if (!refreshed) co_return std::unexpected("destination metadata: " + refreshed.error().message());
    const auto* meta = destination_.topic(mirror);
    const auto have = meta == nullptr ? 0 : static_cast<int32_t>(meta->partitions.size());
    if (have > partitions) {
      co_return std::unexpected("mirror topic " + mirror + " has " + std::to_string(have) +
                                " partitions, the source has " + std::to_string(partitions));
    }
    if (meta != nullptr && meta->error == 0 && have == partitions &&
        std::ranges::all_of(meta->partitions, [](const auto& p) { return p.leader >= 0; })) {
      co_return std::expected<void, std::string>{};
    }
    if (meta != nullptr && meta->error == 0 && have > 0 && have < partitions && !asked) {
      asked = true;
      using api = kafka::msg::create_partitions_api;
      kafka::msg::create_partitions_request request;
      decltype(request.topics)::value_type t;
      t.name = mirror;
      t.count = partitions;
      t.assignments = std::nullopt;  // the destination places them
      request.topics.push_back(std::move(t));
      request.timeout_ms = 30000;
      auto reply = co_await destination_.send_to_controller<api>(request);
      if (!reply)
        co_return std::unexpected("CreatePartitions on the destination failed: " +
                                  reply.error().message());
      for (const auto& r : reply->body.results) {
        // INVALID_PARTITIONS: it already has them (an earlier attempt won).
        if (r.error_code != 0 &&
            r.error_code != static_cast<int16_t>(error_code::invalid_partitions)) {
          co_return std::unexpected("CreatePartitions on the destination: " +
                                    error_text(r.error_code, r.error_message));
        }
      }
      log::info("mirror topic partitions added", {{"link", options_.name},
                                                  {"topic", topic},
                                                  {"mirror_topic", mirror},
                                                  {"partitions_before", have},
                                                  {"partitions", partitions}});
    }
    co_await sleep_for(std::chrono::milliseconds(100));
  }
  co_return std::unexpected("mirror topic " + mirror + " has no leaders for all " +
                            std::to_string(partitions) + " partitions yet");
}

asio::awaitable<
    std::expected<std::map<std::string, std::map<std::string, std::string>>, std::string>>
link::describe_topic_configs(kafka::cluster& cluster, const std::vector<std::string>& topics) {
  using api = kafka::msg::describe_configs_api;
  std::map<std::string, std::map<std::string, std::string>> out;
  std::string first_error;
  for (std::size_t begin = 0; begin < topics.size(); begin += configs_batch) {
    kafka::msg::describe_configs_request request;
    for (std::size_t i = begin; i < std::min(topics.size(), begin + configs_batch); ++i) {
      decltype(request.resources)::value_type r;
      r.resource_type = topic_resource;
      r.resource_name = topics[i];
      r.configuration_keys = std::nullopt;  // all: the effective values, defaults included
      request.resources.push_back(std::move(r));
    }
    auto reply = co_await cluster.send_any<api>(request);
    if (!reply) {
      co_return std::unexpected("DescribeConfigs on the " + cluster.role() +
                                " failed: " + reply.error().message());
    }
    for (const auto& result : reply->body.results) {
      if (result.error_code != 0) {
        if (first_error.empty()) {
          first_error = "DescribeConfigs on the " + cluster.role() + " for " +
                        result.resource_name + ": " +
                        error_text(result.error_code, result.error_message);
        }
        continue;
      }
      auto& configs = out[result.resource_name];
      for (const auto& c : result.configs) {
        if (c.value) configs[c.name] = *c.value;
      }
    }
  }
  if (out.empty() && !first_error.empty()) co_return std::unexpected(first_error);
  co_return out;
}

asio::awaitable<void> link::sync_topic_configs() {
  if (options_.synced_configs.empty()) co_return;
  std::vector<std::string> topics;
  std::vector<std::string> mirrors;
  for (const auto& topic : mirrored_) {
    if (excluded_.contains(topic) || is_stopped(phase(topic))) continue;
    topics.push_back(topic);
    mirrors.push_back(mirror_name(topic));
  }
  if (topics.empty()) co_return;
  auto note_error = [&](const std::string& key, const std::string& error) {
    auto& last = config_sync_errors_[key];
    if (last == error) return;
    last = error;
    log::warn("cannot sync mirror topic configs; retrying at the next refresh",
              {{"link", options_.name}, {"topic", key}, {"error", error}});
  };
  auto source = co_await describe_topic_configs(source_, topics);
  if (!source) co_return note_error("*", source.error());
  auto destination = co_await describe_topic_configs(destination_, mirrors);
  if (!destination) co_return note_error("*", destination.error());
  config_sync_errors_.erase("*");

  using api = kafka::msg::incremental_alter_configs_api;
  kafka::msg::incremental_alter_configs_request request;
  std::map<std::string, std::string> described;  // mirror -> change text, for the log
  std::map<std::string, std::string> source_of;  // mirror -> source topic
  for (std::size_t i = 0; i < topics.size(); ++i) {
    auto s = source->find(topics[i]);
    auto d = destination->find(mirrors[i]);
    if (s == source->end() || d == destination->end()) continue;
    const auto changes =
        config_changes(desired_synced_configs(s->second, options_.synced_configs), d->second);
    if (changes.empty()) continue;
    decltype(request.resources)::value_type r;
    r.resource_type = topic_resource;
    r.resource_name = mirrors[i];
    for (const auto& [name, change] : changes) {
      decltype(r.configs)::value_type c;
      c.name = name;
      c.config_operation = set_config;
      c.value = change.second;
      r.configs.push_back(std::move(c));
    }
    request.resources.push_back(std::move(r));
    described[mirrors[i]] = changes_text(changes);
    source_of[mirrors[i]] = topics[i];
  }
  if (request.resources.empty()) co_return;
  auto reply = co_await destination_.send_any<api>(request);
  if (!reply) co_return note_error("*", "IncrementalAlterConfigs failed: " + reply.error().message());
  for (const auto& r : reply->body.responses) {
    const std::string& topic = source_of[r.resource_name];
    if (r.error_code != 0) {
      note_error(topic, "IncrementalAlterConfigs on " + r.resource_name + ": " +
                            error_text(r.error_code, r.error_message));
      continue;
    }
    config_sync_errors_.erase(topic);
    log::info("mirror topic configs synced from the source",
              {{"link", options_.name},
               {"topic", topic},
               {"mirror_topic", r.resource_name},
               {"changes", described[r.resource_name]}});
  }
}

}  // namespace klink::linker
