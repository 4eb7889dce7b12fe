// libFuzzer target: the mirror's walk over one partition's fetched records
// (mirror/batch_transform.h): READ_COMMITTED filtering, the fast path, and
// the slow-path rebuild of marked batches.
//
// Input: [flags] [8-byte fetch offset if flags bit 3] [16 bytes per aborted
// transaction (producer id, first offset; flags bits 1-2 say how many)] then
// the records blob. flags bit 0: give every whole batch a correct CRC first,
// so that mutations reach past the CRC check.
//
// Properties: every batch the transform keeps is a valid batch with a
// correct CRC; after the rebuild none is marked, none has offset holes; the
// batches' source offsets increase; without a failure, the next fetch
// offset is after the last batch kept and never before the fetch offset.
#include <cstring>

#include "fuzz_check.h"
#include "kafka/crc32c.h"
#include "kafka/record_batch.h"
#include "mirror/batch_transform.h"

namespace {

using namespace klink;
using fuzz::check;

uint64_t load_u64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v = (v << 8) | p[i];
  return v;
}

void fix_crcs(kafka::byte_vector& blob) {
  namespace L = kafka::batch_layout;
  std::size_t pos = 0;
  while (blob.size() - pos >= L::header_size) {
    uint32_t length = 0;
    for (std::size_t i = 0; i < 4; ++i)
      length = (length << 8) | std::to_integer<uint32_t>(blob[pos + L::length + i]);
    const std::size_t size = std::size_t{length} + L::log_overhead;
    if (length < static_cast<uint32_t>(L::min_length) || size > blob.size() - pos) return;
    const uint32_t crc =
        kafka::crc32c(kafka::bytes_view(blob).subspan(pos + L::crc_start, size - L::crc_start));
    for (std::size_t i = 0; i < 4; ++i)
      blob[pos + L::crc + i] = static_cast<std::byte>(crc >> (24 - 8 * i));
    pos += size;
  }
}

void check_batches(const mirror::transform_output& out, bool rebuilt) {
  int64_t previous_last = -1;
  for (const auto& ob : out.batches) {
    auto view = kafka::record_batch_view::from_bytes(ob.bytes);
    check(view.has_value() && view->crc_valid(), "kept batches are valid batches");
    check(ob.record_count > 0, "kept batches hold records");
    check(ob.source_base_offset > previous_last && ob.source_last_offset >= ob.source_base_offset,
          "kept batches' offsets increase");
    previous_last = ob.source_last_offset;
    if (!rebuilt) continue;
    check(!ob.needs_rebuild && !view->has_offset_holes() && !view->has_log_append_time(),
          "a rebuild leaves nothing marked, no holes and no LogAppendTime");
    check(view->records_count() == ob.record_count, "a rebuild keeps the records count");
    int64_t next = ob.source_base_offset;
    for (const auto& run : ob.holey_source_runs) {
      check(run.count > 0 && run.source_offset >= next, "holey runs increase");
      next = run.source_offset + run.count;
    }
    check(next - 1 <= ob.source_last_offset, "holey runs stay inside the batch");
  }
  if (!out.failure && !out.batches.empty())
    check(out.next_fetch_offset > out.batches.back().source_last_offset,
          "the next fetch starts after the last batch kept");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t flags = data[0];
  std::size_t pos = 1;
  mirror::transform_input input;
  if ((flags & 8) != 0) {
    if (size - pos < 8) return 0;
    input.fetch_offset = static_cast<int64_t>(load_u64(data + pos));
    pos += 8;
  }
  for (int i = 0; i < ((flags >> 1) & 3); ++i) {
    if (size - pos < 16) return 0;
    input.aborted.push_back({static_cast<int64_t>(load_u64(data + pos)),
                             static_cast<int64_t>(load_u64(data + pos + 8))});
    pos += 16;
  }
  auto owner = std::make_shared<kafka::byte_vector>(size - pos);
  if (size > pos) std::memcpy(owner->data(), data + pos, size - pos);
  if ((flags & 1) != 0) fix_crcs(*owner);
  input.owner = owner;
  input.records = kafka::mutable_bytes_view(owner->data(), owner->size());
  const int64_t fetch_offset = input.fetch_offset;

  auto out = mirror::transform_fetched_records(std::move(input));
  check(out.failure || out.next_fetch_offset >= fetch_offset,
        "the next fetch offset never goes back");
  check_batches(out, false);
  mirror::rebuild_marked_batches(out);
  check_batches(out, true);
  return 0;
}
