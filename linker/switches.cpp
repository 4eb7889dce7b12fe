// What promote and failover share: refusals, the final result of a switch
// and its record.
#include <algorithm>
#include <chrono>

#include "linker/lifecycle.h"
#include "linker/link_context.h"
#include "offsets/group_sync.h"

namespace klink::linker {

namespace {
int64_t end_offset(const mirror::partition_mirror& p) {
  return p.source_last_stable_offset >= 0 ? p.source_last_stable_offset : p.source_high_watermark;
}
}  // namespace

switch_outcome mirror_lifecycle::unknown_topic(const std::string& topic) const {
  return {switch_status::unknown_topic,
          "link " + ctx_.name() + " mirrors no topic \"" + topic + "\"", 0};
}

switch_outcome mirror_lifecycle::already_switched(const std::string& topic,
                                                  std::string_view action) const {
  const auto current = phase(topic);
  const auto* record = record_of(topic);
  if (current == mirror_phase::promoted ||
      (current == mirror_phase::failed_over && action == "failover")) {
    return {switch_status::switched, "", 0};
  }
  // A failed-over mirror was cut short: promoting it now cannot promise
  // that everything arrived.
  return {
      switch_status::conflict,
      "mirror " + topic + " was failed over" +
          (record && record->result
               ? " abandoning " + std::to_string(record->result->abandoned_records()) + " records"
               : std::string()) +
          "; it cannot be promoted any more",
      0};
}

switch_result mirror_lifecycle::final_result(const std::string& topic, std::string action,
                                             const std::vector<int64_t>* cut) const {
  switch_result result;
  result.action = std::move(action);
  result.completed_at_ms = wall_clock_ms();
  for (const auto* p : ctx_.engine.partitions_of(topic)) {
    partition_final f;
    f.partition = p->partition;
    const auto i = static_cast<std::size_t>(p->partition);
    f.source_end_offset = cut != nullptr && i < cut->size() ? (*cut)[i] : end_offset(*p);
    f.mirrored_source_offset = p->mirrored_source_offset();
    f.destination_end_offset = p->next_destination_offset;
    f.abandoned_records =
        f.source_end_offset < 0
            ? 0
            : std::max<int64_t>(0, f.source_end_offset - f.mirrored_source_offset);
    result.partitions.push_back(f);
  }
  return result;
}

void mirror_lifecycle::add_sync(switch_result& result, const offsets::sync_result& synced) const {
  if (ctx_.group_sync == nullptr) return;
  result.consumer_offsets_synced = true;
  result.consumer_groups_synced = synced.groups_synced;
  result.consumer_groups_failed = synced.groups_failed;
  result.consumer_offset_errors = synced.errors;
}

void mirror_lifecycle::finish_switch(const std::string& topic, mirror_phase phase,
                                     switch_result result) {
  auto& e = entries_[topic];
  e.record.phase = phase;
  e.record.history.push_back(result);
  if (e.record.history.size() > max_history) e.record.history.erase(e.record.history.begin());
  e.record.result = std::move(result);
  e.record.held_by.clear();
  e.record.held_until_ms = 0;
  e.persisted = false;
}

}  // namespace klink::linker
