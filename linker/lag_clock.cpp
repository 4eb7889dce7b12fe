#include "linker/lag_clock.h"

#include <algorithm>
#include <cstddef>

namespace klink::linker {

namespace {
// RecordBatch v2 header: baseTimestamp is the int64 at bytes 27..35.
constexpr std::size_t base_timestamp_at = 27;

int64_t read_be64(const std::byte* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v = (v << 8) | static_cast<uint8_t>(p[i]);
  return static_cast<int64_t>(v);
}
}  // namespace

int64_t source_end_offset(const mirror::partition_mirror& p) {
  return p.source_last_stable_offset >= 0 ? p.source_last_stable_offset : p.source_high_watermark;
}

double lag_clock::lag_seconds(const std::string& link, const mirror::partition_mirror& p,
                              std::chrono::system_clock::time_point now) {
  int64_t& oldest = oldest_ms_.try_emplace({link, p.source_topic, p.partition}, -1).first->second;
  const int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  if (p.lag_records() == 0) {
    oldest = -1;
    return 0;
  }
  const mirror::outbound_batch* first = nullptr;
  if (!p.in_flight.empty()) {
    first = &p.in_flight.front().batch;
  } else if (!p.ready.empty()) {
    first = &p.ready.front();
  }
  int64_t base_timestamp = -1;
  if (first != nullptr && first->bytes.size() >= base_timestamp_at + 8)
    base_timestamp = read_be64(first->bytes.data() + base_timestamp_at);
  if (base_timestamp >= 0) {
    oldest = base_timestamp;
  } else if (oldest < 0) {
    // Records are missing but none is fetched (a paused topic): they arrived
    // no later than now, so the age counts from here, a lower bound.
    oldest = now_ms;
  }
  return static_cast<double>(std::max<int64_t>(0, now_ms - oldest)) / 1000.0;
}

}  // namespace klink::linker
