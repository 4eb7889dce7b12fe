#include "linker/offset_book.h"

#include <algorithm>

#include "kafka/client/list_offsets.h"
#include "kafka/sleep.h"
#include "linker/lifecycle.h"
#include "linker/link_context.h"
#include "linker/resume.h"
#include "linker/tail_producer.h"
#include "log/log.h"

namespace klink::linker {

namespace {

// Where each partition of a mirror starts, decided before the first batch.
struct partition_plan {
  int32_t partition = 0;
  offsets::offset_map map;
  std::optional<mirror::producer_identity> producer;
};

// Nothing was written into a reversed mirror's partition in this generation
// yet: its last batch is an application's, whose producer klink never
// continues (the engine's own producer starts it).
bool at_generation_start(const link_context& ctx, const std::string& topic, int32_t partition,
                         int64_t destination_end) {
  const auto* record = ctx.lifecycle->record_of(topic);
  if (record == nullptr || record->generation == 0) return false;
  for (auto it = record->history.rbegin(); it != record->history.rend(); ++it) {
    if (it->action != "reverse") continue;
    for (const auto& f : it->partitions) {
      if (f.partition == partition) return f.destination_end_offset == destination_end;
    }
    return false;
  }
  return false;
}

}  // namespace

offset_book::offset_book(link_context& context)
    : ctx_(context), checkpoints_(context.destination, context.options.replication_factor) {}

asio::awaitable<result<void>> offset_book::load(bool create) {
  co_return co_await checkpoints_.load(create);
}

asio::awaitable<result<void>> offset_book::begin(
    const std::string& topic, const std::vector<std::pair<int64_t, int64_t>>& starts) {
  std::vector<std::pair<std::string, std::string>> entries;
  for (std::size_t p = 0; p < starts.size(); ++p) {
    const auto [source, destination] = starts[p];
    if (source < 0 || destination < 0) continue;
    const auto partition = static_cast<int32_t>(p);
    const std::string key = offsets::checkpoint_key(ctx_.name(), topic, partition);
    entries.emplace_back(key, offsets::offset_map(source, destination).serialize());
    maps_.erase({topic, partition});
    last_written_.erase(key);
  }
  co_return co_await checkpoints_.write(entries);
}

void offset_book::hold_unreadable(const std::string& topic, int32_t partition,
                                  const std::string& key, error why) {
  // Without its checkpoint klink does not know which source records the
  // mirror partition holds: copying anything could copy a record twice. The
  // record is left as it is (evidence, and a newer klink may read it); the
  // partition shows as failed, the rest of the topic mirrors.
  why.detail = "the checkpoint record at " + checkpoints_.location_of(key) + " (key " + key +
               ") is unreadable: " + why.detail +
               "; this partition copies nothing until it is readable (restore it with the klink "
               "that wrote it, or delete the mirror topic and write a tombstone for the key to "
               "mirror it afresh)";
  why.context.clear();
  why.call = "resume";
  log::error("unreadable checkpoint; the mirror partition is not started",
             {{"link", ctx_.name()},
              {"topic", topic},
              {"partition", partition},
              {"state_topic", checkpoints_.topic()},
              {"record", checkpoints_.location_of(key)},
              {"error", why.detail}});
  ctx_.engine.remove_partitions({{topic, partition}});
  ctx_.engine.add_partition(mirror::partition_start{.source_topic = topic,
                                                    .mirror_topic = ctx_.mirror_name(topic),
                                                    .partition = partition,
                                                    .source_offset = 0,
                                                    .destination_offset = -1,
                                                    .producer = std::nullopt,
                                                    .failure = std::move(why)});
}

bool offset_book::checkpointed(const std::string& topic) const {
  return checkpoints_.find(offsets::checkpoint_key(ctx_.name(), topic, 0)) != nullptr;
}

asio::awaitable<result<std::optional<mirror::producer_identity>>> offset_book::continued_producer(
    const std::string& topic, int32_t p, int64_t destination_end) {
  // Continue the producer that wrote the partition's last batch, so that
  // the destination drops or refuses whatever a predecessor still has in
  // flight (a crashed run's requests may land after this run read the end).
  // A partition this engine ran before (its mirror was reversed away and
  // back in this process) continues its producer, then makes way.
  for (auto* old : ctx_.engine.partitions_of(topic)) {
    if (old->partition != p) continue;
    auto producer = ctx_.engine.producer_of(*old);
    ctx_.engine.remove_partitions({{topic, p}});
    if (producer) co_return producer;
    break;
  }
  if (at_generation_start(ctx_, topic, p, destination_end)) co_return std::nullopt;
  auto last =
      co_await last_batch_producer(ctx_.destination, ctx_.mirror_name(topic), p, destination_end);
  if (!last) co_return std::unexpected(std::move(last.error()));
  co_return *last;
}

asio::awaitable<result<void>> offset_book::start_partitions(
    const std::string& topic, const std::vector<int32_t>& partitions,
    const std::vector<int64_t>& fresh_starts, bool fresh) {
  const int32_t needed = partitions.empty() ? 0 : std::ranges::max(partitions) + 1;
  const std::string mirror = ctx_.mirror_name(topic);
  const std::vector<std::string> just_mirror{mirror};
  client::topic_offsets destination_ends;
  // A just-created partition's leader may not serve ListOffsets for a moment.
  for (int attempt = 0; attempt < 50 && !ctx_.stopping; ++attempt) {
    destination_ends = co_await client::list_offsets(
        ctx_.destination, mirror, client::latest_timestamp, client::isolation::read_uncommitted);
    if (destination_ends && static_cast<int32_t>(destination_ends->size()) >= needed) break;
    co_await sleep_for(std::chrono::milliseconds(200));
    co_await ctx_.destination.refresh_metadata(just_mirror);
  }
  if (!destination_ends)
    co_return std::unexpected(std::move(destination_ends.error()).within("destination offsets"));
  if (static_cast<int32_t>(destination_ends->size()) < needed)
    co_return std::unexpected(
        error(errc::not_ready, {}, "the mirror topic lacks partitions").at(mirror));
  if (static_cast<int32_t>(fresh_starts.size()) < needed)
    co_return std::unexpected(
        error(errc::partition_count_changed, {}, "the source topic lacks partitions").at(topic));

  // Where each partition resumes: from its checkpoint (advanced over whatever
  // the destination holds beyond it), or from its fresh start.
  std::vector<partition_plan> plans;
  std::vector<std::pair<std::string, std::string>> initial;
  for (const int32_t p : partitions) {
    const auto i = static_cast<std::size_t>(p);
    const std::string key = offsets::checkpoint_key(ctx_.name(), topic, p);
    const std::string* checkpoint = fresh ? nullptr : checkpoints_.find(key);
    auto map = co_await resume_map(ctx_.source, topic, p, checkpoint, fresh_starts[i],
                                   (*destination_ends)[i]);
    if (!map && map.error().is(errc::unreadable_state)) {
      hold_unreadable(topic, p, key, std::move(map.error()));
      continue;
    }
    if (!map) co_return std::unexpected(std::move(map.error()).at(topic, p));
    auto producer = co_await continued_producer(topic, p, (*destination_ends)[i]);
    if (!producer) co_return std::unexpected(std::move(producer.error()));
    initial.emplace_back(key, map->serialize());
    plans.push_back({p, std::move(*map), *producer});
  }
  // The starting point is durable before the first batch is sent, so a crash
  // at any moment after this leaves a checkpoint to resume from.
  if (auto written = co_await checkpoints_.write(initial); !written)
    co_return std::unexpected(
        std::move(written.error()).within("cannot write the initial checkpoint"));
  for (auto& plan : plans) {
    auto& map = plan.map;
    if (map.mirrored_source_offset() != fresh_starts[static_cast<std::size_t>(plan.partition)] ||
        map.destination_end_offset() != 0) {
      log::info("mirror partition resumes from its checkpoint",
                {{"link", ctx_.name()},
                 {"topic", topic},
                 {"partition", plan.partition},
                 {"source_offset", map.mirrored_source_offset()},
                 {"destination_offset", map.destination_end_offset()}});
    }
    ctx_.engine.add_partition(
        mirror::partition_start{.source_topic = topic,
                                .mirror_topic = mirror,
                                .partition = plan.partition,
                                .source_offset = map.mirrored_source_offset(),
                                .destination_offset = map.destination_end_offset(),
                                .producer = plan.producer,
                                .failure = std::nullopt});
    maps_.insert_or_assign({topic, plan.partition}, std::move(map));
  }
  co_return ok();
}

void offset_book::record(const mirror::acknowledgement& ack) {
  auto it = maps_.find({ack.partition.source_topic, ack.partition.partition});
  if (it == maps_.end()) return;
  std::vector<offsets::source_run> runs;
  runs.reserve(ack.source_runs.size());
  for (const auto& r : ack.source_runs)
    runs.push_back({r.source_offset, r.count});
  if (!it->second.record_batch(runs, ack.destination_base_offset, ack.source_last_offset + 1)) {
    log::error("acknowledged batch does not extend the offset map",
               {{"link", ctx_.name()},
                {"topic", ack.partition.source_topic},
                {"partition", ack.partition.partition},
                {"source_offset", ack.source_base_offset},
                {"destination_offset", ack.destination_base_offset}});
  }
}

asio::awaitable<result<void>> offset_book::write() {
  std::vector<std::pair<std::string, std::string>> entries;
  for (const auto& p : ctx_.engine.partitions()) {
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
    const std::string key = offsets::checkpoint_key(ctx_.name(), p->source_topic, p->partition);
    if (last_written_[key] == value) continue;
    entries.emplace_back(key, value);
  }
  auto written = co_await checkpoints_.write(entries);
  if (!written) co_return written;
  for (auto& [key, value] : entries)
    last_written_[key] = std::move(value);
  co_return ok();
}

void offset_book::forget(const std::vector<topic_partition>& partitions) {
  for (const auto& tp : partitions) {
    maps_.erase(tp);
    last_written_.erase(offsets::checkpoint_key(ctx_.name(), tp.first, tp.second));
  }
}

std::optional<int64_t> offset_book::translate(const std::string& topic, int32_t partition,
                                              int64_t source_offset) const {
  auto it = maps_.find({topic, partition});
  if (it == maps_.end()) return std::nullopt;
  return it->second.translate(source_offset);
}

std::optional<int64_t> offset_book::translate_back(const std::string& topic, int32_t partition,
                                                   int64_t destination_offset) const {
  if (auto it = maps_.find({topic, partition}); it != maps_.end())
    return it->second.translate_back(destination_offset);
  const auto* checkpoint =
      checkpoints_.find(offsets::checkpoint_key(ctx_.name(), topic, partition));
  if (checkpoint == nullptr) return std::nullopt;
  auto map = offsets::offset_map::deserialize(*checkpoint);
  if (!map) return std::nullopt;
  return map->translate_back(destination_offset);
}

bool offset_book::has(const std::string& topic, int32_t partition) const {
  return maps_.contains({topic, partition});
}

}  // namespace klink::linker
