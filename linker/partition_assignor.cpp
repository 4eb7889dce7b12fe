#include "linker/partition_assignor.h"

#include <algorithm>
#include <set>

namespace klink::linker {

namespace {
struct claim {
  int32_t generation = -1;
  std::string member;
};

// Whether a claim of `generation` by `member` beats `current`.
bool beats(int32_t generation, const std::string& member, const claim& current) {
  if (generation != current.generation) return generation > current.generation;
  return member < current.member;
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

}  // namespace klink::linker
