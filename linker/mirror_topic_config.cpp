#include "linker/mirror_topic_config.h"

#include <algorithm>
#include <charconv>
#include <cstdint>

namespace klink::linker {

std::map<std::string, std::string> mirror_topic_configs(
    const std::map<std::string, std::string>& source_configs,
    const std::vector<std::string>& synced) {
  std::map<std::string, std::string> out;
  for (const auto& name : synced) {
    if (auto it = source_configs.find(name); it != source_configs.end()) out[name] = it->second;
  }
  // The broker keeps klink's batches exactly as sent only when it does not
  // recompress them.
  out["compression.type"] = "producer";
  // A LogAppendTime mirror would re-stamp every batch; klink converts such
  // batches to CreateTime carrying the source's append time instead.
  out["message.timestamp.type"] = "CreateTime";
  // Old data must be accepted whatever its age or clock skew.
  out["message.timestamp.before.max.ms"] = std::to_string(INT64_MAX);
  out["message.timestamp.after.max.ms"] = std::to_string(INT64_MAX);
  // A rebuilt (recompressed) batch can come out slightly larger than the
  // source's, so leave headroom above the source's limit.
  int64_t max_bytes = 1048588;  // Kafka's default
  if (auto it = source_configs.find("max.message.bytes"); it != source_configs.end()) {
    std::from_chars(it->second.data(), it->second.data() + it->second.size(), max_bytes);
  }
  const int64_t headroom = std::max<int64_t>(max_bytes / 8, 64 * 1024);
  out["max.message.bytes"] = std::to_string(std::min<int64_t>(max_bytes + headroom, INT32_MAX));
  return out;
}

std::map<std::string, std::string> desired_synced_configs(
    const std::map<std::string, std::string>& source_configs,
    const std::vector<std::string>& synced) {
  const auto all = mirror_topic_configs(source_configs, synced);
  std::map<std::string, std::string> out;
  for (const auto& name : synced) {
    if (auto it = all.find(name); it != all.end()) out[name] = it->second;
  }
  return out;
}

std::map<std::string, std::pair<std::string, std::string>> config_changes(
    const std::map<std::string, std::string>& desired,
    const std::map<std::string, std::string>& current) {
  std::map<std::string, std::pair<std::string, std::string>> out;
  for (const auto& [name, value] : desired) {
    auto it = current.find(name);
    const std::string now = it == current.end() ? std::string() : it->second;
    if (now != value) out[name] = {now, value};
  }
  return out;
}

}  // namespace klink::linker
