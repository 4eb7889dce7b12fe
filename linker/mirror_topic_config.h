// Which topic configs a mirror topic gets, and from where.
#pragma once

#include <map>
#include <string>

namespace klink::linker {

// Source topic configs that are copied to a new mirror topic.
inline constexpr const char* replicated_topic_configs[] = {
    "cleanup.policy",
    "retention.ms",
    "retention.bytes",
    "max.message.bytes",
    "min.compaction.lag.ms",
    "max.compaction.lag.ms",
    "delete.retention.ms",
    "segment.bytes",
    "segment.ms",
    "min.cleanable.dirty.ratio",
};

// The configs for a new mirror topic given the source topic's effective
// configs: the replicated ones, plus what byte-for-byte mirroring needs
// (DESIGN.md "The data path" and "Timestamps").
std::map<std::string, std::string> mirror_topic_configs(
    const std::map<std::string, std::string>& source_configs);

}  // namespace klink::linker
