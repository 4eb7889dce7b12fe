// Mirror records, divergence and pause/resume; promote.cpp and failover.cpp
// hold the switches.
#include "linker/lifecycle.h"

#include "kafka/client/list_offsets.h"
#include "kafka/sleep.h"
#include "linker/link_context.h"
#include "linker/scale_out.h"
#include "linker/topic_follower.h"
#include "log/log.h"
#include "offsets/checkpoint_store.h"

namespace klink::linker {

namespace {
using mirror::partition_state;

// How often a paused topic's source end offsets are read: its lag must keep
// counting what producers write while nothing is fetched.
constexpr std::chrono::seconds paused_poll_interval{1};
constexpr std::chrono::milliseconds poll_interval{20};
}  // namespace

mirror_lifecycle::mirror_lifecycle(link_context& context)
    : ctx_(context),
      states_(std::make_unique<offsets::checkpoint_store>(
          context.destination, context.options.replication_factor, mirror_state_topic)) {}

mirror_lifecycle::~mirror_lifecycle() = default;

asio::awaitable<result<void>> mirror_lifecycle::load(bool create) {
  auto loaded = co_await states_->load(create);
  if (!loaded) co_return loaded;
  const std::string prefix = ctx_.name() + "/";
  for (const auto& [key, value] : states_->entries()) {
    if (!key.starts_with(prefix)) continue;
    const std::string topic = key.substr(prefix.size());
    auto record = parse_mirror_record(value);
    if (!record) {
      // Unreadable means unknown: mirroring it could write into a promoted
      // topic, so it is treated as diverged until an operator fails it over.
      const std::string where = states_->location_of(key);
      log::error("unreadable mirror state record; the mirror stays stopped",
                 {{"link", ctx_.name()},
                  {"topic", topic},
                  {"state_topic", states_->topic()},
                  {"record", where},
                  {"error", record.error().message()}});
      mirror_record unreadable;
      unreadable.phase = mirror_phase::diverged;
      unreadable.reason = "unreadable state record at " + where + " (key " + key +
                          "): " + record.error().message() +
                          "; the mirror copies nothing until it is readable (restore it with the "
                          "klink that wrote it, or fail the mirror over)";
      entries_[topic] = {std::move(unreadable), true};
      continue;
    }
    if (is_stopped(record->phase)) {
      log::info("mirror stopped for good by an earlier run; it is not mirrored",
                {{"link", ctx_.name()},
                 {"topic", topic},
                 {"state", to_string(record->phase)},
                 {"reason", record->reason}});
    }
    entries_[topic] = {std::move(*record), true};
  }
  co_return ok();
}

asio::awaitable<void> mirror_lifecycle::refresh() {
  // One re-read at a time; a caller that finds one running reads again after
  // it, so what it sees is at least as new as its call.
  while (refreshing_)
    co_await sleep_for(poll_interval);
  refreshing_ = true;
  auto loaded = co_await states_->load();
  refreshing_ = false;
  if (!loaded) {
    log::warn("cannot re-read klink's state on the destination",
              {{"link", ctx_.name()}, {"error", loaded.error().message()}});
    co_return;
  }
  const std::string prefix = ctx_.name() + "/";
  for (const auto& [key, value] : states_->entries()) {
    if (!key.starts_with(prefix)) continue;
    auto record = parse_mirror_record(value);
    if (!record) continue;  // load() reported it at start
    adopt(key.substr(prefix.size()), std::move(*record));
  }
}

void mirror_lifecycle::adopt(const std::string& topic, mirror_record record) {
  // Being promoted here, or changed here and not yet written: this
  // instance's copy is the newer one.
  if (ctx_.scale_out && ctx_.scale_out->gathered(topic)) return;
  auto& e = entries_[topic];
  if (!e.persisted || e.record.phase == mirror_phase::promoting) return;
  const bool was_stopped = is_stopped(e.record.phase);
  e.record = std::move(record);
  // Paused or resumed through another instance.
  const bool paused = e.record.phase == mirror_phase::paused;
  const auto here = ctx_.engine.partitions_of(topic);
  if (!here.empty() && here.front()->paused != paused) {
    if (paused) {
      pause(topic);
    } else if (e.record.phase == mirror_phase::active) {
      resume(topic);
    }
    e.persisted = true;  // as recorded: nothing to write back
  }
  if (!was_stopped && is_final(e.record.phase)) {
    ctx_.follower->stop_following(topic);
    if (ctx_.scale_out) ctx_.scale_out->forget(topic);
    log::info("mirror switched by another instance of the link; not mirrored here any more",
              {{"link", ctx_.name()}, {"topic", topic}, {"state", to_string(e.record.phase)}});
  }
}

mirror_phase mirror_lifecycle::phase(const std::string& topic) const {
  auto it = entries_.find(topic);
  return it == entries_.end() ? mirror_phase::active : it->second.record.phase;
}

const mirror_record* mirror_lifecycle::record_of(const std::string& topic) const {
  auto it = entries_.find(topic);
  return it == entries_.end() ? nullptr : &it->second.record;
}

mirror_record& mirror_lifecycle::record(const std::string& topic) {
  return entries_[topic].record;
}

void mirror_lifecycle::set_phase(const std::string& topic, mirror_phase phase) {
  auto& e = entries_[topic];
  e.record.phase = phase;
  if (phase != mirror_phase::promoting) e.persisted = false;
}

asio::awaitable<result<void>> mirror_lifecycle::persist(const std::vector<std::string>& topics) {
  std::vector<std::pair<std::string, std::string>> records;
  for (const auto& topic : topics) {
    auto it = entries_.find(topic);
    if (it == entries_.end()) continue;
    records.emplace_back(mirror_state_key(ctx_.name(), topic), serialize(it->second.record));
  }
  if (records.empty()) co_return ok();
  auto written = co_await states_->write(records);
  if (!written) co_return written;
  for (const auto& topic : topics) {
    if (auto it = entries_.find(topic); it != entries_.end()) it->second.persisted = true;
  }
  co_return ok();
}

asio::awaitable<void> mirror_lifecycle::persist_pending() {
  std::vector<std::string> pending;
  for (const auto& [topic, e] : entries_) {
    if (!e.persisted && e.record.phase != mirror_phase::promoting) pending.push_back(topic);
  }
  if (pending.empty()) co_return;
  if (auto written = co_await persist(pending); !written) {
    log::warn("cannot record mirror states on the destination; retrying",
              {{"link", ctx_.name()},
               {"topic", std::string(mirror_state_topic)},
               {"error", written.error().message()}});
  }
}

void mirror_lifecycle::note_divergence() {
  bool noted = false;
  for (const auto& p : ctx_.engine.partitions()) {
    if (p->state != partition_state::diverged) continue;
    const auto current = phase(p->source_topic);
    if (current == mirror_phase::diverged || is_final(current)) continue;
    // The whole mirror stops: its other partitions may be written too.
    set_phase(p->source_topic, mirror_phase::diverged);
    entries_[p->source_topic].record.reason =
        "partition " + std::to_string(p->partition) + ": " + p->failure->message();
    ctx_.engine.stop_topic(p->source_topic);
    log::error(
        "mirror diverged: the destination topic was written by something else; "
        "the mirror is stopped (fail it over to make it a normal topic)",
        {{"link", ctx_.name()},
         {"topic", p->source_topic},
         {"partition", p->partition},
         {"reason", p->failure->message()}});
    noted = true;
  }
  // Recorded now rather than at the next checkpoint: a restart right after
  // must not resume copying into that topic.
  if (noted) asio::co_spawn(ctx_.executor, persist_pending(), asio::detached);
}

bool mirror_lifecycle::pause(const std::string& topic) {
  // Scale-out: the record reaches the instances that run its partitions.
  const bool prepared = ctx_.scale_out && ctx_.scale_out->prepared(topic);
  if (!ctx_.engine.set_paused(topic, true) && !prepared) return false;
  if (phase(topic) == mirror_phase::active) set_phase(topic, mirror_phase::paused);
  log::info("mirror paused", {{"link", ctx_.name()}, {"topic", topic}});
  if (!paused_loop_running_) {
    paused_loop_running_ = true;
    asio::co_spawn(ctx_.executor, paused_end_offsets_loop(), asio::detached);
  }
  return true;
}

bool mirror_lifecycle::resume(const std::string& topic) {
  const bool prepared = ctx_.scale_out && ctx_.scale_out->prepared(topic);
  if (!ctx_.engine.set_paused(topic, false) && !prepared) return false;
  if (phase(topic) == mirror_phase::paused) set_phase(topic, mirror_phase::active);
  log::info("mirror resumed", {{"link", ctx_.name()}, {"topic", topic}});
  return true;
}

asio::awaitable<void> mirror_lifecycle::paused_end_offsets_loop() {
  while (!ctx_.stopping) {
    std::set<std::string> paused;
    for (const auto& p : ctx_.engine.partitions()) {
      if (p->paused && !ctx_.follower->excluded(p->source_topic)) paused.insert(p->source_topic);
    }
    if (paused.empty()) break;
    for (const auto& topic : paused) {
      auto ends = co_await client::list_offsets(ctx_.source, topic, client::latest_timestamp,
                                                client::isolation::read_committed);
      if (!ends) continue;  // the next round retries; the lag keeps its last value
      // The engine's fetch responses write these fields while the topic is
      // fetched; while it is paused nothing else does, and everything runs on
      // this one executor.
      for (auto* p : ctx_.engine.partitions_of(topic)) {
        if (!p->paused || p->partition < 0 ||
            static_cast<std::size_t>(p->partition) >= ends->size())
          continue;
        p->source_last_stable_offset = (*ends)[static_cast<std::size_t>(p->partition)];
      }
    }
    co_await sleep_for(paused_poll_interval);
  }
  paused_loop_running_ = false;
}

}  // namespace klink::linker
