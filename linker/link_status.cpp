// The link's status as the admin endpoint and the metrics read it: copies of
// the engine's partition state, with the mirror state derived from the
// lifecycle, the source problems and the partitions.
#include <algorithm>
#include <cctype>
#include <map>

#include "linker/link.h"
#include "linker/link_parts.h"
#include "log/log.h"

namespace klink::linker {

namespace {
using mirror::partition_mirror;
using mirror::partition_state;
using partitions_of_topic = std::vector<const partition_mirror*>;

// A link's mirror partitions grouped by source topic, in topic order; a
// mirror stopped for good by an earlier run is listed without partitions.
std::map<std::string, partitions_of_topic> partitions_by_topic(const link_context& ctx) {
  std::map<std::string, partitions_of_topic> out;
  for (const auto& topic : ctx.follower->mirror_topics())
    out[topic];
  for (const auto& p : ctx.engine.partitions()) {
    if (!ctx.follower->excluded(p->source_topic)) out[p->source_topic].push_back(p.get());
  }
  for (auto& [_, ps] : out)
    std::ranges::sort(ps, {}, &partition_mirror::partition);
  return out;
}

std::string_view mirror_state(const link_context& ctx, const std::string& topic,
                              const partitions_of_topic& partitions) {
  const auto phase = ctx.lifecycle->phase(topic);
  if (is_stopped(phase) || phase == mirror_phase::promoting) return to_string(phase);
  if (const auto* problem = ctx.follower->source_problem_of(topic)) return problem->state;
  auto any = [&](partition_state s) {
    return std::ranges::any_of(partitions, [s](const auto* p) { return p->state == s; });
  };
  if (any(partition_state::diverged)) return "DIVERGED";
  if (any(partition_state::failed)) return "FAILED";
  if (!partitions.empty() &&
      std::ranges::all_of(partitions, [](const auto* p) { return p->paused; }))
    return "PAUSED";
  if (!ctx.health->reachable("source")) return "SOURCE_UNAVAILABLE";
  return "ACTIVE";
}

std::string partition_state_name(const link_context& ctx, const partition_mirror& p) {
  const auto phase = ctx.lifecycle->phase(p.source_topic);
  if (is_stopped(phase) || phase == mirror_phase::promoting) return std::string(to_string(phase));
  if (const auto* problem = ctx.follower->source_problem_of(p.source_topic)) return problem->state;
  if (p.state == partition_state::active) return p.paused ? "PAUSED" : "ACTIVE";
  std::string s(mirror::to_string(p.state));
  for (auto& c : s)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

mirror_status status_of(const link_context& ctx, lag_clock& clock, const std::string& topic,
                        const partitions_of_topic& partitions,
                        std::chrono::system_clock::time_point now) {
  mirror_status out;
  out.source_topic = topic;
  out.mirror_topic = ctx.mirror_name(topic);
  out.state = mirror_state(ctx, topic, partitions);
  // A mirror stopped for good has no lag: nothing is copied any more (what a
  // failover left behind is in its result).
  const bool stopped = is_stopped(ctx.lifecycle->phase(topic));
  for (const auto* p : partitions) {
    out.mirror_topic = p->mirror_topic;
    partition_status s;
    s.partition = p->partition;
    s.state = partition_state_name(ctx, *p);
    s.source_end_offset = source_end_offset(*p);
    s.mirrored_source_offset = p->mirrored_source_offset();
    s.destination_end_offset = p->next_destination_offset;
    s.lag_records = stopped ? 0 : p->lag_records();
    s.lag_seconds = stopped ? 0.0 : clock.lag_seconds(ctx.name(), *p, now);
    s.preferred_read_replica = p->preferred_read_replica;
    s.last_error = p->failure;
    if (p->source_gap) {
      s.source_gap_from = p->source_gap->from;
      s.source_gap_to = p->source_gap->to;
    }
    s.records_skipped = p->counters.records_skipped;
    // A stopped partition's reason says why the whole mirror does not move.
    if (out.reason.empty() && p->failure && p->state != partition_state::active)
      out.reason = "partition " + std::to_string(p->partition) + ": " + p->failure->message();
    s.records_produced = p->counters.records_produced;
    s.bytes_produced = p->counters.bytes_produced;
    s.batches_rebuilt = p->counters.batches_rebuilt;
    out.lag_records += s.lag_records;
    out.partitions.push_back(std::move(s));
  }
  if (const auto* problem = ctx.follower->source_problem_of(topic)) out.reason = problem->reason;
  out.direction = ctx.options.reverse ? "reverse" : "forward";
  if (const auto* record = ctx.lifecycle->record_of(topic)) {
    if (!record->reason.empty()) out.reason = record->reason;
    out.result = record->result;
    out.generation = record->generation;
    out.history = record->history;
    // Ranges lie on this direction's destination.
    const std::string_view cluster = ctx.options.reverse ? "source" : "destination";
    for (const auto& r : record->divergent_ranges)
      out.divergent_ranges.emplace_back(cluster, r);
  }
  return out;
}

}  // namespace

std::vector<mirror_status> link::mirrors() {
  const auto now = std::chrono::system_clock::now();
  std::vector<mirror_status> out;
  for (const auto& [topic, partitions] : partitions_by_topic(*ctx_)) {
    out.push_back(status_of(*ctx_, parts_->clock, topic, partitions, now));
    merge_reverse(out.back());
  }
  return out;
}

std::optional<mirror_status> link::mirror(const std::string& topic) {
  const auto all = partitions_by_topic(*ctx_);
  auto it = all.find(topic);
  if (it == all.end()) return std::nullopt;
  auto out = status_of(*ctx_, parts_->clock, topic, it->second, std::chrono::system_clock::now());
  merge_reverse(out);
  return out;
}

std::vector<std::string> link::mirror_topics() const {
  return ctx_->follower->mirror_topics();
}

std::string_view link::state() const {
  const auto& ctx = *ctx_;
  if (!ctx.health->failure_reason().empty()) return "FAILED";
  if (!ctx.health->reachable("source") || !ctx.health->reachable("destination"))
    return "UNAVAILABLE";
  // Mirrors stopped for good (promoted, failed over) say nothing about the link.
  partitions_of_topic running;
  for (const auto& p : ctx.engine.partitions()) {
    if (p->state != partition_state::stopped &&
        !is_stopped(ctx.lifecycle->phase(p->source_topic)) &&
        !ctx.follower->excluded(p->source_topic))
      running.push_back(p.get());
  }
  if (running.empty()) return "ACTIVE";
  const bool all_failed = std::ranges::all_of(
      running, [](const auto* p) { return p->state != partition_state::active; });
  if (all_failed) return "FAILED";
  const bool all_paused = std::ranges::all_of(running, [](const auto* p) { return p->paused; });
  if (all_paused) return "PAUSED";
  return "ACTIVE";
}

int64_t link::lag_records() const {
  const auto& ctx = *ctx_;
  int64_t lag = 0;
  for (const auto& p : ctx.engine.partitions()) {
    if (is_stopped(ctx.lifecycle->phase(p->source_topic)) ||
        ctx.follower->excluded(p->source_topic) || ctx.follower->source_problem_of(p->source_topic))
      continue;
    lag += p->lag_records();
  }
  return lag + (reverse_ ? reverse_->lag_records() : 0);
}

const link_health& link::health() const {
  return *ctx_->health;
}

const std::string& link::cluster_id(std::string_view role) const {
  return (role == "source" ? ctx_->source : ctx_->destination).metadata().cluster_id;
}

const mirror::engine_stats& link::stats() const {
  return ctx_->engine.stats();
}

uint64_t link::consumer_offsets_committed() const {
  return ctx_->group_sync ? ctx_->group_sync->partitions_committed_total() : 0;
}

void log_summary(const std::string& link_name, const partition_mirror& p) {
  const auto& c = p.counters;
  log::info("mirror partition summary", {{"link", link_name},
                                         {"topic", p.source_topic},
                                         {"partition", p.partition},
                                         {"state", mirror::to_string(p.state)},
                                         {"mirrored_source_offset", p.mirrored_source_offset()},
                                         {"batches_produced", c.batches_produced},
                                         {"batches_rebuilt", c.batches_rebuilt},
                                         {"records_produced", c.records_produced},
                                         {"bytes_produced", c.bytes_produced},
                                         {"control_batches_dropped", c.control_batches_dropped},
                                         {"aborted_batches_dropped", c.aborted_batches_dropped},
                                         {"produce_retries", c.produce_retries}});
}

}  // namespace klink::linker
