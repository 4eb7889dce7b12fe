// libFuzzer target: one partition's records as a Fetch response carries them
// (kafka/record_batch.h, kafka/records.h). The batch walker, then for every
// batch: its records (decompressed, bounded), the slow-path rebuild and the
// header rewrite for Produce.
//
// Properties: the walker's batches are what from_bytes accepts; decoded
// records re-encode to records that decode the same; a rebuilt batch is a
// valid batch without holes holding the same records with the same absolute
// timestamps; a rewritten header leaves a valid CRC and the records untouched.
#include <algorithm>
#include <cstring>

#include "fuzz_check.h"
#include "kafka/record_batch.h"
#include "kafka/records.h"

namespace {

using namespace klink::kafka;
using klink::fuzz::check;

// Small enough for fast runs (a bomb costs its limit on every input), large
// enough for the seeds' batches.
constexpr std::size_t max_decompressed = 256 << 10;

bool same_bytes(const std::optional<bytes_view>& a, const std::optional<bytes_view>& b) {
  if (a.has_value() != b.has_value()) return false;
  return !a || std::equal(a->begin(), a->end(), b->begin(), b->end());
}

// Everything but the offset and timestamp deltas, which a rebuild renumbers.
bool same_content(const record& a, const record& b) {
  if (a.attributes != b.attributes || !same_bytes(a.key, b.key) || !same_bytes(a.value, b.value) ||
      a.headers.size() != b.headers.size())
    return false;
  for (std::size_t i = 0; i < a.headers.size(); ++i) {
    if (a.headers[i].key != b.headers[i].key || !same_bytes(a.headers[i].value, b.headers[i].value))
      return false;
  }
  return true;
}

int64_t wrapped_sum(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}

void check_reencode(const std::vector<record>& records) {
  byte_vector plain;
  for (const auto& r : records)
    encode_record(plain, r);
  auto again = decode_record_sequence(plain, static_cast<int32_t>(records.size()));
  check(again.has_value(), "encoded records decode");
  for (std::size_t i = 0; i < records.size(); ++i) {
    check(same_content(records[i], (*again)[i]) &&
              records[i].offset_delta == (*again)[i].offset_delta &&
              records[i].timestamp_delta == (*again)[i].timestamp_delta,
          "records survive encode/decode");
  }
  byte_vector twice;
  for (const auto& r : *again)
    encode_record(twice, r);
  check(twice == plain, "encoding decoded records is stable");
}

void check_rebuild(const record_batch_view& batch, const decoded_records& original) {
  rebuild_options options;
  options.log_append_time_to_create_time = batch.has_log_append_time();
  options.max_decompressed_size = max_decompressed;
  auto rebuilt = rebuild_batch(batch, options);
  if (original.records.empty()) {
    check(!rebuilt.has_value(), "an empty batch is not rebuilt");
    return;
  }
  // Offsets that do not increase inside the batch are refused; otherwise
  // only the codec may fail.
  bool increasing = true;
  int64_t previous = -1;
  for (const auto& r : original.records) {
    increasing =
        increasing && r.offset_delta > previous && r.offset_delta <= batch.last_offset_delta();
    previous = r.offset_delta;
  }
  if (!increasing) {
    check(!rebuilt && rebuilt.error().kind == batch_error_kind::corrupt_records,
          "a rebuild refuses offsets that do not increase");
    return;
  }
  if (!rebuilt) {
    check(rebuilt.error().kind == batch_error_kind::compression_failed,
          "rebuild fails only to compress");
    return;
  }
  auto view = record_batch_view::from_bytes(*rebuilt);
  check(view.has_value() && view->crc_valid(), "a rebuilt batch is valid");
  check(!view->has_offset_holes(), "a rebuilt batch has no holes");
  check(view->codec() == batch.codec(), "a rebuilt batch keeps its codec");
  check(!options.log_append_time_to_create_time || !view->has_log_append_time(),
        "a converted batch is CreateTime");
  // Re-encoded timestamp deltas may be longer varints than the original ones.
  auto records = decode_records(*view, 4 * max_decompressed);
  check(records.has_value(), "a rebuilt batch decodes");
  check(records->records.size() == original.records.size(), "a rebuild keeps every record");
  for (std::size_t i = 0; i < records->records.size(); ++i) {
    const record& was = original.records[i];
    const record& now = records->records[i];
    check(same_content(was, now), "a rebuild keeps keys, values and headers");
    check(now.offset_delta == static_cast<int32_t>(i), "a rebuild renumbers offsets");
    const int64_t expected = options.log_append_time_to_create_time
                                 ? batch.max_timestamp()
                                 : wrapped_sum(batch.base_timestamp(), was.timestamp_delta);
    check(wrapped_sum(view->base_timestamp(), now.timestamp_delta) == expected,
          "a rebuild keeps every record's timestamp");
  }
}

void check_rewrite(const record_batch_view& batch) {
  byte_vector copy(batch.bytes().begin(), batch.bytes().end());
  auto view = record_batch_view::from_bytes(copy);
  check(view.has_value(), "a copied batch is a batch");
  rewrite_header_for_produce(*view, 42, 7, 1000);
  check(view->crc_valid() && view->base_offset() == 0 && !view->is_transactional() &&
            view->producer_id() == 42 && view->producer_epoch() == 7 &&
            view->base_sequence() == 1000,
        "a rewritten header is valid and says what was asked");
  const auto before = batch.records_section();
  const auto after = view->records_section();
  check(std::equal(before.begin(), before.end(), after.begin(), after.end()),
        "a header rewrite leaves the records alone");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  byte_vector blob(size);
  if (size > 0) std::memcpy(blob.data(), data, size);
  batch_reader reader(blob);
  while (true) {
    auto next = reader.next();
    if (!next) {
      check(!reader.next().has_value(), "a walker error is final");
      break;
    }
    if (!*next) break;
    const record_batch_view batch = **next;
    check(record_batch_view::from_bytes(batch.bytes()).has_value(), "walked batches are batches");
    check_rewrite(batch);
    auto decoded = decode_records(batch, max_decompressed);
    if (!decoded) continue;
    check(decoded->records.size() == static_cast<std::size_t>(batch.records_count()),
          "a batch decodes to its records count");
    check_reencode(decoded->records);
    // Only what the mirror rebuilds: recompressing every batch would spend
    // most of each run in the compressors' set-up.
    if (batch.has_offset_holes() || batch.has_log_append_time()) check_rebuild(batch, *decoded);
  }
  check(reader.position() + reader.discarded_tail_bytes() <= blob.size(),
        "the walker stays inside the blob");
  return 0;
}
