#include "linker/resume.h"

#include <vector>

#include "kafka/error_code.h"
#include "linker/partition_fetch.h"
#include "mirror/batch_transform.h"

namespace klink::linker {

namespace {

constexpr int8_t read_committed = 1;

// Advances `map` over the source batches that the destination already holds
// beyond the checkpoint: klink is the only writer of a mirror partition and
// copies the source's kept batches in order, one destination batch per source
// batch, so the next `records_ahead` destination records are exactly the
// records of the next kept source batches.
asio::awaitable<std::expected<void, std::string>> advance_over_destination_tail(
    kafka::cluster& source, const std::string& topic, int32_t partition, offsets::offset_map& map,
    int64_t records_ahead) {
  int32_t max_bytes = 1 << 20;
  while (records_ahead > 0) {
    auto reply = co_await fetch_partition_now(
        source, topic, partition, map.mirrored_source_offset(), max_bytes, read_committed);
    if (!reply) co_return std::unexpected(reply.error());
    auto& pd = reply->body.responses[0].partitions[0];
    if (pd.error_code != 0) {
      co_return std::unexpected(
          "fetch from the source at offset " + std::to_string(map.mirrored_source_offset()) + ": " +
          std::string(kafka::error_name(kafka::to_error_code(pd.error_code))));
    }
    if (!pd.records || pd.records->empty()) {
      co_return std::unexpected("the destination holds " + std::to_string(records_ahead) +
                                " records more than the source has after offset " +
                                std::to_string(map.mirrored_source_offset()));
    }
    mirror::transform_input input;
    input.owner = reply->buffer;
    input.records =
        kafka::mutable_bytes_view(const_cast<std::byte*>(pd.records->data()), pd.records->size());
    input.fetch_offset = map.mirrored_source_offset();
    if (pd.aborted_transactions) {
      for (const auto& at : *pd.aborted_transactions) {
        input.aborted.push_back({at.producer_id, at.first_offset});
      }
    }
    auto out = mirror::transform_fetched_records(std::move(input));
    mirror::rebuild_marked_batches(out);  // for the source offsets of holey batches
    const int64_t before = map.mirrored_source_offset();
    for (const auto& b : out.batches) {
      if (b.record_count > records_ahead) {
        co_return std::unexpected(
            "the destination's last batch does not line up with the source batch at offset " +
            std::to_string(b.source_base_offset));
      }
      std::vector<offsets::source_run> runs;
      if (b.holey_source_runs.empty()) {
        runs.push_back({b.source_base_offset, b.record_count});
      } else {
        for (const auto& r : b.holey_source_runs)
          runs.push_back({r.source_offset, r.count});
      }
      if (!map.record_batch(runs, map.destination_end_offset(), b.source_last_offset + 1)) {
        co_return std::unexpected("source batch at offset " + std::to_string(b.source_base_offset) +
                                  " does not extend the offset map");
      }
      records_ahead -= b.record_count;
      if (records_ahead == 0) co_return std::expected<void, std::string>{};
    }
    if (out.failure) co_return std::unexpected(out.failure->message());
    // Control markers and aborted batches after the last kept batch.
    map.record_gap(out.next_fetch_offset);
    if (map.mirrored_source_offset() == before) max_bytes *= 2;  // one batch was cut off
    if (max_bytes > (512 << 20)) co_return std::unexpected("a source batch is too large to read");
  }
  co_return std::expected<void, std::string>{};
}

}  // namespace

asio::awaitable<std::expected<offsets::offset_map, std::string>> resume_map(
    kafka::cluster& source, const std::string& topic, int32_t partition,
    const std::string* checkpoint, int64_t fresh_source_start, int64_t destination_end) {
  if (checkpoint == nullptr) {
    if (destination_end != 0) {
      co_return std::unexpected(
          "the mirror partition already holds records (end offset " +
          std::to_string(destination_end) +
          ") that klink has no checkpoint for; mirror into an empty topic, or delete this one");
    }
    co_return offsets::offset_map(fresh_source_start, destination_end);
  }
  auto map = offsets::offset_map::deserialize(*checkpoint);
  if (!map) co_return std::unexpected("unreadable checkpoint: " + map.error());
  if (destination_end < map->destination_end_offset()) {
    co_return std::unexpected("the mirror partition ends at " + std::to_string(destination_end) +
                              ", before klink's checkpoint at " +
                              std::to_string(map->destination_end_offset()) +
                              ": records were lost on the destination");
  }
  if (destination_end > map->destination_end_offset()) {
    auto advanced = co_await advance_over_destination_tail(
        source, topic, partition, *map, destination_end - map->destination_end_offset());
    if (!advanced)
      co_return std::unexpected("cannot line up the destination's tail: " + advanced.error());
  }
  co_return std::move(*map);
}

}  // namespace klink::linker
