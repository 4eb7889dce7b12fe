// A mirror's lifecycle: promote, failover, divergence, and their durable
// records in the state topic on the destination (see linker/README.md).
#include <algorithm>

#include "kafka/sleep.h"
#include "linker/link.h"
#include "linker/list_offsets.h"
#include "log/log.h"

namespace klink::linker {

namespace {
using clock = std::chrono::steady_clock;
using mirror::partition_state;

// How often a promotion looks whether its mirrors reached their cut.
constexpr std::chrono::milliseconds poll_interval{20};
// A failover waits at most this long for batches already in flight, so that
// their offsets are recorded; whatever is still unanswered then is abandoned.
constexpr std::chrono::milliseconds failover_drain_max{5000};

int64_t wall_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t end_offset(const mirror::partition_mirror& p) {
  return p.source_last_stable_offset >= 0 ? p.source_last_stable_offset : p.source_high_watermark;
}
}  // namespace

std::vector<std::string> link::mirror_topics() const {
  std::set<std::string> topics;
  for (const auto& p : engine_.partitions()) {
    if (!excluded_.contains(p->source_topic)) topics.insert(p->source_topic);
  }
  // Mirrors whose source topic went away stay listed with that state.
  for (const auto& [topic, problem] : source_problems_)
    topics.insert(topic);
  // Stopped mirrors the filters no longer select stay final, but unlisted.
  for (const auto& [topic, entry] : lifecycle_) {
    if (is_stopped(entry.record.phase) && options_.topic_filter(topic)) topics.insert(topic);
  }
  // Scale-out: mirrors whose partitions all run on other instances.
  for (const auto& [topic, count] : prepared_) {
    if (!excluded_.contains(topic)) topics.insert(topic);
  }
  return {topics.begin(), topics.end()};
}

mirror_phase link::phase(const std::string& topic) const {
  auto it = lifecycle_.find(topic);
  return it == lifecycle_.end() ? mirror_phase::active : it->second.record.phase;
}

const mirror_record* link::record_of(const std::string& topic) const {
  auto it = lifecycle_.find(topic);
  return it == lifecycle_.end() ? nullptr : &it->second.record;
}

void link::set_phase(const std::string& topic, mirror_phase phase) {
  auto& entry = lifecycle_[topic];
  entry.record.phase = phase;
  // A promotion in progress is never written: a crash must leave it active.
  if (phase != mirror_phase::promoting) entry.persisted = false;
}

void link::load_lifecycle() {
  const std::string prefix = options_.name + "/";
  for (const auto& [key, value] : states_.entries()) {
    if (!key.starts_with(prefix)) continue;
    const std::string topic = key.substr(prefix.size());
    auto record = parse_mirror_record(value);
    if (!record) {
      // Unreadable means unknown: mirroring it could write into a promoted
      // topic, so it is treated as diverged until an operator fails it over.
      log::error("unreadable mirror state record; the mirror stays stopped",
                 {{"link", options_.name}, {"topic", topic}, {"error", record.error()}});
      mirror_record unreadable;
      unreadable.phase = mirror_phase::diverged;
      unreadable.reason = "unreadable state record: " + record.error();
      lifecycle_[topic] = {std::move(unreadable), true};
      continue;
    }
    if (is_stopped(record->phase)) {
      log::info("mirror stopped for good by an earlier run; it is not mirrored",
                {{"link", options_.name},
                 {"topic", topic},
                 {"state", to_string(record->phase)},
                 {"reason", record->reason}});
    }
    lifecycle_[topic] = {std::move(*record), true};
  }
}

void link::note_divergence() {
  bool noted = false;
  for (const auto& p : engine_.partitions()) {
    if (p->state != partition_state::diverged) continue;
    const auto current = phase(p->source_topic);
    if (current == mirror_phase::diverged || is_final(current)) continue;
    // The whole mirror stops: its other partitions may be written too.
    set_phase(p->source_topic, mirror_phase::diverged);
    lifecycle_[p->source_topic].record.reason =
        "partition " + std::to_string(p->partition) + ": " + p->failure->message();
    engine_.stop_topic(p->source_topic);
    log::error(
        "mirror diverged: the destination topic was written by something else; "
        "the mirror is stopped (fail it over to make it a normal topic)",
        {{"link", options_.name},
         {"topic", p->source_topic},
         {"partition", p->partition},
         {"reason", p->failure->message()}});
    noted = true;
  }
  // Recorded now rather than at the next checkpoint: a restart right after
  // must not resume copying into that topic.
  if (noted) asio::co_spawn(executor_, persist_pending(), asio::detached);
}

asio::awaitable<std::expected<void, std::string>> link::persist(
    const std::vector<std::string>& topics) {
  std::vector<std::pair<std::string, std::string>> entries;
  for (const auto& topic : topics) {
    auto it = lifecycle_.find(topic);
    if (it == lifecycle_.end()) continue;
    entries.emplace_back(mirror_state_key(options_.name, topic), serialize(it->second.record));
  }
  if (entries.empty()) co_return std::expected<void, std::string>{};
  auto written = co_await states_.write(entries);
  if (!written) co_return written;
  for (const auto& topic : topics) {
    if (auto it = lifecycle_.find(topic); it != lifecycle_.end()) it->second.persisted = true;
  }
  co_return written;
}

asio::awaitable<void> link::persist_pending() {
  std::vector<std::string> pending;
  for (const auto& [topic, entry] : lifecycle_) {
    if (!entry.persisted && entry.record.phase != mirror_phase::promoting) pending.push_back(topic);
  }
  if (pending.empty()) co_return;
  if (auto written = co_await persist(pending); !written) {
    log::warn("cannot record mirror states on the destination; retrying",
              {{"link", options_.name},
               {"topic", std::string(mirror_state_topic)},
               {"error", written.error()}});
  }
}

bool link::promotion_reached(const std::string& topic, const std::vector<int64_t>& cut,
                             std::string& failure) const {
  bool reached = true;
  for (const auto* p : engine_.partitions_of(topic)) {
    if (p->state != partition_state::active) {
      failure = "partition " + std::to_string(p->partition) + " is " +
                std::string(mirror::to_string(p->state)) + ": " +
                (p->failure ? p->failure->message() : "");
      return false;
    }
    const auto i = static_cast<std::size_t>(p->partition);
    if (i >= cut.size()) continue;
    if (!p->idle() || p->mirrored_source_offset() < cut[i]) reached = false;
  }
  return reached;
}

int64_t link::remaining(const std::string& topic, const std::vector<int64_t>& cut) const {
  int64_t lag = 0;
  for (const auto* p : engine_.partitions_of(topic)) {
    const auto i = static_cast<std::size_t>(p->partition);
    if (i < cut.size()) lag += std::max<int64_t>(0, cut[i] - p->mirrored_source_offset());
  }
  return lag;
}

switch_result link::final_result(const std::string& topic, std::string action,
                                 const std::vector<int64_t>* cut) const {
  switch_result result;
  result.action = std::move(action);
  result.completed_at_ms = wall_clock_ms();
  for (const auto* p : engine_.partitions_of(topic)) {
    partition_final f;
    f.partition = p->partition;
    const auto i = static_cast<std::size_t>(p->partition);
    f.source_end_offset = cut != nullptr && i < cut->size() ? (*cut)[i] : end_offset(*p);
    f.mirrored_source_offset = p->mirrored_source_offset();
    f.destination_end_offset = p->next_destination_offset;
    f.abandoned_records =
        f.source_end_offset < 0
            ? 0
            : std::max<int64_t>(0, f.source_end_offset - f.mirrored_source_offset);
    result.partitions.push_back(f);
  }
  return result;
}

switch_outcome link::unknown_topic(const std::string& topic) const {
  return {switch_status::unknown_topic,
          "link " + options_.name + " mirrors no topic \"" + topic + "\"", 0};
}

switch_outcome link::already_switched(const std::string& topic, std::string_view action) const {
  const auto current = phase(topic);
  const auto* record = record_of(topic);
  if (current == mirror_phase::promoted ||
      (current == mirror_phase::failed_over && action == "failover")) {
    return {switch_status::switched, "", 0};
  }
  // A failed-over mirror was cut short: promoting it now cannot promise
  // that everything arrived.
  return {
      switch_status::conflict,
      "mirror " + topic + " was failed over" +
          (record && record->result
               ? " abandoning " + std::to_string(record->result->abandoned_records()) + " records"
               : std::string()) +
          "; it cannot be promoted any more",
      0};
}

asio::awaitable<std::map<std::string, switch_outcome>> link::promote(
    const std::vector<std::string>& topics, std::chrono::milliseconds timeout) {
  const auto deadline = clock::now() + timeout;
  std::map<std::string, switch_outcome> out;
  // Scale-out: every partition of the topics is brought here first.
  std::vector<std::string> gathered;
  if (membership_) gathered = co_await gather(topics, deadline, out);
  const auto known = mirror_topics();
  std::vector<std::string> candidates;
  std::vector<std::string> joining;  // promoted by a call already running
  std::map<std::string, bool> was_paused;
  for (const auto& topic : topics) {
    if (out.contains(topic)) continue;
    if (!std::ranges::binary_search(known, topic)) {
      out[topic] = unknown_topic(topic);
      continue;
    }
    const auto current = phase(topic);
    if (is_final(current)) {
      out[topic] = already_switched(topic, "promote");
      continue;
    }
    if (current == mirror_phase::promoting) {
      joining.push_back(topic);
      continue;
    }
    std::string failure;
    const std::vector<int64_t> no_cut;
    if (current == mirror_phase::diverged || !promotion_reached(topic, no_cut, failure)) {
      if (failure.empty()) failure = record_of(topic) ? record_of(topic)->reason : "diverged";
      out[topic] = {switch_status::conflict,
                    "mirror " + topic + " cannot reach the source's end (" + failure +
                        "); use :failover to stop it and make the mirror topic writable",
                    0};
      continue;
    }
    was_paused[topic] = current == mirror_phase::paused;
    candidates.push_back(topic);
  }

  // Hold every candidate at the source's end as it is now.
  std::map<std::string, std::vector<int64_t>> cuts;
  if (!candidates.empty()) {
    for (const auto& topic : candidates) {
      set_phase(topic, mirror_phase::promoting);
      engine_.set_paused(topic, false);
    }
    auto refreshed = co_await source_.refresh_metadata(candidates);
    std::map<std::string, topic_offsets> ends;
    if (refreshed) {
      ends = co_await list_offsets(source_, candidates, latest_timestamp, read_committed);
    }
    for (const auto& topic : candidates) {
      auto it = ends.find(topic);
      if (it != ends.end() && it->second) {
        cuts[topic] = *it->second;
        continue;
      }
      const std::string why = !refreshed         ? refreshed.error().message()
                              : it == ends.end() ? "no answer"
                                                 : it->second.error();
      out[topic] = {switch_status::source_unavailable,
                    "cannot read the source's end offsets of " + topic + ": " + why +
                        "; the mirror keeps running (use :failover if the source is gone)",
                    0};
    }
    for (const auto& [topic, cut] : cuts) {
      for (std::size_t i = 0; i < cut.size(); ++i)
        engine_.hold_at(topic, static_cast<int32_t>(i), cut[i]);
      log::info("promoting mirror: copying up to the source's end as of now",
                {{"link", options_.name},
                 {"topic", topic},
                 {"records_to_go", remaining(topic, cut)},
                 {"timeout_ms", static_cast<int64_t>(timeout.count())}});
    }
  }

  // Wait until each reaches its cut, fails, or time runs out.
  std::vector<std::string> reached;
  std::set<std::string> waiting;
  for (const auto& [topic, _] : cuts)
    waiting.insert(topic);
  while (!waiting.empty()) {
    for (auto it = waiting.begin(); it != waiting.end();) {
      std::string failure;
      if (promotion_reached(*it, cuts[*it], failure)) {
        reached.push_back(*it);
        it = waiting.erase(it);
      } else if (!failure.empty()) {
        out[*it] = {switch_status::conflict,
                    "mirror " + *it + " stopped while promoting (" + failure +
                        "); use :failover to stop it and make the mirror topic writable",
                    remaining(*it, cuts[*it])};
        it = waiting.erase(it);
      } else {
        ++it;
      }
    }
    if (waiting.empty() || clock::now() >= deadline || stopping_) break;
    co_await sleep_for(poll_interval);
  }
  for (const auto& topic : waiting) {
    const auto lag = remaining(topic, cuts[topic]);
    out[topic] = {switch_status::timed_out,
                  "mirror " + topic + " did not reach the source's end within " +
                      std::to_string(timeout.count()) + " ms: " + std::to_string(lag) +
                      " records remain; the mirror keeps running, call again to retry",
                  lag};
  }

  // The final consumer-offset sync, while the mirrors are held at their cut.
  offsets::sync_result synced;
  if (group_sync_ && !reached.empty()) synced = co_await group_sync_->sync_once();
  for (const auto& topic : reached) {
    auto result = final_result(topic, "promote", &cuts[topic]);
    if (group_sync_) {
      result.consumer_offsets_synced = true;
      result.consumer_groups_synced = synced.groups_synced;
      result.consumer_groups_failed = synced.groups_failed;
      result.consumer_offset_errors = synced.errors;
    }
    auto& entry = lifecycle_[topic];
    entry.record.phase = mirror_phase::promoted;
    entry.record.result = std::move(result);
    entry.record.held_by.clear();
    entry.record.held_until_ms = 0;
    entry.persisted = false;
  }
  if (auto written = co_await persist(reached); !written) {
    for (const auto& topic : reached) {
      auto& entry = lifecycle_[topic];
      entry.record.phase = mirror_phase::active;
      entry.record.result.reset();
      entry.persisted = true;
      out[topic] = {switch_status::not_persisted,
                    "mirror " + topic +
                        " reached the source's end, but the destination did not record the "
                        "promotion (" +
                        written.error() + "); the mirror keeps running, call again to retry",
                    remaining(topic, cuts[topic])};
    }
    reached.clear();
  }
  for (const auto& topic : reached) {
    engine_.stop_topic(topic);
    mirrored_.erase(topic);
    out[topic] = {switch_status::switched, "", 0};
    const auto& result = *lifecycle_[topic].record.result;
    log::info("mirror promoted: klink never writes to it again",
              {{"link", options_.name},
               {"topic", topic},
               {"partitions", static_cast<int64_t>(result.partitions.size())}});
  }
  // What did not switch runs on as before.
  for (const auto& [topic, cut] : cuts) {
    if (out[topic].status == switch_status::switched) continue;
    for (std::size_t i = 0; i < cut.size(); ++i)
      engine_.hold_at(topic, static_cast<int32_t>(i), -1);
    if (phase(topic) == mirror_phase::promoting) {
      lifecycle_[topic].record.phase =
          was_paused[topic] ? mirror_phase::paused : mirror_phase::active;
      if (was_paused[topic]) engine_.set_paused(topic, true);
    }
  }
  for (const auto& topic : candidates) {
    if (cuts.contains(topic)) continue;
    lifecycle_[topic].record.phase =
        was_paused[topic] ? mirror_phase::paused : mirror_phase::active;
    if (was_paused[topic]) engine_.set_paused(topic, true);
  }

  // Another call is promoting these: answer with its outcome.
  for (const auto& topic : joining) {
    while (phase(topic) == mirror_phase::promoting && clock::now() < deadline && !stopping_)
      co_await sleep_for(poll_interval);
    if (phase(topic) == mirror_phase::promoted) {
      out[topic] = {switch_status::switched, "", 0};
    } else {
      out[topic] = {switch_status::conflict,
                    "another promotion of " + topic + " was running and did not complete", 0};
    }
  }
  co_await return_gathered(gathered, out);
  co_return out;
}

asio::awaitable<std::map<std::string, switch_outcome>> link::failover(
    const std::vector<std::string>& topics, std::chrono::milliseconds timeout) {
  std::map<std::string, switch_outcome> out;
  std::vector<std::string> gathered;
  if (membership_) gathered = co_await gather(topics, clock::now() + timeout, out);
  const auto known = mirror_topics();
  std::vector<std::string> stopping;
  for (const auto& topic : topics) {
    if (out.contains(topic)) continue;
    if (!std::ranges::binary_search(known, topic)) {
      out[topic] = unknown_topic(topic);
      continue;
    }
    const auto current = phase(topic);
    if (is_final(current)) {
      if (!lifecycle_[topic].persisted) {
        stopping.push_back(topic);  // stopped earlier, its record still to write
      } else {
        out[topic] = already_switched(topic, "failover");
      }
      continue;
    }
    if (current == mirror_phase::promoting) {
      out[topic] = {switch_status::conflict,
                    "mirror " + topic + " is being promoted; wait for that call or retry", 0};
      continue;
    }
    engine_.stop_topic(topic);
    stopping.push_back(topic);
  }

  // Batches already in flight are answered (and recorded) if that is quick.
  const auto drain_until = clock::now() + std::min(timeout, failover_drain_max);
  auto in_flight = [&] {
    return std::ranges::any_of(stopping, [&](const std::string& topic) {
      return std::ranges::any_of(engine_.partitions_of(topic),
                                 [](const auto* p) { return p->state == partition_state::active; });
    });
  };
  while (in_flight() && clock::now() < drain_until)
    co_await sleep_for(poll_interval);
  for (const auto& topic : stopping)
    engine_.force_stop(topic);

  std::vector<std::string> fresh;
  for (const auto& topic : stopping) {
    if (!is_final(phase(topic))) fresh.push_back(topic);
  }
  // Consumers resume on the destination where their last commit known to
  // klink points; the source is not asked (it may be gone).
  offsets::sync_result synced;
  if (group_sync_ && !fresh.empty()) synced = co_await group_sync_->sync_known();
  for (const auto& topic : fresh) {
    auto result = final_result(topic, "failover", nullptr);
    if (group_sync_) {
      result.consumer_offsets_synced = true;
      result.consumer_groups_synced = synced.groups_synced;
      result.consumer_groups_failed = synced.groups_failed;
      result.consumer_offset_errors = synced.errors;
    }
    auto& entry = lifecycle_[topic];
    entry.record.phase = mirror_phase::failed_over;
    entry.record.result = std::move(result);
    entry.record.held_by.clear();
    entry.record.held_until_ms = 0;
    entry.persisted = false;
    mirrored_.erase(topic);
    log::warn("mirror failed over: stopped for good, unmirrored records abandoned",
              {{"link", options_.name},
               {"topic", topic},
               {"abandoned_records", entry.record.result->abandoned_records()}});
  }
  auto written = co_await persist(stopping);
  for (const auto& topic : stopping) {
    if (written) {
      out[topic] = {switch_status::switched, "", 0};
    } else {
      // Mirroring stays stopped in this process and the record keeps being
      // retried; until it is written a restart would resume mirroring.
      out[topic] = {switch_status::not_persisted,
                    "mirror " + topic +
                        " is stopped, but the destination did not record the failover (" +
                        written.error() + "); klink keeps retrying, call again to confirm",
                    0};
    }
  }
  co_await return_gathered(gathered, out);
  co_return out;
}

asio::awaitable<void> link::return_gathered(const std::vector<std::string>& gathered,
                                            const std::map<std::string, switch_outcome>& out) {
  std::vector<std::string> unswitched;
  for (const auto& topic : gathered) {
    auto it = out.find(topic);
    if (it != out.end() && it->second.status == switch_status::switched) {
      gathered_.erase(topic);  // stopped for good here; nothing to give back
      prepared_.erase(topic);
    } else {
      unswitched.push_back(topic);
    }
  }
  co_await scatter(unswitched);
}

asio::awaitable<std::expected<std::vector<translated_offset>, std::string>> link::group_offsets(
    const std::string& group) {
  kafka::cluster& cluster = group_source_ ? *group_source_ : source_;
  const std::vector<std::string> no_topics;
  if (auto refreshed = co_await cluster.refresh_metadata(no_topics); !refreshed)
    co_return std::unexpected("source cluster unreachable: " + refreshed.error().message());
  auto committed = co_await offsets::fetch_committed_offsets(cluster, group);
  if (!committed) co_return std::unexpected("source: " + committed.error());
  std::vector<translated_offset> out;
  for (const auto& c : *committed) {
    auto it = maps_.find({c.topic, c.partition});
    if (it == maps_.end()) continue;  // not a topic this link mirrors
    out.push_back({c.topic, c.partition, c.offset, it->second.translate(c.offset)});
  }
  std::ranges::sort(out, [](const auto& a, const auto& b) {
    return std::tie(a.topic, a.partition) < std::tie(b.topic, b.partition);
  });
  co_return out;
}

}  // namespace klink::linker
