#include "linker/link.h"

#include <numeric>
#include <regex>

#include "kafka/error_code.h"
#include "kafka/messages/create_topics.h"
#include "kafka/messages/describe_configs.h"
#include "linker/error_text.h"
#include "linker/list_offsets.h"
#include "linker/mirror_names.h"
#include "linker/mirror_topic_config.h"
#include "linker/resume.h"
#include "log/log.h"
#include "offsets/checkpoint_store.h"

namespace klink::linker {

namespace {
using asio::use_awaitable;
using clock = std::chrono::steady_clock;
using kafka::error_code;

asio::awaitable<void> sleep_for(asio::any_io_executor ex, clock::duration d) {
  asio::steady_timer timer(ex, d);
  boost::system::error_code ec;
  co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
}

// Scale-out partitions continue the producer of the mirror partition's last
// batch, and a refused sequence means another instance owns the partition.
mirror::mirror_options engine_options(const link_options& options) {
  auto out = options.mirror;
  out.fence_on_sequence_conflict = options.scale_out.enabled;
  return out;
}

}  // namespace

link::link(asio::any_io_executor executor, link_options options)
    : executor_(executor),
      options_(std::move(options)),
      source_(executor, "source", options_.source_bootstrap, options_.source_connection),
      destination_(executor, "destination", options_.destination_bootstrap,
                   options_.destination_connection),
      engine_(executor, source_, destination_, engine_options(options_)),
      checkpoints_(destination_, options_.replication_factor),
      states_(destination_, options_.replication_factor, mirror_state_topic),
      source_states_(source_, -1, mirror_state_topic),
      refresh_timer_(executor),
      checkpoint_timer_(executor) {
  engine_.on_acknowledged([this](const mirror::acknowledgement& ack) { record(ack); });
  // Out of the engine's call chain: stopping the rest of the topic touches
  // other partitions' queues.
  engine_.on_partition_stopped([this](const mirror::partition_mirror& p) {
    if (p.state == mirror::partition_state::diverged)
      asio::post(executor_, [this] { note_divergence(); });
    // Another instance writes to it: this one's view of the group is stale.
    if (p.state == mirror::partition_state::fenced && membership_) membership_->request_rejoin();
  });
  for (const auto& pattern : options_.include_patterns) {
    include_patterns_.emplace_back(pattern, std::regex(pattern));
  }
  if (options_.scale_out.enabled) set_up_scale_out();
  if (options_.sync_consumer_offsets) {
    group_source_ = std::make_unique<kafka::cluster>(executor, "source", options_.source_bootstrap,
                                                     options_.source_connection);
    group_destination_ = std::make_unique<kafka::cluster>(
        executor, "destination", options_.destination_bootstrap, options_.destination_connection);
    group_sync_ = std::make_unique<offsets::group_offset_sync>(
        *group_source_, *group_destination_,
        offsets::group_sync_options{
            options_.name, options_.consumer_groups,
            [this](const std::string& topic) { return mirror_name(topic); }},
        [this](const std::string& topic, int32_t partition,
               int64_t source_offset) -> std::optional<int64_t> {
          auto it = maps_.find({topic, partition});
          if (it == maps_.end()) return std::nullopt;
          return it->second.translate(source_offset);
        },
        // A promoted or failed-over topic's consumers commit on the
        // destination themselves from then on.
        [this](const std::string& topic, int32_t partition) {
          return mirrored_.contains(topic) && !is_final(phase(topic)) &&
                 (!membership_ || running_.contains({topic, partition}));
        });
  }
}

link::~link() = default;

void link::start() {
  asio::co_spawn(executor_, run(), asio::detached);
}

asio::awaitable<bool> link::shutdown(std::chrono::milliseconds deadline) {
  stopping_ = true;
  refresh_timer_.cancel();
  if (group_sync_) group_sync_->stop();
  log::info("link stopping: no new fetches, draining in-flight batches",
            {{"link", options_.name}, {"deadline_ms", static_cast<int64_t>(deadline.count())}});
  // Scale-out: hand everything over and leave the group, so that the other
  // instances take the partitions at once rather than after the session timeout.
  if (membership_ && membership_started_) co_await membership_->leave();
  bool drained = true;
  if (engine_started_) drained = co_await engine_.drain(deadline);
  checkpoint_timer_.cancel();
  co_await persist_pending();
  if (auto written = co_await write_checkpoints(); !written) {
    log::warn("final checkpoint not written; the next start re-reads the destination's tail",
              {{"link", options_.name}, {"error", written.error()}});
  }
  int64_t pending = 0;
  for (const auto& p : engine_.partitions()) {
    pending += static_cast<int64_t>(p->ready.size() + p->in_flight.size());
  }
  for (const auto& p : engine_.partitions()) {
    const auto& c = p->counters;
    log::info("mirror partition summary", {{"link", options_.name},
                                           {"topic", p->source_topic},
                                           {"partition", p->partition},
                                           {"state", mirror::to_string(p->state)},
                                           {"mirrored_source_offset", p->mirrored_source_offset()},
                                           {"batches_produced", c.batches_produced},
                                           {"batches_rebuilt", c.batches_rebuilt},
                                           {"records_produced", c.records_produced},
                                           {"bytes_produced", c.bytes_produced},
                                           {"control_batches_dropped", c.control_batches_dropped},
                                           {"aborted_batches_dropped", c.aborted_batches_dropped},
                                           {"produce_retries", c.produce_retries}});
  }
  if (drained) {
    log::info("link stopped cleanly", {{"link", options_.name}});
  } else {
    log::warn("link stopped with batches not acknowledged; they will be fetched again",
              {{"link", options_.name}, {"pending_batches", pending}});
  }
  source_.close();
  destination_.close();
  if (group_cluster_) group_cluster_->close();
  if (group_sync_) {
    group_source_->close();
    group_destination_->close();
  }
  co_return drained;
}

asio::awaitable<std::expected<std::vector<int64_t>, std::string>> link::source_end_offsets(
    const std::string& topic) {
  co_return co_await list_offsets(source_, topic, latest_timestamp, read_committed);
}

void link::note_reachability(kafka::cluster& cluster, const klink::error* error) {
  const bool reachable = error == nullptr;
  const std::string& role = cluster.role();
  unreachable_error_[role] = reachable ? "" : error->message();
  // Wrong credentials or certificates: retrying cannot help until someone
  // fixes them, so the link says FAILED and why, while retrying with backoff
  // (a rewritten password file or certificate is read on the next attempt).
  std::string failure;
  if (!reachable && error->code == kafka::client_errc::authentication)
    failure = "AUTHENTICATION_FAILED";
  if (!reachable && error->code == kafka::client_errc::tls) failure = "TLS_FAILED";
  if (!failure.empty()) ++authentication_failures_[role];
  auto& last_failure = security_failure_[role];
  const bool failure_changed = last_failure != failure;
  last_failure = failure;

  auto [it, first] = reachable_.try_emplace(role, !reachable);
  if (it->second == reachable && !first && !failure_changed) return;
  it->second = reachable;
  if (reachable) {
    log::info("cluster reachable", {{"link", options_.name},
                                    {"cluster", role},
                                    {"cluster_id", cluster.metadata().cluster_id},
                                    {"brokers", cluster.metadata().brokers.size()}});
  } else if (!failure.empty()) {
    log::error(failure == "TLS_FAILED"
                   ? "TLS to the cluster failed: check ca_file, the broker's certificate and "
                     "host name, and cert_file/key_file; retrying with backoff, no restart needed"
                   : "authentication to the cluster failed: check the SASL mechanism, username "
                     "and password; retrying with backoff, no restart needed",
               {{"link", options_.name},
                {"cluster", role},
                {"reason", failure},
                {"error", error->message()}});
  } else {
    log::warn("cluster unreachable; retrying with backoff",
              {{"link", options_.name}, {"cluster", role}, {"error", error->message()}});
  }
}

asio::awaitable<bool> link::refresh_clusters() {
  bool ok = true;
  for (kafka::cluster* c : {&source_, &destination_}) {
    // The source is listed whole (discovery); the destination only for mirrors.
    std::vector<std::string> names;
    if (c == &destination_) {
      for (const auto& topic : mirrored_)
        names.push_back(mirror_name(topic));
    }
    auto result = co_await c->refresh_metadata(names, c == &source_);
    note_reachability(*c, result ? nullptr : &result.error());
    ok = ok && result.has_value();
  }
  co_return ok;
}

asio::awaitable<void> link::run() {
  int failures = 0;
  while (!stopping_) {
    const bool reached = co_await refresh_clusters();
    // klink's own state lives on the destination: which mirrors were promoted
    // is known (and answered by the admin endpoint) even while the source is down.
    bool loaded = false;
    if (reachable("destination")) loaded = co_await load_checkpoints();
    if (reached && loaded) {
      failures = 0;
      co_await discover_topics();
      refresh_timer_.expires_after(options_.topic_refresh_interval);
    } else {
      ++failures;
      auto delay = std::chrono::milliseconds(500) * (1 << std::min(failures, 5));
      refresh_timer_.expires_after(
          std::min<std::chrono::milliseconds>(delay, std::chrono::seconds(10)));
    }
    if (rediscover_now_) {
      rediscover_now_ = false;
      continue;
    }
    boost::system::error_code ec;
    co_await refresh_timer_.async_wait(asio::redirect_error(use_awaitable, ec));
    rediscover_now_ = false;
  }
}

asio::awaitable<void> link::discover_topics() {
  // Read before deciding anything: a reverse link records a mirror before it
  // creates the topic, so every mirror in the listing just taken is known.
  const auto recorded_mirrors = co_await recorded_source_mirrors();
  // Scale-out: mirrors another instance promoted or failed over.
  if (membership_ && first_discovery_done_) co_await refresh_lifecycle();
  std::set<std::string> matched_patterns;
  // A copy: setting up a mirror refreshes single topics in the live cache.
  const auto listed = source_.metadata().topics;
  if (!first_discovery_done_) {
    for (const auto& [name, meta] : listed)
      first_listing_.insert(name);
  }
  for (const auto& [name, meta] : listed) {
    if (stopping_) co_return;
    // klink's own topics start with "__" like Kafka's internal ones.
    if (meta.is_internal || name.starts_with("__")) continue;
    if (!options_.topic_filter(name)) {
      if (mirrored_.contains(name)) set_excluded(name, true);
      continue;
    }
    for (const auto& [pattern, re] : include_patterns_) {
      if (std::regex_match(name, re)) matched_patterns.insert(pattern);
    }
    if (!mirrored_.contains(name)) {
      if (auto why = mirror_of_a_mirror(name, options_.mirror_prefixes, recorded_mirrors);
          !why.empty()) {
        if (skipped_mirrors_.insert(name).second) {
          log::info("source topic is itself a mirror; it is never mirrored back",
                    {{"link", options_.name}, {"topic", name}, {"reason", why}});
        }
        continue;
      }
    }
    if (excluded_.contains(name)) set_excluded(name, false);
    if (mirrored_.contains(name)) {
      co_await follow_source_topic(name, meta);
      continue;
    }
    // Promoted, failed over or diverged: never written to again. A source
    // problem (deleted, recreated) keeps it stopped too.
    if (is_stopped(phase(name))) continue;
    if (auto problem = source_problems_.find(name); problem != source_problems_.end()) {
      co_await follow_source_topic(name, meta);
      continue;
    }
    if (co_await set_up_mirror(name, first_listing_.contains(name))) {
      mirrored_.insert(name);
      failed_topics_.erase(name);
    }
  }
  // Mirrors whose source topic is no longer listed.
  std::vector<std::string> gone;
  for (const auto& topic : mirrored_) {
    if (!listed.contains(topic)) gone.push_back(topic);
  }
  // And mirrors an earlier run set up whose source topic is gone since.
  for (const auto& [topic, entry] : lifecycle_) {
    if (!is_stopped(entry.record.phase) && !entry.record.source_topic_id.empty() &&
        !mirrored_.contains(topic) && !source_problems_.contains(topic) &&
        options_.topic_filter(topic) && !listed.contains(topic)) {
      gone.push_back(topic);
    }
  }
  for (const auto& topic : gone) {
    if (stopping_) co_return;
    co_await note_source_gone(topic);
  }
  first_discovery_done_ = true;

  for (const auto& pattern : options_.include_patterns) {
    if (matched_patterns.contains(pattern)) {
      unmatched_patterns_.erase(pattern);
    } else if (unmatched_patterns_.insert(pattern).second) {
      log::warn(
          "no source topic matches an include pattern yet; checking again at each refresh",
          {{"link", options_.name},
           {"pattern", pattern},
           {"refresh_interval_ms", static_cast<int64_t>(options_.topic_refresh_interval.count())}});
    }
  }
  if (membership_ && !stopping_) {
    // The leader assigns what it has set up; a change is shared by a rebalance.
    auto shared = shared_partitions();
    if (!membership_started_) {
      membership_started_ = true;
      shared_at_join_ = std::move(shared);
      asio::co_spawn(executor_, membership_->run(), asio::detached);
      asio::co_spawn(executor_, state_poll_loop(), asio::detached);
    } else if (shared != shared_at_join_) {
      // New mirrors or partitions, a changed selection, a hold that ended.
      shared_at_join_ = std::move(shared);
      membership_->request_rejoin();
    }
  }
  if (!engine_started_ && (!mirrored_.empty() || membership_) && !stopping_) {
    engine_.start();
    engine_started_ = true;
    asio::co_spawn(executor_, checkpoint_loop(), asio::detached);
    // Translations need the offset maps, which exist from here on.
    if (group_sync_) {
      asio::co_spawn(executor_, group_sync_->run(options_.consumer_offsets_interval),
                     asio::detached);
    }
  }
  if (!stopping_) co_await sync_topic_configs();
}

asio::awaitable<bool> link::set_up_mirror(const std::string& topic, bool listed_at_start) {
  const std::string mirror = mirror_name(topic);
  auto give_up = [&](const std::string& why) {
    if (failed_topics_.insert(topic).second) {
      log::error(
          "cannot set up mirror topic; retrying at the next topic refresh",
          {{"link", options_.name}, {"topic", topic}, {"mirror_topic", mirror}, {"reason", why}});
    }
    return false;
  };
  // (g++ 12 cannot compile a braced list inside a co_await expression.)
  const std::vector<std::string> just_this_topic{topic};
  const auto* source_meta = source_.topic(topic);
  if (source_meta == nullptr || source_meta->error != 0)
    co_return give_up("source topic not available");
  const auto partitions = static_cast<int32_t>(source_meta->partitions.size());
  const std::string source_id = source_meta->topic_id.to_string();
  if (auto problem = topic_name_problem(mirror); !problem.empty())
    co_return give_up("mirror topic name '" + mirror + "': " + problem);

  // The mirror is recorded before its topic exists: from then on any link
  // reading this cluster's state knows the topic is a mirror.
  auto& entry = lifecycle_[topic];
  if (!entry.record.source_topic_id.empty() && entry.record.source_topic_id != source_id) {
    stop_for_source(topic, "FAILED",
                    "SOURCE_TOPIC_RECREATED: the source topic was deleted and created again "
                    "(topic id " +
                        source_id + ", the mirror copied " + entry.record.source_topic_id +
                        "); the mirror keeps the old topic's data and copies nothing more");
    co_return false;
  }
  // Checkpoints are kept per source topic. A mirror recorded under another
  // name (the link's prefix changed) has checkpoints that describe that
  // topic, not this one: the new mirror starts afresh, the old one stays as it is.
  // Records and checkpoints from before prefixes existed name no mirror
  // topic: that mirror had the source topic's name.
  const std::string recorded_name =
      entry.record.mirror_topic.empty() ? topic : entry.record.mirror_topic;
  const bool mirrored_before =
      !entry.record.source_topic_id.empty() ||
      checkpoints_.find(offsets::checkpoint_key(options_.name, topic, 0)) != nullptr;
  const bool renamed = mirrored_before && recorded_name != mirror;
  if (renamed) {
    log::warn(
        "the link's prefix changed: the mirror starts afresh under its new name; the old "
        "mirror topic is kept as it is and no longer written",
        {{"link", options_.name},
         {"topic", topic},
         {"mirror_topic", mirror},
         {"old_mirror_topic", recorded_name}});
  }
  const std::string& source_cluster = source_.metadata().cluster_id;
  if (entry.record.source_topic_id.empty() || entry.record.mirror_topic != mirror ||
      entry.record.source_cluster_id != source_cluster) {
    entry.record.source_topic_id = source_id;
    entry.record.mirror_topic = mirror;
    entry.record.source_cluster_id = source_cluster;
    const std::vector<std::string> just_this{topic};
    if (auto written = co_await persist(just_this); !written)
      co_return give_up("cannot record the mirror in klink's state: " + written.error());
  }

  auto source_configs = co_await describe_topic_configs(source_, just_this_topic);
  if (!source_configs) co_return give_up(source_configs.error());

  const std::vector<std::string> just_mirror{mirror};
  auto refreshed = co_await destination_.refresh_metadata(just_mirror);
  if (!refreshed) co_return give_up("destination metadata: " + refreshed.error().message());
  const auto* mirror_meta = destination_.topic(mirror);
  if (mirror_meta == nullptr ||
      mirror_meta->error == static_cast<int16_t>(error_code::unknown_topic_or_partition)) {
    using api = kafka::msg::create_topics_api;
    using creatable = decltype(kafka::msg::create_topics_request::topics)::value_type;
    using creatable_config = decltype(creatable::configs)::value_type;
    kafka::msg::create_topics_request request;
    creatable t;
    t.name = mirror;
    t.num_partitions = partitions;
    t.replication_factor = options_.replication_factor;
    for (const auto& [name, value] :
         mirror_topic_configs((*source_configs)[topic], options_.synced_configs)) {
      creatable_config c;
      c.name = name;
      c.value = value;
      t.configs.push_back(std::move(c));
    }
    request.topics.push_back(std::move(t));
    request.timeout_ms = 30000;
    auto reply = co_await destination_.send_to_controller<api>(request);
    if (!reply)
      co_return give_up("CreateTopics on the destination failed: " + reply.error().message());
    for (const auto& result : reply->body.topics) {
      if (result.error_code != 0 &&
          result.error_code != static_cast<int16_t>(error_code::topic_already_exists)) {
        co_return give_up("CreateTopics on the destination: " +
                          error_text(result.error_code, result.error_message));
      }
    }
    log::info("mirror topic created", {{"link", options_.name},
                                       {"topic", topic},
                                       {"mirror_topic", mirror},
                                       {"partitions", partitions}});
  }
  // A source that grew while klink was away grows its mirror too.
  if (auto ready = co_await ensure_mirror_partitions(topic, partitions); !ready)
    co_return give_up(ready.error());

  // Scale-out: each partition is started by the instance it is assigned to.
  if (membership_) {
    prepared_[topic] = partitions;
    log::info("mirror topic ready; its partitions are shared by the link's instances",
              {{"link", options_.name},
               {"topic", topic},
               {"mirror_topic", mirror},
               {"partitions", partitions},
               {"group", group_id_}});
    co_return true;
  }
  auto starts = co_await start_offsets(topic, listed_at_start);
  if (!starts) co_return give_up("source offsets: " + starts.error());
  if (static_cast<int32_t>(starts->size()) != partitions)
    co_return give_up("source partition count changed while setting up; retrying");
  std::vector<int32_t> all(static_cast<std::size_t>(partitions));
  std::iota(all.begin(), all.end(), 0);
  if (auto started = co_await start_partitions(topic, all, *starts, renamed); !started)
    co_return give_up(started.error());
  if (phase(topic) == mirror_phase::paused) {
    log::info("mirror stays paused, as it was when klink stopped",
              {{"link", options_.name}, {"topic", topic}});
    pause(topic);
  }
  const auto mode = listed_at_start ? options_.start : start_position::earliest;
  std::string start_text(mode == start_position::earliest ? "earliest"
                         : mode == start_position::latest ? "latest"
                                                          : "timestamp");
  log::info("mirroring topic", {{"link", options_.name},
                                {"topic", topic},
                                {"mirror_topic", mirror},
                                {"partitions", partitions},
                                {"start", start_text}});
  co_return true;
}

asio::awaitable<std::expected<std::vector<int64_t>, std::string>> link::start_offsets(
    const std::string& topic, bool listed_at_start) {
  const std::vector<std::string> just_this_topic{topic};
  // Where a partition with no checkpoint starts. Topics that appear after
  // the link's first discovery are new in full: from their start.
  auto mode = listed_at_start ? options_.start : start_position::earliest;
  const int64_t start_timestamp = mode == start_position::earliest ? earliest_timestamp
                                  : mode == start_position::latest ? latest_timestamp
                                                                   : options_.start_timestamp_ms;
  // A just-created topic's leaders may not serve ListOffsets for a moment.
  std::expected<std::vector<int64_t>, std::string> starts;
  for (int attempt = 0; attempt < 50 && !stopping_; ++attempt) {
    starts = co_await list_offsets(source_, topic, start_timestamp, read_committed);
    if (starts && mode == start_position::timestamp &&
        std::ranges::any_of(*starts, [](int64_t o) { return o < 0; })) {
      // No record at or after the timestamp: start at the end.
      auto ends = co_await list_offsets(source_, topic, latest_timestamp, read_committed);
      if (ends && ends->size() == starts->size()) {
        for (std::size_t i = 0; i < starts->size(); ++i) {
          if ((*starts)[i] < 0) (*starts)[i] = (*ends)[i];
        }
      } else {
        starts = ends ? std::unexpected(std::string("partition count changed")) : ends;
      }
    }
    if (starts) break;
    co_await sleep_for(executor_, std::chrono::milliseconds(200));
    co_await source_.refresh_metadata(just_this_topic);
  }
  co_return starts;
}

asio::awaitable<bool> link::load_checkpoints() {
  if (checkpoints_loaded_) co_return true;
  // Lifecycle states first: a mirror promoted by an earlier run must be known
  // before discovery could start copying into it.
  for (auto* store : {&states_, &checkpoints_}) {
    auto loaded = co_await store->load();
    if (!loaded) {
      log::warn("cannot read klink's state on the destination; retrying",
                {{"link", options_.name},
                 {"topic", store->topic()},
                 {"error", loaded.error().message()}});
      co_return false;
    }
  }
  load_lifecycle();
  checkpoints_loaded_ = true;
  co_return true;
}

void link::record(const mirror::acknowledgement& ack) {
  auto it = maps_.find({ack.partition.source_topic, ack.partition.partition});
  if (it == maps_.end()) return;
  std::vector<offsets::source_run> runs;
  runs.reserve(ack.source_runs.size());
  for (const auto& r : ack.source_runs)
    runs.push_back({r.source_offset, r.count});
  if (!it->second.record_batch(runs, ack.destination_base_offset, ack.source_last_offset + 1)) {
    log::error("acknowledged batch does not extend the offset map",
               {{"link", options_.name},
                {"topic", ack.partition.source_topic},
                {"partition", ack.partition.partition},
                {"source_offset", ack.source_base_offset},
                {"destination_offset", ack.destination_base_offset}});
  }
}

asio::awaitable<std::expected<void, std::string>> link::write_checkpoints() {
  std::vector<std::pair<std::string, std::string>> entries;
  for (const auto& p : engine_.partitions()) {
    auto it = maps_.find({p->source_topic, p->partition});
    if (it == maps_.end()) continue;
    auto& map = it->second;
    // Control markers and aborted batches after the last acknowledged batch
    // are done with too.
    if (p->mirrored_source_offset() > map.mirrored_source_offset()) {
      map.record_gap(p->mirrored_source_offset());
    }
    if (p->source_log_start_offset > 0) map.trim_below(p->source_log_start_offset);
    std::string value = map.serialize();
    const std::string key = offsets::checkpoint_key(options_.name, p->source_topic, p->partition);
    auto& last = last_written_[key];
    if (last == value) continue;
    entries.emplace_back(key, value);
  }
  auto written = co_await checkpoints_.write(entries);
  if (written) {
    for (auto& [key, value] : entries)
      last_written_[key] = std::move(value);
  }
  if (!written) co_return std::unexpected(written.error().message());
  co_return std::expected<void, std::string>{};
}

asio::awaitable<void> link::checkpoint_loop() {
  bool failing = false;
  while (!stopping_) {
    checkpoint_timer_.expires_after(options_.checkpoint_interval);
    boost::system::error_code ec;
    co_await checkpoint_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (stopping_) break;
    note_divergence();
    co_await persist_pending();
    auto written = co_await write_checkpoints();
    if (!written && !failing) {
      log::warn("cannot write checkpoints; retrying (a restart meanwhile re-reads the tail)",
                {{"link", options_.name}, {"error", written.error()}});
    } else if (written && failing) {
      log::info("checkpoints written again", {{"link", options_.name}});
    }
    failing = !written;
  }
}

}  // namespace klink::linker
