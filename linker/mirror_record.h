// A mirror's lifecycle as the operator drives it (pause, promote, failover)
// and as divergence ends it, persisted on the destination so that a promoted
// or failed-over mirror stays stopped through restarts and new instances.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "kafka/error.h"

namespace klink::linker {

// Compacted, one partition, on the destination; key "<link>/<topic>".
inline constexpr std::string_view mirror_state_topic = "__klink_mirror_states";

enum class mirror_phase : uint8_t {
  active,
  paused,
  promoting,    // held at the cut, not persisted (a crash leaves it active)
  promoted,     // final: mirrored up to the cut, then stopped for good
  failed_over,  // final: stopped at once, the lag abandoned
  diverged,     // stopped: something else wrote to the mirror topic
};

std::string_view to_string(mirror_phase phase);  // "ACTIVE", "PROMOTED", ...
std::optional<mirror_phase> parse_phase(std::string_view name);

// No write into the mirror topic ever again.
constexpr bool is_final(mirror_phase phase) {
  return phase == mirror_phase::promoted || phase == mirror_phase::failed_over;
}
// The mirror no longer copies anything (final, or stopped by divergence).
constexpr bool is_stopped(mirror_phase phase) {
  return is_final(phase) || phase == mirror_phase::diverged;
}

// Where one partition ended when its mirror was promoted or failed over.
struct partition_final {
  int32_t partition = 0;
  // Promote: the source's last stable offset read at the call. Failover: the
  // last one known (-1 if never known).
  int64_t source_end_offset = -1;
  int64_t mirrored_source_offset = -1;  // next source offset that was not copied
  int64_t destination_end_offset = -1;  // end of the mirror partition at the stop
  int64_t abandoned_records = 0;        // source_end_offset - mirrored_source_offset, >= 0
  friend bool operator==(const partition_final&, const partition_final&) = default;
};

// The outcome of a promote, failover or reverse, answered again to repeated
// calls. For a reverse, each partition says where the reversed mirror starts:
// `mirrored_source_offset` on its source (where the switched mirror's
// destination ended), `destination_end_offset` on its destination (the old
// source's end, after any divergent records).
struct switch_result {
  std::string action;           // "promote", "failover" or "reverse"
  int64_t completed_at_ms = 0;  // wall clock, ms since the epoch
  std::vector<partition_final> partitions;
  // The final consumer-offset sync (absent when the link syncs none).
  bool consumer_offsets_synced = false;
  int64_t consumer_groups_synced = 0;
  int64_t consumer_groups_failed = 0;
  std::vector<std::string> consumer_offset_errors;

  int64_t abandoned_records() const;
  friend bool operator==(const switch_result&, const switch_result&) = default;
};

// Records the old source held beyond a switched mirror's cut when the mirror
// was reversed (failback): they exist there and not on the new primary.
// Offsets are the old source's, which the reversed mirror writes after them.
struct divergent_range {
  int32_t partition = 0;
  int64_t start_offset = 0;  // the cut: the first offset the switched mirror never copied
  int64_t end_offset = 0;    // the old source's end when the reverse began
  int64_t records = 0;       // committed records in between
  std::string copied_to;     // the topic on the new primary they were copied to, or ""
  int64_t generation = 0;    // of the reversed mirror that kept them
  friend bool operator==(const divergent_range&, const divergent_range&) = default;
};

// What the state topic holds for one mirror. Every mirror has one from the
// moment it is set up (before its topic is created), so any klink reading
// this cluster's state topic knows the topic is a mirror and never mirrors
// it back (bidirectional links).
struct mirror_record {
  mirror_phase phase = mirror_phase::active;
  std::string reason;  // why it diverged
  std::optional<switch_result> result;
  std::string mirror_topic;  // its name on the destination ("" in records before prefixes)
  // The source topic's id as Kafka prints it: a recreated topic has another.
  std::string source_topic_id;
  // The cluster id of the mirror's source: a link skips only the mirrors that
  // came from its own destination (a loop), not those it may pass on (a chain).
  std::string source_cluster_id;
  // Scale-out: an instance is promoting or failing the mirror over and has
  // taken all its partitions; the group assigns them to no one until this
  // time (wall clock, ms since the epoch) passes. 0: not held.
  std::string held_by;  // that instance, for people
  int64_t held_until_ms = 0;
  // Failback: each :reverse starts a new generation of the mirror in the
  // other direction, recorded on that direction's destination; the higher
  // generation is the current direction. 0: never reversed.
  int64_t generation = 0;
  // This direction's switches and the reverses that started it, oldest first
  // (the last max_history).
  std::vector<switch_result> history;
  std::vector<divergent_range> divergent_ranges;  // on this direction's destination
  // Scale-out: bumped by each :pause; every instance running the mirror's
  // partitions confirms it has stopped them (scale_out_pause.cpp).
  int64_t pause_epoch = 0;
  friend bool operator==(const mirror_record&, const mirror_record&) = default;
};

inline constexpr std::size_t max_history = 32;

std::string mirror_state_key(std::string_view link, std::string_view topic);

// Now, in ms since the epoch: the clock of completed_at_ms and held_until_ms.
int64_t wall_clock_ms();

std::string serialize(const mirror_record& record);
result<mirror_record> parse_mirror_record(std::string_view text);

// The JSON the admin endpoint answers for a result and a divergent range.
nlohmann::json to_json(const switch_result& result);
nlohmann::json to_json(const divergent_range& range);

}  // namespace klink::linker
