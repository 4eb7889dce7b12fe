#include "mirror/batch_transform.h"

#include <algorithm>
#include <unordered_set>

#include "kafka/record_batch.h"
#include "kafka/records.h"

namespace klink::mirror {

namespace {

// Control record keys are (int16 version, int16 type); type 0 is ABORT.
bool is_abort_marker(const kafka::record_batch_view& batch) {
  auto decoded = kafka::decode_records(batch);
  if (!decoded || decoded->records.empty()) return false;
  const auto& key = decoded->records.front().key;
  if (!key || key->size() < 4) return false;
  const auto type =
      (std::to_integer<uint16_t>((*key)[2]) << 8) | std::to_integer<uint16_t>((*key)[3]);
  return type == 0;
}

// The batch at `offset` cannot be copied: what came before it stays in `out`.
void fail_at(transform_output& out, int64_t offset, std::string detail) {
  out.error_offset = offset;
  out.failure = klink::error(klink::errc::corrupt_data, "Fetch", std::move(detail));
}

// What a RecordBatch-layer error says about the batch at `offset`.
std::string describe(std::string_view what, int64_t offset, const kafka::batch_error& e) {
  return std::string(what) + " record batch at offset " + std::to_string(offset) + ": " + e.message;
}

}  // namespace

transform_output transform_fetched_records(transform_input input) {
  transform_output out;
  out.next_fetch_offset = input.fetch_offset;

  // READ_COMMITTED filtering as Kafka's consumer does it: an aborted
  // transaction's producer is "aborted" from its first offset until its ABORT marker.
  std::sort(input.aborted.begin(), input.aborted.end(),
            [](const auto& a, const auto& b) { return a.first_offset < b.first_offset; });
  std::size_t next_aborted = 0;
  std::unordered_set<int64_t> aborted_producers;

  kafka::batch_reader reader(input.records);
  while (true) {
    auto next = reader.next();
    if (!next) {
      fail_at(out, out.next_fetch_offset,
              describe("unreadable", out.next_fetch_offset, next.error()));
      return out;
    }
    if (!*next) break;  // end, or a trailing partial batch (normal in Fetch)
    kafka::record_batch_view batch = **next;
    if (batch.last_offset() < input.fetch_offset) continue;  // already copied
    if (!batch.crc_valid()) {
      fail_at(out, batch.base_offset(),
              "CRC mismatch in record batch at offset " + std::to_string(batch.base_offset()) +
                  " (stored " + std::to_string(batch.stored_crc()) + ", computed " +
                  std::to_string(batch.compute_crc()) + ")");
      return out;
    }
    while (next_aborted < input.aborted.size() &&
           input.aborted[next_aborted].first_offset <= batch.last_offset()) {
      aborted_producers.insert(input.aborted[next_aborted].producer_id);
      ++next_aborted;
    }
    const int64_t last = batch.last_offset();
    if (batch.is_control()) {
      if (is_abort_marker(batch)) aborted_producers.erase(batch.producer_id());
      ++out.counters.control_batches_dropped;
      out.next_fetch_offset = last + 1;
      continue;
    }
    if (batch.is_transactional() && aborted_producers.contains(batch.producer_id())) {
      ++out.counters.aborted_batches_dropped;
      out.next_fetch_offset = last + 1;
      continue;
    }

    // Compaction can empty a batch entirely (Kafka keeps it for producer
    // state); there is nothing to copy.
    if (batch.records_count() == 0) {
      out.next_fetch_offset = last + 1;
      continue;
    }

    outbound_batch ob;
    ob.source_base_offset = batch.base_offset();
    ob.source_last_offset = last;
    ob.record_count = batch.records_count();
    // Brokers reject a client batch whose offsets have holes (compaction), and a
    // LogAppendTime batch would be re-stamped by the destination (mirrors are
    // CreateTime, ARCHITECTURE.md "Timestamps"): those two take the slow path.
    ob.owner = input.owner;
    ob.bytes = batch.bytes();
    if (batch.has_offset_holes() || batch.has_log_append_time()) {
      // Rebuilt later by rebuild_marked_batches, off the network thread.
      ob.needs_rebuild = true;
      ++out.counters.batches_rebuilt;
    } else {
      ++out.counters.batches_kept;
    }
    out.counters.records_kept += static_cast<uint64_t>(ob.record_count);
    out.batches.push_back(std::move(ob));
    out.next_fetch_offset = last + 1;
  }
  return out;
}

void rebuild_marked_batches(transform_output& out) {
  for (std::size_t i = 0; i < out.batches.size(); ++i) {
    auto& ob = out.batches[i];
    if (!ob.needs_rebuild) continue;
    auto view = kafka::record_batch_view::from_bytes(ob.bytes);
    if (view && view->has_offset_holes()) {
      // Where each surviving record sat on the source: the offset map needs it
      // to translate offsets that fall into the holes exactly.
      if (auto records = kafka::decode_records(*view)) {
        for (const auto& r : records->records) {
          const int64_t offset = ob.source_base_offset + r.offset_delta;
          auto& runs = ob.holey_source_runs;
          if (!runs.empty() && runs.back().source_offset + runs.back().count == offset) {
            ++runs.back().count;
          } else {
            runs.push_back({offset, 1});
          }
        }
      }
    }
    kafka::rebuild_options options;
    options.log_append_time_to_create_time = view && view->has_log_append_time();
    auto rebuilt =
        view ? kafka::rebuild_batch(*view, options)
             : std::expected<kafka::byte_vector, kafka::batch_error>(std::unexpected(view.error()));
    if (!rebuilt) {
      fail_at(out, ob.source_base_offset,
              describe("cannot rebuild", ob.source_base_offset, rebuilt.error()));
      out.next_fetch_offset = ob.source_base_offset;
      out.batches.resize(i);
      return;
    }
    ob.owner = std::make_shared<kafka::byte_vector>(std::move(*rebuilt));
    ob.bytes = kafka::mutable_bytes_view(ob.owner->data(), ob.owner->size());
    ob.needs_rebuild = false;
    ob.rebuilt = true;
  }
}

}  // namespace klink::mirror
