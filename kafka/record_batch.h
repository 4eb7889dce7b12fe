// RecordBatch v2 at the byte level: read the header, walk a Fetch response's
// records blob, rewrite the producer fields for Produce. Everything here works
// on bytes in place; the records are never touched (see records.h for that).
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <span>

#include "kafka/batch_error.h"
#include "kafka/compression.h"
#include "kafka/protocol/bytes.h"

namespace klink::kafka {

// Byte offsets of the v2 header (DefaultRecordBatch.java). All integers are
// big-endian.
namespace batch_layout {
inline constexpr std::size_t base_offset = 0;
inline constexpr std::size_t length = 8;  // bytes after this field
inline constexpr std::size_t partition_leader_epoch = 12;
inline constexpr std::size_t magic = 16;
inline constexpr std::size_t crc = 17;
inline constexpr std::size_t attributes = 21;
inline constexpr std::size_t last_offset_delta = 23;
inline constexpr std::size_t base_timestamp = 27;
inline constexpr std::size_t max_timestamp = 35;
inline constexpr std::size_t producer_id = 43;
inline constexpr std::size_t producer_epoch = 51;
inline constexpr std::size_t base_sequence = 53;
inline constexpr std::size_t records_count = 57;
inline constexpr std::size_t records = 61;

// The CRC covers attributes .. end, so base offset, length, leader epoch and
// magic can change without recomputing it.
inline constexpr std::size_t crc_start = attributes;
inline constexpr std::size_t header_size = records;
// baseOffset + length: what precedes the bytes counted by `length`.
inline constexpr std::size_t log_overhead = 12;
inline constexpr std::int32_t min_length = static_cast<std::int32_t>(header_size - log_overhead);
}  // namespace batch_layout

namespace batch_attributes {
inline constexpr std::uint16_t codec_mask = 0x07;
inline constexpr std::uint16_t log_append_time = 0x08;
inline constexpr std::uint16_t transactional = 0x10;
inline constexpr std::uint16_t control = 0x20;
inline constexpr std::uint16_t delete_horizon = 0x40;
}  // namespace batch_attributes

inline constexpr std::int8_t record_batch_magic = 2;
inline constexpr std::int64_t no_producer_id = -1;
inline constexpr std::int16_t no_producer_epoch = -1;
inline constexpr std::int32_t no_sequence = -1;
inline constexpr std::int32_t no_partition_leader_epoch = -1;
inline constexpr std::int64_t no_timestamp = -1;

// A window onto one whole v2 batch in someone else's buffer. Cheap to copy;
// it is valid as long as the buffer is. Whoever owns the buffer (the fetch
// strand) owns the views. Invariant: bytes().size() >= header_size and
// magic() == 2 (established by from_bytes / batch_reader).
class record_batch_view {
 public:
  // Checks size >= 61, magic == 2, and batchLength + 12 == bytes.size().
  static std::expected<record_batch_view, batch_error> from_bytes(std::span<std::byte> bytes);

  std::int64_t base_offset() const;
  std::int32_t last_offset_delta() const;
  std::int64_t last_offset() const { return base_offset() + last_offset_delta(); }
  std::int32_t batch_length() const;  // the length field: batch_size() - 12
  std::size_t batch_size() const { return bytes_.size(); }
  std::int32_t partition_leader_epoch() const;
  std::int8_t magic() const;
  std::uint32_t stored_crc() const;
  std::uint32_t compute_crc() const;  // one pass over bytes 21..end
  bool crc_valid() const { return stored_crc() == compute_crc(); }
  std::uint16_t attributes() const;
  // The codec bits as they are; values above 4 are not a known codec
  // (decode_records reports them as unsupported_codec).
  compression_codec codec() const {
    return static_cast<compression_codec>(attributes() & batch_attributes::codec_mask);
  }
  bool is_transactional() const { return (attributes() & batch_attributes::transactional) != 0; }
  bool is_control() const { return (attributes() & batch_attributes::control) != 0; }
  bool has_log_append_time() const {
    return (attributes() & batch_attributes::log_append_time) != 0;
  }
  bool has_delete_horizon() const { return (attributes() & batch_attributes::delete_horizon) != 0; }
  std::int64_t base_timestamp() const;
  std::int64_t max_timestamp() const;
  std::int64_t producer_id() const;
  std::int16_t producer_epoch() const;
  std::int32_t base_sequence() const;
  std::int32_t records_count() const;
  // Compacted batches keep their offset range but lose records; brokers
  // reject such a batch from a producer (INVALID_RECORD), so it must be
  // rebuilt. An empty batch (count 0) also reports holes.
  bool has_offset_holes() const {
    return static_cast<std::int64_t>(records_count()) !=
           static_cast<std::int64_t>(last_offset_delta()) + 1;
  }
  std::span<std::byte> records_section() const { return bytes_.subspan(batch_layout::records); }
  std::span<std::byte> bytes() const { return bytes_; }

  // Fields outside the CRC: changing them keeps the batch valid.
  void set_base_offset(std::int64_t offset);
  void set_partition_leader_epoch(std::int32_t epoch);

 private:
  explicit record_batch_view(std::span<std::byte> bytes) : bytes_(bytes) {}
  friend class batch_reader;
  friend void rewrite_header_for_produce(record_batch_view&, std::int64_t, std::int16_t,
                                         std::int32_t);

  std::span<std::byte> bytes_;
};

// Walks the batches of one partition's records blob in a Fetch response.
// Owned by whoever owns the response buffer; not thread-safe.
//
// next() yields each complete batch, then std::nullopt at the end of the blob
// or at a trailing partial batch (brokers cut the last batch to fit max_bytes;
// discarded_tail_bytes() tells how much was dropped). Errors: a batchLength
// below the v2 header size (bad_length), magic != 2 (bad_magic: message
// sets v0/v1 are not supported), and offsets no Kafka log holds (bad_offsets:
// a negative base offset or last offset delta, a last offset + 1 beyond
// int64, a base offset not after the previous batch's last offset, a records
// count outside 0 .. lastOffsetDelta + 1), so that the offsets of the batches
// it returns can be added to and always move forward. An error is final:
// next() keeps returning it. CRCs are not checked here; call crc_valid() on
// the batches you keep.
class batch_reader {
 public:
  explicit batch_reader(std::span<std::byte> blob) : blob_(blob) {}

  std::expected<std::optional<record_batch_view>, batch_error> next();

  // Bytes of the blob covered by the batches returned so far.
  std::size_t position() const { return pos_; }
  std::size_t discarded_tail_bytes() const { return tail_; }

 private:
  std::span<std::byte> blob_;
  std::size_t pos_ = 0;
  std::size_t tail_ = 0;
  std::int64_t previous_last_ = -1;
  std::optional<batch_error> error_;
};

// Prepares a fetched batch for Produce: base offset 0, partition leader
// epoch -1, transactional bit cleared, the given producer id / epoch / base
// sequence (use -1/-1/-1 for a non-idempotent produce), and a new CRC over
// bytes 21..end. The (possibly compressed) records are not touched.
void rewrite_header_for_produce(record_batch_view& batch, std::int64_t producer_id,
                                std::int16_t producer_epoch, std::int32_t base_sequence);

}  // namespace klink::kafka
