#include "kafka/record_batch.h"

#include <cstdint>
#include <string>

#include "kafka/crc32c.h"
#include "kafka/record_batch_detail.h"

namespace klink::kafka {

using detail::load_be;
using detail::store_be;
namespace L = batch_layout;

std::string_view to_string(batch_error_kind k) {
  using enum batch_error_kind;
  switch (k) {
    case truncated:
      return "truncated";
    case bad_magic:
      return "bad_magic";
    case bad_length:
      return "bad_length";
    case bad_offsets:
      return "bad_offsets";
    case crc_mismatch:
      return "crc_mismatch";
    case corrupt_records:
      return "corrupt_records";
    case unsupported_codec:
      return "unsupported_codec";
    case compression_failed:
      return "compression_failed";
    case decompression_failed:
      return "decompression_failed";
    case too_large:
      return "too_large";
    case invalid_argument:
      return "invalid_argument";
  }
  return "unknown";
}

namespace {

batch_error bad_magic_error(std::int8_t magic) {
  return {batch_error::kind::bad_magic,
          "record batch magic " + std::to_string(magic) +
              " is not supported (only v2; message sets v0/v1 need a pre-0.11 producer)"};
}

// What every batch of a Kafka log satisfies, so that offset arithmetic on it
// cannot overflow and a walk always moves forward: a base offset >= 0 and
// after the previous batch's last offset, a last offset delta >= 0 with
// lastOffset + 1 still an int64, and 0 <= records count <= lastOffsetDelta + 1
// (fewer after compaction, never more).
std::optional<batch_error> check_offsets(const record_batch_view& batch, std::int64_t previous_last,
                                         std::size_t at) {
  const std::int64_t base = batch.base_offset();
  const std::int32_t delta = batch.last_offset_delta();
  const std::int32_t count = batch.records_count();
  std::string what;
  if (base < 0 || delta < 0 || base > INT64_MAX - 1 - delta) {
    what = "base offset " + std::to_string(base) + " and last offset delta " +
           std::to_string(delta) + " are not a valid offset range";
  } else if (base <= previous_last) {
    what = "base offset " + std::to_string(base) +
           " does not follow the previous batch's last offset " + std::to_string(previous_last);
  } else if (count < 0 || static_cast<std::int64_t>(count) > std::int64_t{delta} + 1) {
    what = "records count " + std::to_string(count) + " does not fit last offset delta " +
           std::to_string(delta);
  } else {
    return std::nullopt;
  }
  return batch_error{batch_error::kind::bad_offsets,
                     "record batch at byte " + std::to_string(at) + ": " + what};
}

}  // namespace

std::expected<record_batch_view, batch_error> record_batch_view::from_bytes(
    std::span<std::byte> bytes) {
  if (bytes.size() < L::header_size)
    return std::unexpected(batch_error{batch_error::kind::truncated,
                                       "record batch of " + std::to_string(bytes.size()) +
                                           " bytes is shorter than the 61-byte v2 header"});
  const auto magic = load_be<std::int8_t>(bytes.data() + L::magic);
  if (magic != record_batch_magic) return std::unexpected(bad_magic_error(magic));
  const auto length = load_be<std::int32_t>(bytes.data() + L::length);
  if (length < L::min_length || static_cast<std::size_t>(length) + L::log_overhead != bytes.size())
    return std::unexpected(batch_error{batch_error::kind::bad_length,
                                       "batchLength " + std::to_string(length) +
                                           " does not match the " + std::to_string(bytes.size()) +
                                           " bytes given"});
  return record_batch_view(bytes);
}

std::int64_t record_batch_view::base_offset() const {
  return load_be<std::int64_t>(bytes_.data() + L::base_offset);
}
std::int32_t record_batch_view::last_offset_delta() const {
  return load_be<std::int32_t>(bytes_.data() + L::last_offset_delta);
}
std::int32_t record_batch_view::batch_length() const {
  return load_be<std::int32_t>(bytes_.data() + L::length);
}
std::int32_t record_batch_view::partition_leader_epoch() const {
  return load_be<std::int32_t>(bytes_.data() + L::partition_leader_epoch);
}
std::int8_t record_batch_view::magic() const {
  return load_be<std::int8_t>(bytes_.data() + L::magic);
}
std::uint32_t record_batch_view::stored_crc() const {
  return load_be<std::uint32_t>(bytes_.data() + L::crc);
}
std::uint32_t record_batch_view::compute_crc() const {
  return crc32c(bytes_.subspan(L::crc_start));
}
std::uint16_t record_batch_view::attributes() const {
  return load_be<std::uint16_t>(bytes_.data() + L::attributes);
}
std::int64_t record_batch_view::base_timestamp() const {
  return load_be<std::int64_t>(bytes_.data() + L::base_timestamp);
}
std::int64_t record_batch_view::max_timestamp() const {
  return load_be<std::int64_t>(bytes_.data() + L::max_timestamp);
}
std::int64_t record_batch_view::producer_id() const {
  return load_be<std::int64_t>(bytes_.data() + L::producer_id);
}
std::int16_t record_batch_view::producer_epoch() const {
  return load_be<std::int16_t>(bytes_.data() + L::producer_epoch);
}
std::int32_t record_batch_view::base_sequence() const {
  return load_be<std::int32_t>(bytes_.data() + L::base_sequence);
}
std::int32_t record_batch_view::records_count() const {
  return load_be<std::int32_t>(bytes_.data() + L::records_count);
}

void record_batch_view::set_base_offset(std::int64_t offset) {
  store_be(bytes_.data() + L::base_offset, offset);
}
void record_batch_view::set_partition_leader_epoch(std::int32_t epoch) {
  store_be(bytes_.data() + L::partition_leader_epoch, epoch);
}

std::expected<std::optional<record_batch_view>, batch_error> batch_reader::next() {
  if (error_) return std::unexpected(*error_);
  const std::size_t remaining = blob_.size() - pos_;
  if (remaining == 0) return std::nullopt;
  const std::byte* p = blob_.data() + pos_;
  if (remaining < L::log_overhead) {
    tail_ = remaining;
    return std::nullopt;
  }
  // The magic is checked before the length so an old message set (whose
  // messages may be shorter than a v2 header) gets the clearer error.
  if (remaining > L::magic) {
    const auto magic = load_be<std::int8_t>(p + L::magic);
    if (magic != record_batch_magic) {
      error_ = bad_magic_error(magic);
      error_->message += " at byte " + std::to_string(pos_);
      return std::unexpected(*error_);
    }
  }
  const auto length = load_be<std::int32_t>(p + L::length);
  if (length < L::min_length) {
    error_ =
        batch_error{batch_error::kind::bad_length,
                    "batchLength " + std::to_string(length) + " at byte " + std::to_string(pos_) +
                        " is below the v2 minimum of " + std::to_string(L::min_length)};
    return std::unexpected(*error_);
  }
  const std::size_t size = static_cast<std::size_t>(length) + L::log_overhead;
  if (remaining < size) {
    tail_ = remaining;
    return std::nullopt;
  }
  // remaining >= size >= header_size > magic: the magic was checked above.
  record_batch_view view(blob_.subspan(pos_, size));
  if (auto bad = check_offsets(view, previous_last_, pos_)) {
    error_ = std::move(bad);
    return std::unexpected(*error_);
  }
  previous_last_ = view.last_offset();
  pos_ += size;
  return view;
}

void rewrite_header_for_produce(record_batch_view& batch, std::int64_t producer_id,
                                std::int16_t producer_epoch, std::int32_t base_sequence) {
  std::byte* p = batch.bytes_.data();
  store_be(p + L::base_offset, std::int64_t{0});
  store_be(p + L::partition_leader_epoch, no_partition_leader_epoch);
  const auto attrs =
      static_cast<std::uint16_t>(batch.attributes() & ~batch_attributes::transactional);
  store_be(p + L::attributes, attrs);
  store_be(p + L::producer_id, producer_id);
  store_be(p + L::producer_epoch, producer_epoch);
  store_be(p + L::base_sequence, base_sequence);
  store_be(p + L::crc, batch.compute_crc());
}

}  // namespace klink::kafka
