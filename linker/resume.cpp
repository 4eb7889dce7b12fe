#include "linker/resume.h"

#include <vector>

#include "kafka/client/partition_io.h"
#include "mirror/batch_transform.h"

namespace klink::linker {

namespace client = kafka::client;

namespace {

using kafka::client::isolation;

error tail_error(const std::string& topic, int32_t partition, std::string detail) {
  return error(errc::state_mismatch, "resume", std::move(detail)).on("source").at(topic, partition);
}

// The map's runs for one kept batch: one run, or a compacted batch's holes.
std::vector<offsets::source_run> runs_of(const mirror::outbound_batch& b) {
  std::vector<offsets::source_run> runs;
  if (b.holey_source_runs.empty()) {
    runs.push_back({b.source_base_offset, b.record_count});
  } else {
    for (const auto& r : b.holey_source_runs)
      runs.push_back({r.source_offset, r.count});
  }
  return runs;
}

// Advances `map` over the source batches that the destination already holds
// beyond the checkpoint: klink is the only writer of a mirror partition and
// copies the source's kept batches in order, one destination batch per source
// batch, so the next `records_ahead` destination records are exactly the
// records of the next kept source batches.
asio::awaitable<result<void>> advance_over_destination_tail(kafka::cluster& source,
                                                            const std::string& topic,
                                                            int32_t partition,
                                                            offsets::offset_map& map,
                                                            int64_t records_ahead) {
  int32_t max_bytes = 1 << 20;
  while (records_ahead > 0) {
    const int64_t before = map.mirrored_source_offset();
    auto fetched = co_await client::fetch_partition(source, topic, partition, before, max_bytes,
                                                    isolation::read_committed);
    if (!fetched) co_return std::unexpected(std::move(fetched.error()));
    if (fetched->out_of_range || fetched->records.empty()) {
      co_return std::unexpected(tail_error(
          topic, partition,
          "the destination holds " + std::to_string(records_ahead) +
              " records more than the source has after offset " + std::to_string(before)));
    }
    mirror::transform_input input;
    input.owner = fetched->buffer;
    input.records = fetched->records;
    input.fetch_offset = before;
    for (const auto& at : fetched->aborted)
      input.aborted.push_back({at.producer_id, at.first_offset});
    auto out = mirror::transform_fetched_records(std::move(input));
    mirror::rebuild_marked_batches(out);  // for the source offsets of holey batches
    for (const auto& b : out.batches) {
      if (b.record_count > records_ahead) {
        co_return std::unexpected(tail_error(
            topic, partition,
            "the destination's last batch does not line up with the source batch at offset " +
                std::to_string(b.source_base_offset)));
      }
      if (!map.record_batch(runs_of(b), map.destination_end_offset(), b.source_last_offset + 1)) {
        co_return std::unexpected(tail_error(topic, partition,
                                             "source batch at offset " +
                                                 std::to_string(b.source_base_offset) +
                                                 " does not extend the offset map"));
      }
      records_ahead -= b.record_count;
      if (records_ahead == 0) co_return ok();
    }
    if (out.failure) co_return std::unexpected(std::move(*out.failure));
    // Control markers and aborted batches after the last kept batch.
    map.record_gap(out.next_fetch_offset);
    if (map.mirrored_source_offset() == before) max_bytes *= 2;  // one batch was cut off
    if (max_bytes > (512 << 20))
      co_return std::unexpected(
          error(errc::too_large, "Fetch", "a source batch is too large to read")
              .on("source")
              .at(topic, partition));
  }
  co_return ok();
}

}  // namespace

asio::awaitable<result<offsets::offset_map>> resume_map(kafka::cluster& source,
                                                        const std::string& topic, int32_t partition,
                                                        const std::string* checkpoint,
                                                        int64_t fresh_source_start,
                                                        int64_t destination_end) {
  if (checkpoint == nullptr) {
    if (destination_end != 0) {
      co_return std::unexpected(error(errc::state_mismatch, "resume",
                                      "the mirror partition already holds records (end offset " +
                                          std::to_string(destination_end) +
                                          ") that klink has no checkpoint for; mirror into an "
                                          "empty topic, or delete this one"));
    }
    co_return offsets::offset_map(fresh_source_start, destination_end);
  }
  auto map = offsets::offset_map::deserialize(*checkpoint);
  if (!map) co_return std::unexpected(std::move(map.error()).within("unreadable checkpoint"));
  if (destination_end < map->destination_end_offset()) {
    co_return std::unexpected(error(
        errc::state_mismatch, "resume",
        "the mirror partition ends at " + std::to_string(destination_end) +
            ", before klink's checkpoint at " + std::to_string(map->destination_end_offset()) +
            ": records were lost on the destination"));
  }
  if (destination_end > map->destination_end_offset()) {
    auto advanced = co_await advance_over_destination_tail(
        source, topic, partition, *map, destination_end - map->destination_end_offset());
    if (!advanced)
      co_return std::unexpected(
          std::move(advanced.error()).within("cannot line up the destination's tail"));
  }
  co_return std::move(*map);
}

}  // namespace klink::linker
