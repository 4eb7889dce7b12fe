// Building offset maps in tests: one plain batch, or a batch of several runs.
#pragma once

#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "offsets/offset_map.h"

namespace klink::offsets::testing {

inline constexpr int64_t int64_max = std::numeric_limits<int64_t>::max();

// `count` records from source offset `source`, landed at `destination`.
inline bool plain(offset_map& map, int64_t source, int64_t count, int64_t destination) {
  const source_run run{source, count};
  return map.record_batch(std::span(&run, 1), destination, source + count);
}

inline bool runs(offset_map& map, std::vector<source_run> rs, int64_t destination,
                 int64_t source_next) {
  return map.record_batch(rs, destination, source_next);
}

}  // namespace klink::offsets::testing
