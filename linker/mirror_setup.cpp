// Setting up a mirror: its state record, its topic on the destination (the
// source's partition count and synced configs), and where its partitions start.
#include <numeric>

#include "kafka/client/list_offsets.h"
#include "kafka/client/topics.h"
#include "kafka/error_code.h"
#include "kafka/sleep.h"
#include "linker/lifecycle.h"
#include "linker/link_context.h"
#include "linker/mirror_names.h"
#include "linker/mirror_topic_config.h"
#include "linker/offset_book.h"
#include "linker/scale_out.h"
#include "linker/topic_follower.h"
#include "log/log.h"

namespace klink::linker {

namespace {
using kafka::error_code;

std::string_view start_text(start_position mode) {
  return mode == start_position::earliest ? "earliest"
         : mode == start_position::latest ? "latest"
                                          : "timestamp";
}
}  // namespace

asio::awaitable<bool> topic_follower::set_up_mirror(const std::string& topic,
                                                    bool listed_at_start) {
  const std::string mirror = ctx_.mirror_name(topic);
  auto give_up = [&](const error& why) {
    if (failed_topics_.insert(topic).second) {
      log::error("cannot set up mirror topic; retrying at the next topic refresh",
                 {{"link", ctx_.name()},
                  {"topic", topic},
                  {"mirror_topic", mirror},
                  {"reason", why.message()}});
    }
    return false;
  };
  const auto* source_meta = ctx_.source.topic(topic);
  if (source_meta == nullptr || source_meta->error != 0)
    co_return give_up(error(errc::not_in_metadata, {}, "source topic not available"));
  const auto partitions = static_cast<int32_t>(source_meta->partitions.size());
  if (auto problem = topic_name_problem(mirror); !problem.empty())
    co_return give_up(
        error(errc::invalid_argument, {}, "mirror topic name '" + mirror + "': " + problem));
  bool renamed = false;
  if (auto recorded = co_await record_mirror(topic, mirror, renamed); !recorded) {
    if (recorded.error().is(errc::stopping)) co_return false;  // the source topic was recreated
    co_return give_up(recorded.error());
  }
  if (auto created = co_await create_mirror_topic(topic, partitions); !created)
    co_return give_up(created.error());
  // A source that grew while klink was away grows its mirror too.
  if (auto ready = co_await ensure_mirror_partitions(topic, partitions); !ready)
    co_return give_up(ready.error());
  if (auto started = co_await start_mirror(topic, partitions, listed_at_start, renamed); !started)
    co_return give_up(started.error());
  mirrored_.insert(topic);
  failed_topics_.erase(topic);
  co_return true;
}

asio::awaitable<result<void>> topic_follower::record_mirror(const std::string& topic,
                                                            const std::string& mirror,
                                                            bool& renamed) {
  const std::string source_id = ctx_.source.topic(topic)->topic_id.to_string();
  // The mirror is recorded before its topic exists: from then on any link
  // reading this cluster's state knows the topic is a mirror.
  auto& record = ctx_.lifecycle->record(topic);
  if (!record.source_topic_id.empty() && record.source_topic_id != source_id) {
    stop_for_source(topic, "FAILED",
                    "SOURCE_TOPIC_RECREATED: the source topic was deleted and created again "
                    "(topic id " +
                        source_id + ", the mirror copied " + record.source_topic_id +
                        "); the mirror keeps the old topic's data and copies nothing more");
    co_return std::unexpected(error(errc::stopping, "set up"));
  }
  // Checkpoints are kept per source topic. A mirror recorded under another
  // name (the link's prefix changed) has checkpoints that describe that
  // topic, not this one: the new mirror starts afresh, the old one stays as it is.
  // Records and checkpoints from before prefixes existed name no mirror
  // topic: that mirror had the source topic's name.
  const std::string recorded_name = record.mirror_topic.empty() ? topic : record.mirror_topic;
  const bool mirrored_before = !record.source_topic_id.empty() || ctx_.book->checkpointed(topic);
  renamed = mirrored_before && recorded_name != mirror;
  if (renamed) {
    log::warn(
        "the link's prefix changed: the mirror starts afresh under its new name; the old "
        "mirror topic is kept as it is and no longer written",
        {{"link", ctx_.name()},
         {"topic", topic},
         {"mirror_topic", mirror},
         {"old_mirror_topic", recorded_name}});
  }
  const std::string& source_cluster = ctx_.source.metadata().cluster_id;
  if (!record.source_topic_id.empty() && record.mirror_topic == mirror &&
      record.source_cluster_id == source_cluster)
    co_return ok();
  record.source_topic_id = source_id;
  record.mirror_topic = mirror;
  record.source_cluster_id = source_cluster;
  const std::vector<std::string> just_this{topic};
  if (auto written = co_await ctx_.lifecycle->persist(just_this); !written)
    co_return std::unexpected(
        std::move(written.error()).within("cannot record the mirror in klink's state"));
  co_return ok();
}

asio::awaitable<result<void>> topic_follower::create_mirror_topic(const std::string& topic,
                                                                  int32_t partitions) {
  const std::string mirror = ctx_.mirror_name(topic);
  // (g++ 12 cannot compile a braced list inside a co_await expression.)
  const std::vector<std::string> just_this_topic{topic};
  auto source_configs = co_await describe_configs(ctx_.source, just_this_topic);
  if (!source_configs) co_return std::unexpected(source_configs.error());
  const std::vector<std::string> just_mirror{mirror};
  auto refreshed = co_await ctx_.destination.refresh_metadata(just_mirror);
  if (!refreshed)
    co_return std::unexpected(std::move(refreshed.error()).within("destination metadata"));
  const auto* mirror_meta = ctx_.destination.topic(mirror);
  if (mirror_meta != nullptr &&
      mirror_meta->error != static_cast<int16_t>(error_code::unknown_topic_or_partition))
    co_return ok();
  client::new_topic request{
      mirror, partitions, ctx_.options.replication_factor,
      mirror_topic_configs((*source_configs)[topic], ctx_.options.synced_configs)};
  if (auto created = co_await client::create_topic(ctx_.destination, request); !created)
    co_return std::unexpected(std::move(created.error()));
  log::info("mirror topic created", {{"link", ctx_.name()},
                                     {"topic", topic},
                                     {"mirror_topic", mirror},
                                     {"partitions", partitions}});
  co_return ok();
}

asio::awaitable<result<void>> topic_follower::start_mirror(const std::string& topic,
                                                           int32_t partitions, bool listed_at_start,
                                                           bool fresh) {
  const std::string mirror = ctx_.mirror_name(topic);
  // Scale-out: each partition is started by the instance it is assigned to.
  if (ctx_.scale_out) {
    ctx_.scale_out->prepare(topic, partitions);
    co_return ok();
  }
  auto starts = co_await start_offsets(topic, listed_at_start);
  if (!starts) co_return std::unexpected(std::move(starts.error()).within("source offsets"));
  if (static_cast<int32_t>(starts->size()) != partitions)
    co_return std::unexpected(error(errc::partition_count_changed, {},
                                    "source partition count changed while setting up; retrying"));
  std::vector<int32_t> all(static_cast<std::size_t>(partitions));
  std::iota(all.begin(), all.end(), 0);
  if (auto started = co_await ctx_.book->start_partitions(topic, all, *starts, fresh); !started)
    co_return started;
  if (ctx_.lifecycle->phase(topic) == mirror_phase::paused) {
    log::info("mirror stays paused, as it was when klink stopped",
              {{"link", ctx_.name()}, {"topic", topic}});
    ctx_.lifecycle->pause(topic);
  }
  const auto mode = listed_at_start ? ctx_.options.start : start_position::earliest;
  log::info("mirroring topic", {{"link", ctx_.name()},
                                {"topic", topic},
                                {"mirror_topic", mirror},
                                {"partitions", partitions},
                                {"start", start_text(mode)}});
  co_return ok();
}

asio::awaitable<result<std::vector<int64_t>>> topic_follower::start_offsets(
    const std::string& topic, bool listed_at_start) {
  const std::vector<std::string> just_this_topic{topic};
  // Where a partition with no checkpoint starts. Topics that appear after
  // the link's first discovery are new in full: from their start.
  auto mode = listed_at_start ? ctx_.options.start : start_position::earliest;
  const int64_t start_timestamp = mode == start_position::earliest ? client::earliest_timestamp
                                  : mode == start_position::latest
                                      ? client::latest_timestamp
                                      : ctx_.options.start_timestamp_ms;
  // A just-created topic's leaders may not serve ListOffsets for a moment.
  client::topic_offsets starts;
  for (int attempt = 0; attempt < 50 && !ctx_.stopping; ++attempt) {
    starts = co_await client::list_offsets(ctx_.source, topic, start_timestamp,
                                           client::isolation::read_committed);
    if (starts && mode == start_position::timestamp &&
        std::ranges::any_of(*starts, [](int64_t o) { return o < 0; })) {
      // No record at or after the timestamp: start at the end.
      auto ends = co_await client::list_offsets(ctx_.source, topic, client::latest_timestamp,
                                                client::isolation::read_committed);
      if (ends && ends->size() == starts->size()) {
        for (std::size_t i = 0; i < starts->size(); ++i) {
          if ((*starts)[i] < 0) (*starts)[i] = (*ends)[i];
        }
      } else if (ends) {
        starts = std::unexpected(
            error(errc::partition_count_changed, "ListOffsets").on("source").at(topic));
      } else {
        starts = std::move(ends);
      }
    }
    if (starts) break;
    co_await sleep_for(std::chrono::milliseconds(200));
    co_await ctx_.source.refresh_metadata(just_this_topic);
  }
  co_return starts;
}

asio::awaitable<result<void>> topic_follower::ensure_mirror_partitions(const std::string& topic,
                                                                       int32_t partitions) {
  const std::string mirror = ctx_.mirror_name(topic);
  const std::vector<std::string> just_mirror{mirror};
  bool asked = false;
  for (int attempt = 0; attempt < 100 && !ctx_.stopping; ++attempt) {
    auto refreshed = co_await ctx_.destination.refresh_metadata(just_mirror);
    if (!refreshed)
      co_return std::unexpected(std::move(refreshed.error()).within("destination metadata"));
    const auto* meta = ctx_.destination.topic(mirror);
    const auto have = meta == nullptr ? 0 : static_cast<int32_t>(meta->partitions.size());
    if (have > partitions) {
      co_return std::unexpected(error(errc::state_mismatch, {},
                                      "mirror topic " + mirror + " has " + std::to_string(have) +
                                          " partitions, the source has " +
                                          std::to_string(partitions)));
    }
    if (meta != nullptr && meta->error == 0 && have == partitions &&
        std::ranges::all_of(meta->partitions, [](const auto& p) { return p.leader >= 0; })) {
      co_return ok();
    }
    if (meta != nullptr && meta->error == 0 && have > 0 && have < partitions && !asked) {
      asked = true;
      // The destination places them; one that already has them (an earlier
      // attempt won) is a success.
      if (auto added = co_await client::create_partitions(ctx_.destination, mirror, partitions);
          !added)
        co_return added;
      log::info("mirror topic partitions added", {{"link", ctx_.name()},
                                                  {"topic", topic},
                                                  {"mirror_topic", mirror},
                                                  {"partitions_before", have},
                                                  {"partitions", partitions}});
    }
    co_await sleep_for(std::chrono::milliseconds(100));
  }
  co_return std::unexpected(error(errc::not_ready, {},
                                  "mirror topic " + mirror + " has no leaders for all " +
                                      std::to_string(partitions) + " partitions yet"));
}

}  // namespace klink::linker
