#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kafka/error.h"

namespace klink::offsets {

// Contiguous source offsets carried by one acknowledged batch.
struct source_run {
  int64_t source_offset;
  int64_t count;
};

// Source offsets source_start .. source_start+length-1 landed at
// destination_start .. destination_start+length-1.
struct offset_segment {
  int64_t source_start;
  int64_t destination_start;
  int64_t length;

  int64_t source_end() const { return source_start + length; }
  int64_t destination_end() const { return destination_start + length; }
  friend bool operator==(const offset_segment&, const offset_segment&) = default;
};

// Exact source -> destination offset map of one mirrored partition.
// Owned by that partition's link (one strand); not thread-safe: other threads
// read a copy or the serialized form.
//
// An entry exists only where the source<->destination difference changes
// (control markers, aborted transactions, compaction holes), so contiguous
// plain batches cost one entry. translate() is exact for every source offset
// >= exact_from() and refuses (nullopt) below it; dropping old entries (trim,
// cap) raises exact_from() instead of returning approximate answers.
class offset_map {
 public:
  static constexpr std::size_t default_max_entries = 100'000;

  // Mirroring starts at source offset `source_start`, whose first record gets
  // `destination_start`. Both must be >= 0 (throws std::invalid_argument:
  // a start-up error). `max_entries` is clamped to >= 1.
  offset_map(int64_t source_start, int64_t destination_start,
             std::size_t max_entries = default_max_entries);

  // One acknowledged batch: `runs` (increasing, non-overlapping, each count
  // >= 1, all >= mirrored_source_offset()) landed at destination_base,
  // destination_base+1, ...; destination_base >= destination_end_offset()
  // (a larger base is a destination gap, e.g. copies left by a lost ack).
  // `source_next` is the batch's lastOffset + 1 (>= end of the last run).
  // Empty `runs` is a gap up to source_next. Returns false and changes
  // nothing when the input violates these rules or would overflow.
  bool record_batch(std::span<const source_run> runs, int64_t destination_base,
                    int64_t source_next);
  // Source offsets [mirrored_source_offset(), source_next) were deliberately
  // not copied (control markers, aborted batches). False if source_next goes
  // backwards.
  bool record_gap(int64_t source_next);

  // Next source offset not yet accounted for.
  int64_t mirrored_source_offset() const { return source_next_; }
  // Destination offset right after the last mirrored record.
  int64_t destination_end_offset() const { return destination_next_; }
  // Lowest source offset translate() answers: the start of mirroring, raised
  // when trim_below() or the entry cap drop entries.
  int64_t exact_from() const { return floor_; }

  // The destination offset of the first mirrored record whose source offset
  // is >= c; destination_end_offset() if there is none yet (a consumer ahead
  // of klink then re-reads, never skips). nullopt if c < exact_from().
  std::optional<int64_t> translate(int64_t committed_source_offset) const;

  // The other way (failback: a consumer moving back to the old source): the
  // source offset of the first mirrored record whose destination offset is
  // >= d; mirrored_source_offset() when d is the destination's end. nullopt
  // for d beyond the end (records the destination got from elsewhere) or
  // before the first entry kept.
  std::optional<int64_t> translate_back(int64_t committed_destination_offset) const;

  // Drops entries lying wholly below the source's log start offset.
  void trim_below(int64_t source_log_start_offset);

  std::size_t max_entries() const { return max_entries_; }
  // Takes effect immediately: drops the oldest entries beyond the new cap.
  void set_max_entries(std::size_t max_entries);

  std::size_t entry_count() const { return segments_.size() - head_; }
  std::span<const offset_segment> entries() const {
    return std::span<const offset_segment>(segments_).subspan(head_);
  }
  std::size_t memory_bytes() const;

  // Versioned, varint-delta, checksummed form for a compacted checkpoint
  // topic. deserialize rejects anything serialize() could not have produced.
  std::string serialize() const;
  // Fails with klink::errc::unreadable_state, the detail naming the check.
  static result<offset_map> deserialize(std::string_view bytes,
                                        std::size_t max_entries = default_max_entries);

 private:
  offset_map() = default;
  void append(int64_t source_start, int64_t destination_start, int64_t length);
  void drop_oldest(std::size_t count);

  // segments_[head_..] are live; the dead prefix is erased lazily so that
  // dropping the oldest entry under the cap is O(1) amortised.
  std::vector<offset_segment> segments_;
  std::size_t head_ = 0;
  std::size_t max_entries_ = default_max_entries;
  int64_t floor_ = 0;
  int64_t source_next_ = 0;
  int64_t destination_next_ = 0;
};

namespace detail {
// CRC-32C of the serialized body; exposed so tests can forge well-checksummed
// garbage and exercise the decoder's structural checks.
uint32_t crc32c(std::string_view data);
}  // namespace detail

}  // namespace klink::offsets
