#include "admin/admin_json.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace klink::admin {

using nlohmann::json;

json nullable(int64_t offset) {
  return offset < 0 ? json(nullptr) : json(offset);
}

json mirror_json(const linker::mirror_status& m) {
  json ps = json::array();
  for (const auto& p : m.partitions) {
    ps.push_back({{"partition", p.partition},
                  {"state", p.state},
                  {"source_end_offset", nullable(p.source_end_offset)},
                  {"mirrored_source_offset", p.mirrored_source_offset},
                  {"destination_end_offset", nullable(p.destination_end_offset)},
                  {"lag_records", p.lag_records},
                  {"lag_seconds", p.lag_seconds},
                  {"preferred_read_replica", nullable(p.preferred_read_replica)},
                  {"last_error", p.last_error ? json(p.last_error->message()) : json(nullptr)},
                  {"reason", p.last_error ? json(p.last_error->code_token()) : json(nullptr)},
                  {"records_skipped", p.records_skipped}});
    if (p.source_gap_from >= 0) {
      ps.back()["source_gap"] = {{"from_offset", p.source_gap_from},
                                 {"to_offset", p.source_gap_to}};
    }
  }
  json out{{"source_topic", m.source_topic},
           {"mirror_topic", m.mirror_topic},
           {"state", m.state},
           {"lag_records", m.lag_records},
           {"partitions", ps}};
  if (!m.reason.empty()) out["reason"] = m.reason;
  if (m.result) out["result"] = linker::to_json(*m.result);
  out["direction"] = m.direction;
  out["generation"] = m.generation;
  json history = json::array();
  for (const auto& r : m.history)
    history.push_back(linker::to_json(r));
  out["history"] = std::move(history);
  json ranges = json::array();
  for (const auto& [cluster, r] : m.divergent_ranges) {
    json range = linker::to_json(r);
    range["cluster"] = cluster;
    ranges.push_back(std::move(range));
  }
  out["divergent_ranges"] = std::move(ranges);
  return out;
}

// Before the membership
// runs (or before the first join) no member id, generation -1, no lease.
json this_member_json(const linker::link& l) {
  const auto* scale_out = l.scale_out();
  const auto* m = scale_out != nullptr ? &scale_out->membership() : nullptr;
  if (m == nullptr) {
    return {{"member_id", nullptr},
            {"generation", -1},
            {"leader", false},
            {"owned_partitions", 0},
            {"lease", false}};
  }
  return {{"member_id", m->member_id().empty() ? json(nullptr) : json(m->member_id())},
          {"generation", m->generation()},
          {"leader", m->is_leader()},
          {"owned_partitions", m->owned().size()},
          {"lease", m->owns_lease(std::chrono::steady_clock::now())}};
}

// Its partitions grouped by topic, both sorted.
json member_json(const linker::member_share& share) {
  std::map<std::string, std::vector<int32_t>> by_topic;
  for (const auto& [topic, partition] : share.partitions)
    by_topic[topic].push_back(partition);
  json topics = json::array();
  for (auto& [topic, partitions] : by_topic) {
    std::ranges::sort(partitions);
    topics.push_back({{"topic", topic}, {"partitions", partitions}});
  }
  return {{"member_id", share.member_id},
          {"instance", share.instance},
          {"client_host", share.client_host},
          {"generation", share.generation},
          {"partition_count", share.partitions.size()},
          {"partitions", topics}};
}

}  // namespace klink::admin
