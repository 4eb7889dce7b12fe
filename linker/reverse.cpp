// Reverse (failback): a promoted or failed-over mirror's old source becomes a
// mirror of its new primary, run by the opposite link from exactly where this
// direction stopped; what the old source holds beyond the cut is measured and
// refused, kept or copied first (README.md in this folder, "Failing back").
#include <algorithm>
#include <numeric>

#include "kafka/client/list_offsets.h"
#include "kafka/client/partition_io.h"
#include "kafka/client/topics.h"
#include "kafka/sleep.h"
#include "linker/lifecycle.h"
#include "linker/link.h"
#include "linker/link_context.h"
#include "linker/mirror_topic_config.h"
#include "linker/offset_book.h"
#include "linker/topic_follower.h"
#include "log/log.h"
#include "mirror/batch_transform.h"

namespace klink::linker {

namespace {
using clock = std::chrono::steady_clock;
constexpr std::chrono::milliseconds poll_interval{20};
constexpr int32_t count_read_bytes = 1 << 20;

// Committed records in [from, to) of one partition: what a read_committed
// consumer sees there (control batches and aborted transactions are not
// records), walked by the data path's own batch walker.
asio::awaitable<result<int64_t>> committed_records(kafka::cluster& c, const std::string& topic,
                                                   int32_t partition, int64_t from, int64_t to) {
  int64_t count = 0;
  int64_t offset = from;
  int32_t max_bytes = count_read_bytes;
  while (offset < to) {
    auto fetched = co_await client::fetch_partition(c, topic, partition, offset, max_bytes,
                                                    client::isolation::read_committed);
    if (!fetched) co_return std::unexpected(std::move(fetched.error()));
    if (fetched->out_of_range)
      co_return std::unexpected(
          error(errc::state_mismatch, "Fetch",
                "records from offset " + std::to_string(offset) + " were deleted")
              .at(topic, partition));
    if (fetched->records.empty()) {
      // Nothing more to read below the high watermark: the rest is not yet
      // stable, or is past what the broker holds.
      if (fetched->high_watermark <= offset || fetched->last_stable_offset <= offset) break;
      max_bytes *= 2;
      if (max_bytes > (64 << 20))
        co_return std::unexpected(error(errc::too_large, "Fetch").at(topic, partition));
      continue;
    }
    mirror::transform_input input{fetched->buffer, fetched->records, offset, {}};
    for (const auto& a : fetched->aborted)
      input.aborted.push_back({a.producer_id, a.first_offset});
    auto out = mirror::transform_fetched_records(std::move(input));
    if (out.failure) co_return std::unexpected(std::move(*out.failure).at(topic, partition));
    for (const auto& b : out.batches) {
      if (b.source_base_offset < to) count += b.record_count;
    }
    if (out.next_fetch_offset <= offset) {
      max_bytes *= 2;  // one batch larger than the read
      continue;
    }
    offset = out.next_fetch_offset;
  }
  co_return count;
}

int64_t total_records(const std::vector<divergent_range>& ranges) {
  return std::accumulate(ranges.begin(), ranges.end(), int64_t{0},
                         [](int64_t sum, const divergent_range& r) { return sum + r.records; });
}
}  // namespace

// One topic on its way back.
struct mirror_lifecycle::reversal {
  std::string topic;                 // this link's source topic: the reversed mirror's destination
  std::string mirror;                // its mirror topic: the reversed mirror's source
  switch_result cut;                 // the switch that stopped this direction
  std::vector<int64_t> source_ends;  // where the reversed mirror appends, per partition
  std::vector<divergent_range> divergent;
};

asio::awaitable<switch_outcomes> mirror_lifecycle::reverse(const std::vector<std::string>& topics,
                                                           const reverse_options& options,
                                                           std::chrono::milliseconds timeout) {
  switch_outcomes out;
  // Scale-out: another instance may have switched the mirror a moment ago.
  if (ctx_.scale_out) co_await refresh();
  for (const auto& topic : topics) {
    if (out.contains(topic)) continue;
    out[topic] = co_await reverse_one(topic, options);
  }
  // Each reversed mirror is answered once the opposite link runs it.
  const auto deadline = clock::now() + timeout;
  for (const auto& [topic, outcome] : out) {
    if (outcome.status != switch_status::switched) continue;
    link& other = ctx_.opposite();  // made only when something was reversed
    while (!other.mirror(ctx_.mirror_name(topic)) && clock::now() < deadline && !ctx_.stopping)
      co_await sleep_for(poll_interval);
  }
  co_return out;
}

asio::awaitable<switch_outcome> mirror_lifecycle::reverse_one(const std::string& topic,
                                                              const reverse_options& options) {
  const auto* record = record_of(topic);
  if (record == nullptr) co_return unknown_topic(topic);
  const auto current = record->phase;
  // Already reversed: this direction runs again as the newer generation.
  if ((current == mirror_phase::active || current == mirror_phase::paused) &&
      record->generation > 0 && !record->history.empty() &&
      record->history.back().action == "reverse")
    co_return switch_outcome{};
  if (!is_final(current)) {
    co_return switch_outcome{switch_status::conflict,
                             "mirror " + topic + " is " + std::string(to_string(current)) +
                                 "; only a PROMOTED or FAILED_OVER mirror can be reversed "
                                 "(promote or fail it over first)"};
  }
  if (!record->result || record->result->partitions.empty()) {
    co_return switch_outcome{switch_status::conflict,
                             "mirror " + topic + " recorded no cut when it was switched"};
  }
  reversal run{topic, ctx_.mirror_name(topic), *record->result, {}, {}};
  if (auto measured = co_await measure_divergence(run); !measured) {
    co_return switch_outcome{switch_status::source_unavailable,
                             "cannot measure what " + ctx_.source.role() + " topic " + topic +
                                 " holds beyond the cut: " + measured.error().message()};
  }
  const int64_t divergent = total_records(run.divergent);
  if (divergent > 0 && options.divergent == divergent_choice::refuse) {
    switch_outcome refused{
        switch_status::divergent,
        "topic " + topic + " on the old source holds " + std::to_string(divergent) +
            " committed records beyond the cut that the new primary lacks; reverse with "
            "\"divergent\": \"keep\" to append after them, or \"copy\" with \"copy_to\" to copy "
            "them to the new primary first"};
    refused.divergent = run.divergent;
    co_return refused;
  }
  if (divergent > 0 && options.divergent == divergent_choice::copy) {
    if (auto copied = co_await copy_divergent(run, options.copy_to); !copied) {
      co_return switch_outcome{switch_status::conflict, "cannot copy the divergent records to " +
                                                            options.copy_to + ": " +
                                                            copied.error().message()};
    }
  }

  // The opposite link's record: the next generation, starting at the cut.
  link& other = ctx_.opposite();
  std::vector<std::pair<int64_t, int64_t>> starts;
  mirror_record next =
      next_generation(run, *record, other.lifecycle().record_of(run.mirror), options, starts);
  if (auto begun = co_await other.lifecycle().begin_generation(run.mirror, next, starts); !begun) {
    co_return switch_outcome{switch_status::not_persisted, "cannot record the reversed mirror on " +
                                                               ctx_.source.role() + ": " +
                                                               begun.error().message()};
  }
  log::info("mirror reversed: its old source is now a mirror of its new primary",
            {{"link", ctx_.name()},
             {"topic", topic},
             {"mirror_topic", run.mirror},
             {"generation", next.generation},
             {"divergent_records", divergent},
             {"started", options.start}});
  co_return switch_outcome{};
}

mirror_record mirror_lifecycle::next_generation(
    const reversal& run, const mirror_record& ours, const mirror_record* theirs,
    const reverse_options& options, std::vector<std::pair<int64_t, int64_t>>& starts) const {
  mirror_record next = theirs != nullptr ? *theirs : mirror_record{};
  next.phase = options.start ? mirror_phase::active : mirror_phase::paused;
  next.reason.clear();
  next.result.reset();
  next.held_by.clear();
  next.held_until_ms = 0;
  next.generation = ours.generation + 1;
  next.mirror_topic = run.topic;
  const auto* mirror_meta = ctx_.destination.topic(run.mirror);
  next.source_topic_id = mirror_meta ? mirror_meta->topic_id.to_string() : "";
  next.source_cluster_id = ctx_.destination.metadata().cluster_id;
  switch_result reversed;
  reversed.action = "reverse";
  reversed.completed_at_ms = wall_clock_ms();
  for (const auto& f : run.cut.partitions) {
    const auto i = static_cast<std::size_t>(f.partition);
    starts.resize(std::max(starts.size(), i + 1), {-1, -1});
    starts[i] = {f.destination_end_offset, run.source_ends[i]};
    reversed.partitions.push_back(
        {f.partition, f.destination_end_offset, f.destination_end_offset, run.source_ends[i], 0});
  }
  next.history.push_back(reversed);
  if (next.history.size() > max_history) next.history.erase(next.history.begin());
  for (auto range : run.divergent) {
    if (range.records == 0) continue;
    range.generation = next.generation;
    if (options.divergent == divergent_choice::copy) range.copied_to = options.copy_to;
    next.divergent_ranges.push_back(std::move(range));
  }
  return next;
}

asio::awaitable<result<void>> mirror_lifecycle::measure_divergence(reversal& run) {
  const std::vector<std::string> just_topic{run.topic};
  const std::vector<std::string> just_mirror{run.mirror};
  if (auto refreshed = co_await ctx_.source.refresh_metadata(just_topic); !refreshed)
    co_return std::unexpected(std::move(refreshed.error()));
  if (auto refreshed = co_await ctx_.destination.refresh_metadata(just_mirror); !refreshed)
    co_return std::unexpected(std::move(refreshed.error()));
  auto ends = co_await client::list_offsets(ctx_.source, run.topic, client::latest_timestamp,
                                            client::isolation::read_uncommitted);
  if (!ends) co_return std::unexpected(std::move(ends.error()));
  auto stable = co_await client::list_offsets(ctx_.source, run.topic, client::latest_timestamp,
                                              client::isolation::read_committed);
  if (!stable) co_return std::unexpected(std::move(stable.error()));
  run.source_ends = *ends;
  for (const auto& f : run.cut.partitions) {
    const auto i = static_cast<std::size_t>(f.partition);
    auto mismatch = [&](std::string why) {
      return std::unexpected(
          error(errc::state_mismatch, "reverse", std::move(why)).at(run.topic, f.partition));
    };
    if (i >= ends->size() || i >= stable->size())
      co_return mismatch("the topic has fewer partitions than when it was switched");
    if (f.mirrored_source_offset < 0 || f.destination_end_offset < 0)
      co_return mismatch("the switch recorded no cut for this partition");
    if ((*ends)[i] < f.mirrored_source_offset)
      co_return mismatch("the partition ends at " + std::to_string((*ends)[i]) +
                         ", before the cut at " + std::to_string(f.mirrored_source_offset) +
                         " (records were deleted, or the topic was recreated)");
    if ((*stable)[i] < (*ends)[i])
      co_return mismatch("a transaction is open beyond the cut; reverse once it ends");
    divergent_range range{f.partition, f.mirrored_source_offset, (*ends)[i], 0, "", 0};
    auto counted = co_await committed_records(ctx_.source, run.topic, f.partition,
                                              range.start_offset, range.end_offset);
    if (!counted) co_return std::unexpected(std::move(counted.error()));
    range.records = *counted;
    run.divergent.push_back(range);
  }
  co_return ok();
}

asio::awaitable<result<void>> mirror_lifecycle::copy_divergent(reversal& run,
                                                               const std::string& copy_to) {
  const auto partitions = static_cast<int32_t>(run.source_ends.size());
  const std::vector<std::string> just_copy{copy_to};
  if (auto refreshed = co_await ctx_.destination.refresh_metadata(just_copy); !refreshed)
    co_return std::unexpected(std::move(refreshed.error()));
  const auto* meta = ctx_.destination.topic(copy_to);
  if (meta == nullptr || meta->error != 0) {
    const std::vector<std::string> just_topic{run.topic};
    auto configs = co_await ctx_.follower->describe_configs(ctx_.source, just_topic);
    if (!configs) co_return std::unexpected(std::move(configs.error()));
    client::new_topic request{
        copy_to, partitions, ctx_.options.replication_factor,
        mirror_topic_configs((*configs)[run.topic], ctx_.options.synced_configs)};
    if (auto created = co_await client::create_topic(ctx_.destination, request); !created)
      co_return std::unexpected(std::move(created.error()));
  }
  // A copy starts empty; a topic that holds records already is someone's data.
  client::topic_offsets ends;
  for (int attempt = 0; attempt < 50 && !ctx_.stopping; ++attempt) {
    ends = co_await client::list_offsets(ctx_.destination, copy_to, client::latest_timestamp,
                                         client::isolation::read_uncommitted);
    if (ends && static_cast<int32_t>(ends->size()) == partitions) break;
    co_await sleep_for(std::chrono::milliseconds(200));
    co_await ctx_.destination.refresh_metadata(just_copy);
  }
  if (!ends) co_return std::unexpected(std::move(ends.error()));
  if (static_cast<int32_t>(ends->size()) != partitions)
    co_return std::unexpected(
        error(errc::state_mismatch, {},
              "topic " + copy_to + " does not have " + std::to_string(partitions) + " partitions"));
  if (std::ranges::any_of(*ends, [](int64_t e) { return e != 0; }))
    co_return std::unexpected(
        error(errc::state_mismatch, {},
              "topic " + copy_to + " already holds records; name a new topic in copy_to"));
  // The data path copies them, byte for byte, up to the end measured.
  auto copier = std::make_shared<mirror::mirror_engine>(ctx_.executor, ctx_.source,
                                                        ctx_.destination, ctx_.options.mirror);
  copiers_.push_back(copier);
  for (const auto& r : run.divergent) {
    if (r.records == 0) continue;
    copier->add_partition(
        {run.topic, copy_to, r.partition, r.start_offset, 0, std::nullopt, std::nullopt});
    copier->hold_at(run.topic, r.partition, r.end_offset);
  }
  copier->start();
  while (!ctx_.stopping) {
    bool done = true;
    for (const auto& p : copier->partitions()) {
      if (p->state != mirror::partition_state::active) {
        co_await copier->drain(std::chrono::milliseconds(0));
        co_return std::unexpected(p->failure ? *p->failure
                                             : error(errc::state_mismatch, "copy", "stopped"));
      }
      const auto i = static_cast<std::size_t>(p->partition);
      if (!p->idle() || p->mirrored_source_offset() < run.source_ends[i]) done = false;
    }
    if (done) break;
    co_await sleep_for(poll_interval);
  }
  co_await copier->drain(std::chrono::seconds(5));
  log::info("divergent records copied to the new primary",
            {{"link", ctx_.name()},
             {"topic", run.topic},
             {"copy_to", copy_to},
             {"records", total_records(run.divergent)}});
  co_return ok();
}

asio::awaitable<result<void>> mirror_lifecycle::begin_generation(
    const std::string& topic, mirror_record record,
    const std::vector<std::pair<int64_t, int64_t>>& starts) {
  // This link's own state must be read first, or a read finishing later
  // would put back the record this replaces.
  for (int i = 0; i < 250 && !ctx_.state_loaded && !ctx_.stopping; ++i)
    co_await sleep_for(poll_interval);
  if (!ctx_.state_loaded)
    co_return std::unexpected(error(errc::not_ready, "reverse",
                                    "klink's state on " + ctx_.destination.role() +
                                        " cannot be read yet (is the cluster reachable?)"));
  // The checkpoints first: the record makes the mirror run, from them.
  if (auto begun = co_await ctx_.book->begin(topic, starts); !begun) co_return begun;
  entries_[topic] = {std::move(record), false};
  const std::vector<std::string> just_topic{topic};
  if (auto written = co_await persist(just_topic); !written) co_return written;
  ctx_.follower->forget(topic);
  ctx_.discover_now();
  co_return ok();
}

}  // namespace klink::linker
