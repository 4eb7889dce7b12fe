#include "linker/partition_assignor.h"

#include <algorithm>
#include <cstring>
#include <set>

#include <nlohmann/json.hpp>

namespace klink::linker {

namespace {
using nlohmann::json;

struct claim {
  int32_t generation = -1;
  std::string member;
};

// Whether a claim of `generation` by `member` beats `current`.
bool beats(int32_t generation, const std::string& member, const claim& current) {
  if (generation != current.generation) return generation > current.generation;
  return member < current.member;
}

// [["topic", [partitions...]], ...] keeps the blobs small for many
// partitions of few topics, and (unlike an object keyed by topic) keeps the
// list's order: consecutive partitions of one topic share an entry.
json partitions_to_json(const std::vector<topic_partition>& partitions) {
  json out = json::array();
  for (const auto& [topic, partition] : partitions) {
    if (out.empty() || out.back()[0] != topic) out.push_back(json::array({topic, json::array()}));
    out.back()[1].push_back(partition);
  }
  return out;
}

std::vector<topic_partition> partitions_from_json(const json& j) {
  std::vector<topic_partition> out;
  if (!j.is_array()) throw std::invalid_argument("partitions: not an array");
  for (const auto& entry : j) {
    if (!entry.is_array() || entry.size() != 2 || !entry[0].is_string() || !entry[1].is_array())
      throw std::invalid_argument("partitions: expected [topic, [partition, ...]]");
    const auto topic = entry[0].get<std::string>();
    for (const auto& p : entry[1]) {
      if (!p.is_number_integer()) throw std::invalid_argument("partitions: not an integer");
      out.emplace_back(topic, p.get<int32_t>());
    }
  }
  return out;
}

kafka::byte_vector to_bytes(const json& j) {
  const std::string text = j.dump();
  kafka::byte_vector out(text.size());
  std::memcpy(out.data(), text.data(), text.size());
  return out;
}

std::expected<json, std::string> parse_blob(kafka::bytes_view blob) {
  if (blob.empty()) return std::unexpected("empty blob");
  json j = json::parse(reinterpret_cast<const char*>(blob.data()),
                       reinterpret_cast<const char*>(blob.data()) + blob.size(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::unexpected("not a JSON object");
  if (!j.contains("v") || !j["v"].is_number_integer() || j["v"].get<int>() < 1)
    return std::unexpected("no version");
  return j;
}

}  // namespace

assignment_map assign_partitions(std::vector<member_subscription> members,
                                 std::vector<topic_partition> partitions) {
  std::ranges::sort(partitions);
  partitions.erase(std::unique(partitions.begin(), partitions.end()), partitions.end());
  std::ranges::sort(members, {}, &member_subscription::member_id);
  members.erase(
      std::unique(members.begin(), members.end(),
                  [](const auto& a, const auto& b) { return a.member_id == b.member_id; }),
      members.end());
  assignment_map out;
  for (const auto& m : members)
    out[m.member_id];
  if (members.empty()) return out;

  // Who may keep each partition: one claimant per partition.
  const std::set<topic_partition> valid(partitions.begin(), partitions.end());
  std::map<topic_partition, claim> claims;
  for (const auto& m : members) {
    for (const auto& p : m.owned) {
      if (!valid.contains(p)) continue;
      auto [it, fresh] = claims.try_emplace(p, claim{m.owned_generation, m.member_id});
      if (!fresh && beats(m.owned_generation, m.member_id, it->second))
        it->second = claim{m.owned_generation, m.member_id};
    }
  }
  std::map<std::string, std::vector<topic_partition>> kept;
  for (const auto& m : members) {
    auto& list = kept[m.member_id];
    std::set<topic_partition> seen;
    for (const auto& p : m.owned) {
      auto it = claims.find(p);
      if (it != claims.end() && it->second.member == m.member_id && seen.insert(p).second)
        list.push_back(p);
    }
  }

  // Quotas: everyone gets `base`, `extra` members get one more. The extra
  // slots go first to the members that already hold more than `base`, so
  // that as few partitions as possible move.
  const std::size_t n = members.size();
  const std::size_t base = partitions.size() / n;
  std::size_t extra = partitions.size() % n;
  std::vector<const member_subscription*> order;
  for (const auto& m : members)
    order.push_back(&m);
  std::ranges::stable_sort(order, [&](const auto* a, const auto* b) {
    return kept[a->member_id].size() > kept[b->member_id].size();
  });
  std::map<std::string, std::size_t> quota;
  for (const auto* m : order) {
    quota[m->member_id] = base + (extra > 0 ? 1 : 0);
    if (extra > 0) --extra;
  }

  std::set<topic_partition> taken;
  for (const auto& m : members) {
    auto& list = kept[m.member_id];
    if (list.size() > quota[m.member_id]) list.resize(quota[m.member_id]);
    taken.insert(list.begin(), list.end());
    out[m.member_id] = list;
  }
  for (const auto& p : partitions) {
    if (taken.contains(p)) continue;
    // The member furthest below its quota; ties by member id (map order).
    auto best = out.end();
    std::size_t best_room = 0;
    for (auto it = out.begin(); it != out.end(); ++it) {
      const std::size_t room = quota[it->first] - it->second.size();
      if (room > best_room) {
        best_room = room;
        best = it;
      }
    }
    // The quotas add up to the number of partitions, so there is room.
    best->second.push_back(p);
  }
  return out;
}

kafka::byte_vector encode_member_metadata(const member_metadata& metadata) {
  return to_bytes(json{{"v", blob_version},
                       {"instance", metadata.instance},
                       {"generation", metadata.generation},
                       {"owned", partitions_to_json(metadata.owned)}});
}

std::expected<member_metadata, std::string> decode_member_metadata(kafka::bytes_view blob) {
  auto j = parse_blob(blob);
  if (!j) return std::unexpected("member metadata: " + j.error());
  try {
    member_metadata out;
    out.instance = j->value("instance", std::string());
    out.generation = j->value("generation", -1);
    if (j->contains("owned")) out.owned = partitions_from_json((*j)["owned"]);
    return out;
  } catch (const std::exception& e) {
    return std::unexpected(std::string("member metadata: ") + e.what());
  }
}

kafka::byte_vector encode_member_assignment(const member_assignment& assignment) {
  return to_bytes(json{{"v", blob_version},
                       {"generation", assignment.generation},
                       {"leader", assignment.leader},
                       {"partitions", partitions_to_json(assignment.partitions)}});
}

std::expected<member_assignment, std::string> decode_member_assignment(kafka::bytes_view blob) {
  auto j = parse_blob(blob);
  if (!j) return std::unexpected("member assignment: " + j.error());
  try {
    member_assignment out;
    out.generation = j->value("generation", -1);
    out.leader = j->value("leader", std::string());
    if (j->contains("partitions")) out.partitions = partitions_from_json((*j)["partitions"]);
    return out;
  } catch (const std::exception& e) {
    return std::unexpected(std::string("member assignment: ") + e.what());
  }
}

}  // namespace klink::linker
