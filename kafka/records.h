// The records inside a RecordBatch v2 (DefaultRecord.java): decode them,
// encode them, and rebuild a batch when it cannot be forwarded as it is
// (offset holes after compaction, LogAppendTime conversion).
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "kafka/batch_error.h"
#include "kafka/compression.h"
#include "kafka/protocol/bytes.h"
#include "kafka/record_batch.h"

namespace klink::kafka {

struct record_header {
  std::string_view key;  // Kafka forbids null header keys
  std::optional<bytes_view> value;
};

// One record as it is stored: timestamp and offset are deltas from the
// batch's base timestamp and base offset.
struct record {
  std::int8_t attributes = 0;  // unused by Kafka so far, kept as read
  std::int64_t timestamp_delta = 0;
  std::int32_t offset_delta = 0;
  std::optional<bytes_view> key;
  std::optional<bytes_view> value;
  std::vector<record_header> headers;
};

// The records of one batch. The views point into `buffer` for a compressed
// batch and into the batch's own bytes otherwise, so this must not outlive
// the batch's buffer. Move-only: moving keeps `buffer`'s storage (and thus
// the views) in place; a copy would not.
struct decoded_records {
  byte_vector buffer;
  std::vector<record> records;

  decoded_records() = default;
  decoded_records(decoded_records&&) = default;
  decoded_records& operator=(decoded_records&&) = default;
  decoded_records(const decoded_records&) = delete;
  decoded_records& operator=(const decoded_records&) = delete;
};

// Decodes exactly `count` records that must fill `data` completely (Kafka's
// own check). Bounded: lengths are checked against the bytes left, varints
// are at most 5 (int) / 10 (long) bytes, so corrupt input yields
// corrupt_records, never a crash or a huge allocation.
std::expected<std::vector<record>, batch_error> decode_record_sequence(bytes_view data,
                                                                       std::int32_t count);

// Decompresses (bounded by `max_decompressed`) and decodes a batch's records.
// Does not check the CRC.
std::expected<decoded_records, batch_error> decode_records(
    const record_batch_view& batch, std::size_t max_decompressed = default_max_decompressed_size);

// Appends one record in DefaultRecord v2 form (length-prefixed).
void encode_record(byte_vector& out, const record& r);

struct rebuild_options {
  // A LogAppendTime batch becomes CreateTime, every record stamped with the
  // batch's max_timestamp (the time the source broker appended it), so the
  // destination keeps the source's timestamps instead of reverting to the
  // producers' ones.
  bool log_append_time_to_create_time = false;
  std::size_t max_decompressed_size = default_max_decompressed_size;
};

// The slow path. Decodes the records, renumbers offset deltas 0..n-1 keeping
// every record's absolute timestamp, key, value and headers, and re-encodes
// with the same codec: base offset 0, partition leader epoch -1, base
// timestamp = the first record's timestamp, max timestamp recomputed (kept as
// the source's for a LogAppendTime batch that is not converted), the delete
// horizon bit cleared (its base timestamp no longer means a horizon), other
// attributes and the producer id / epoch / base sequence copied from the
// source (call rewrite_header_for_produce afterwards), fresh CRC.
// An empty batch (count 0) is an invalid_argument: there is nothing to send.
std::expected<byte_vector, batch_error> rebuild_batch(const record_batch_view& src,
                                                      const rebuild_options& opt = {});

struct record_to_write {
  std::int64_t timestamp = no_timestamp;  // absolute, CreateTime
  std::optional<bytes_view> key;
  std::optional<bytes_view> value;
  std::vector<record_header> headers;
};

// Builds a fresh CreateTime batch (klink's own records, e.g. checkpoints):
// base offset 0, producer -1/-1/-1, offset deltas 0..n-1, timestamp deltas
// relative to `base_timestamp`. At least one record is required.
std::expected<byte_vector, batch_error> build_batch(compression_codec codec,
                                                    std::int64_t base_timestamp,
                                                    std::span<const record_to_write> records);

}  // namespace klink::kafka
