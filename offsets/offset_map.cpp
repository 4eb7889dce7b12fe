#include "offsets/offset_map.h"

#include <algorithm>
#include <array>
#include <limits>
#include <stdexcept>

#include "kafka/crc32c.h"

namespace klink::offsets {

namespace {

// Format: magic "ko", version byte, body of unsigned LEB128 varints, then the
// CRC-32C of everything before it (4 bytes, little-endian). Body (v1):
//   floor, entry count n,
//   n x (source gap from previous source end (first: from floor),
//        destination gap from previous destination end (first: from 0),
//        length),
//   mirrored_source_offset - last source end, destination_end - last destination end.
// Every field is a non-negative delta, so a steady link costs ~3 bytes/entry.
constexpr std::string_view magic = "ko";
constexpr uint8_t format_version = 1;
constexpr std::size_t checksum_size = 4;
constexpr std::size_t max_varint_size = 10;

bool add_overflows(int64_t a, int64_t b, int64_t& out) {
  return __builtin_add_overflow(a, b, &out);
}

void put_varint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>(static_cast<uint8_t>(value) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

// Every way a checkpoint can fail to parse is the same condition for the
// caller (klink cannot resume from it); `what` says which check refused it.
std::unexpected<error> unreadable(std::string what) {
  return std::unexpected(error(errc::unreadable_state, "offset map", std::move(what)));
}

class reader {
 public:
  explicit reader(std::string_view in) : in_(in) {}

  std::size_t remaining() const { return in_.size() - pos_; }

  // A canonical varint holding a value in [0, INT64_MAX].
  result<int64_t> varint(const char* field) {
    uint64_t value = 0;
    for (std::size_t i = 0; i < max_varint_size; ++i) {
      if (pos_ == in_.size()) return unreadable(std::string("truncated ") + field);
      const auto byte = static_cast<uint8_t>(in_[pos_++]);
      const uint64_t bits = byte & 0x7f;
      // The 10th byte may only contribute bit 63, which INT64_MAX excludes.
      if (i == max_varint_size - 1 && bits != 0)
        return unreadable(std::string(field) + " out of range");
      value |= bits << (7 * i);
      if ((byte & 0x80) == 0) {
        if (byte == 0 && i > 0) return unreadable(std::string(field) + " not minimally encoded");
        if (value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
          return unreadable(std::string(field) + " out of range");
        return static_cast<int64_t>(value);
      }
    }
    return unreadable(std::string(field) + " varint too long");
  }

 private:
  std::string_view in_;
  std::size_t pos_ = 0;
};

}  // namespace

uint32_t detail::crc32c(std::string_view data) {
  return kafka::crc32c(kafka::as_bytes_view(data.data(), data.size()));
}

offset_map::offset_map(int64_t source_start, int64_t destination_start, std::size_t max_entries)
    : max_entries_(std::max<std::size_t>(max_entries, 1)),
      floor_(source_start),
      source_next_(source_start),
      destination_next_(destination_start) {
  if (source_start < 0 || destination_start < 0)
    throw std::invalid_argument("offset_map: negative start offset");
}

bool offset_map::record_batch(std::span<const source_run> runs, int64_t destination_base,
                              int64_t source_next) {
  // Validate everything first: a rejected batch must leave the map untouched.
  if (destination_base < destination_next_) return false;
  int64_t source_cursor = source_next_;
  int64_t destination_cursor = destination_base;
  for (const source_run& run : runs) {
    if (run.count <= 0 || run.source_offset < source_cursor) return false;
    if (add_overflows(run.source_offset, run.count, source_cursor)) return false;
    if (add_overflows(destination_cursor, run.count, destination_cursor)) return false;
  }
  if (source_next < source_cursor) return false;

  destination_cursor = destination_base;
  for (const source_run& run : runs) {
    append(run.source_offset, destination_cursor, run.count);
    destination_cursor += run.count;
  }
  source_next_ = source_next;
  if (!runs.empty()) destination_next_ = destination_cursor;
  return true;
}

bool offset_map::record_gap(int64_t source_next) {
  if (source_next < source_next_) return false;
  source_next_ = source_next;
  return true;
}

void offset_map::append(int64_t source_start, int64_t destination_start, int64_t length) {
  if (head_ < segments_.size()) {
    offset_segment& last = segments_.back();
    if (last.source_end() == source_start && last.destination_end() == destination_start) {
      last.length += length;
      return;
    }
  }
  segments_.push_back({source_start, destination_start, length});
  if (entry_count() > max_entries_) drop_oldest(entry_count() - max_entries_);
}

void offset_map::drop_oldest(std::size_t count) {
  if (count == 0) return;
  head_ += count;
  // Everything below the dropped entries' end is now unanswerable; between it
  // and the next entry nothing was mirrored, so answers there stay exact.
  floor_ = std::max(floor_, segments_[head_ - 1].source_end());
  if (head_ == segments_.size()) {
    segments_.clear();
    head_ = 0;
  } else if (head_ >= 64 && head_ * 2 >= segments_.size()) {
    segments_.erase(segments_.begin(), segments_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }
}

std::optional<int64_t> offset_map::translate(int64_t c) const {
  if (c < floor_) return std::nullopt;
  const auto live = entries();
  // First entry not wholly below c: it holds c, or is the first mirrored
  // record after c (c fell into a hole, marker or aborted range).
  const auto it = std::partition_point(
      live.begin(), live.end(), [c](const offset_segment& s) { return s.source_end() <= c; });
  if (it == live.end()) return destination_next_;
  if (c <= it->source_start) return it->destination_start;
  return it->destination_start + (c - it->source_start);
}

std::optional<int64_t> offset_map::translate_back(int64_t d) const {
  if (d == destination_next_) return source_next_;
  if (d > destination_next_) return std::nullopt;
  const auto live = entries();
  if (live.empty() || d < live.front().destination_start) return std::nullopt;
  // First entry not wholly below d: it holds d, or is the first record after
  // a destination gap d fell into.
  const auto it = std::partition_point(
      live.begin(), live.end(), [d](const offset_segment& s) { return s.destination_end() <= d; });
  if (it == live.end()) return source_next_;
  if (d <= it->destination_start) return it->source_start;
  return it->source_start + (d - it->destination_start);
}

void offset_map::trim_below(int64_t source_log_start_offset) {
  const auto live = entries();
  const auto it = std::partition_point(live.begin(), live.end(), [&](const offset_segment& s) {
    return s.source_end() <= source_log_start_offset;
  });
  drop_oldest(static_cast<std::size_t>(it - live.begin()));
}

void offset_map::set_max_entries(std::size_t max_entries) {
  max_entries_ = std::max<std::size_t>(max_entries, 1);
  if (entry_count() > max_entries_) drop_oldest(entry_count() - max_entries_);
}

std::size_t offset_map::memory_bytes() const {
  return sizeof(*this) + segments_.capacity() * sizeof(offset_segment);
}

std::string offset_map::serialize() const {
  std::string out;
  out.reserve(magic.size() + 1 + 4 * max_varint_size + entry_count() * 4 + checksum_size);
  out.append(magic);
  out.push_back(static_cast<char>(format_version));
  put_varint(out, static_cast<uint64_t>(floor_));
  put_varint(out, entry_count());
  int64_t source_end = floor_;
  int64_t destination_end = 0;
  for (const offset_segment& s : entries()) {
    put_varint(out, static_cast<uint64_t>(s.source_start - source_end));
    put_varint(out, static_cast<uint64_t>(s.destination_start - destination_end));
    put_varint(out, static_cast<uint64_t>(s.length));
    source_end = s.source_end();
    destination_end = s.destination_end();
  }
  put_varint(out, static_cast<uint64_t>(source_next_ - source_end));
  put_varint(out, static_cast<uint64_t>(destination_next_ - destination_end));
  const uint32_t crc = detail::crc32c(out);
  for (int i = 0; i < 4; ++i)
    out.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
  return out;
}

result<offset_map> offset_map::deserialize(std::string_view bytes, std::size_t max_entries) {
  if (bytes.size() < magic.size() + 1 + checksum_size) return unreadable("truncated header");
  if (bytes.substr(0, magic.size()) != magic) return unreadable("bad magic");
  const auto version = static_cast<uint8_t>(bytes[magic.size()]);
  if (version != format_version)
    return unreadable("format version " + std::to_string(version) + ", and this klink reads only " +
                      std::to_string(format_version) +
                      " (a newer klink wrote it: run that version)");
  const std::string_view covered = bytes.substr(0, bytes.size() - checksum_size);
  uint32_t stored_crc = 0;
  for (std::size_t i = 0; i < checksum_size; ++i)
    stored_crc |= static_cast<uint32_t>(static_cast<uint8_t>(bytes[covered.size() + i])) << (8 * i);
  if (stored_crc != detail::crc32c(covered)) return unreadable("checksum mismatch");

  reader in(covered.substr(magic.size() + 1));
  offset_map map;
  map.max_entries_ = std::max<std::size_t>(max_entries, 1);
  auto floor = in.varint("floor");
  if (!floor) return std::unexpected(std::move(floor.error()));
  auto count = in.varint("entry count");
  if (!count) return std::unexpected(std::move(count.error()));
  // Each entry takes at least 3 bytes: bound the allocation by the input.
  if (static_cast<uint64_t>(*count) > in.remaining() / 3)
    return unreadable("entry count exceeds input");
  map.floor_ = *floor;
  map.segments_.reserve(static_cast<std::size_t>(*count));
  int64_t source_end = *floor;
  int64_t destination_end = 0;
  for (int64_t i = 0; i < *count; ++i) {
    auto source_gap = in.varint("source gap");
    if (!source_gap) return std::unexpected(std::move(source_gap.error()));
    auto destination_gap = in.varint("destination gap");
    if (!destination_gap) return std::unexpected(std::move(destination_gap.error()));
    auto length = in.varint("length");
    if (!length) return std::unexpected(std::move(length.error()));
    if (*length == 0) return unreadable("empty entry");
    // Contiguous on both sides would have been merged when recorded.
    if (i > 0 && *source_gap == 0 && *destination_gap == 0) return unreadable("unmerged entries");
    offset_segment s{};
    if (add_overflows(source_end, *source_gap, s.source_start) ||
        add_overflows(destination_end, *destination_gap, s.destination_start) ||
        add_overflows(s.source_start, *length, source_end) ||
        add_overflows(s.destination_start, *length, destination_end))
      return unreadable("offset overflow");
    s.length = *length;
    map.segments_.push_back(s);
  }
  auto source_tail = in.varint("source tail");
  if (!source_tail) return std::unexpected(std::move(source_tail.error()));
  auto destination_tail = in.varint("destination tail");
  if (!destination_tail) return std::unexpected(std::move(destination_tail.error()));
  if (add_overflows(source_end, *source_tail, map.source_next_) ||
      add_overflows(destination_end, *destination_tail, map.destination_next_))
    return unreadable("offset overflow");
  if (in.remaining() != 0) return unreadable("trailing bytes");
  if (map.entry_count() > map.max_entries_) map.drop_oldest(map.entry_count() - map.max_entries_);
  return map;
}

}  // namespace klink::offsets
