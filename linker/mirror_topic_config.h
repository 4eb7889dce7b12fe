// Which topic configs a mirror topic gets, and from where.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace klink::linker {

// The configs for a new mirror topic given the source topic's effective
// configs: the synced ones, plus what byte-for-byte mirroring needs
// (ARCHITECTURE.md, "The life of one record batch" and "Timestamps"), which win over the source's.
std::map<std::string, std::string> mirror_topic_configs(
    const std::map<std::string, std::string>& source_configs,
    const std::vector<std::string>& synced);

// The synced configs a mirror should have now: the subset of
// mirror_topic_configs() named in `synced`. A config klink fixes for
// byte-for-byte mirroring keeps klink's value (message.timestamp.type stays
// CreateTime; max.message.bytes keeps its headroom over the source's).
std::map<std::string, std::string> desired_synced_configs(
    const std::map<std::string, std::string>& source_configs,
    const std::vector<std::string>& synced);

// Synced configs whose value on the mirror differs from the desired one:
// name -> {current value ("" when unset), desired value}.
std::map<std::string, std::pair<std::string, std::string>> config_changes(
    const std::map<std::string, std::string>& desired,
    const std::map<std::string, std::string>& current);

}  // namespace klink::linker
