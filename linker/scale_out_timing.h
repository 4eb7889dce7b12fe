// Scale-out's timing constants and instance label, shared by scale_out.cpp
// and gather.cpp.
#pragma once

#include <chrono>
#include <string>

namespace klink::linker {

// How long a revoked partition's batches in flight are waited for. The other
// members wait for this one's rejoin (up to the rebalance timeout), so it
// must stay well below that.
inline constexpr std::chrono::milliseconds hand_over_drain{5000};
// A promote/failover's hold on its topics outlives the call by this much, so
// that the group cannot hand them out while the call still writes to them.
inline constexpr std::chrono::milliseconds hold_margin{10000};
inline constexpr std::chrono::milliseconds poll_interval{20};

// host:pid, how members and holds name this instance for people.
std::string instance_label();

}  // namespace klink::linker
