// A link's mirror lifecycle: the operator's actions on a mirror (pause,
// resume, promote, failover), divergence, and the durable record of each
// mirror's phase in __klink_mirror_states on the destination (README.md in
// this folder, "Mirror lifecycle"). Adding an action means a method here, its
// own .cpp beside promote.cpp and failover.cpp, and a route in src/admin/.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kafka/asio.h"
#include "kafka/error.h"
#include "linker/mirror_record.h"

namespace klink::offsets {
class checkpoint_store;
struct sync_result;
}  // namespace klink::offsets

namespace klink::linker {

struct link_context;

// How a promote, failover or reverse call ended for one topic.
enum class switch_status : uint8_t {
  switched,            // promoted / failed over (now or earlier), and persisted
  unknown_topic,       // the link mirrors no such topic
  conflict,            // its state does not allow it (failed, diverged, ...)
  timed_out,           // the cut was not reached in time; the mirror keeps running
  source_unavailable,  // the cut could not be read; the mirror keeps running
  not_persisted,       // the destination did not record the new state
  divergent,           // reverse: the old source holds records the new primary lacks
};

struct switch_outcome {
  switch_outcome(switch_status s = switch_status::switched, std::string why = {}, int64_t lag = 0)
      : status(s), message(std::move(why)), lag_records(lag) {}
  switch_status status = switch_status::switched;
  std::string message;                     // why it did not switch
  int64_t lag_records = 0;                 // records still to mirror when it did not
  std::vector<divergent_range> divergent;  // reverse: what the old source holds beyond the cut
};

// What to do with divergent records when reversing (failback).
enum class divergent_choice : uint8_t {
  refuse,  // answer divergent, change nothing
  keep,    // reverse anyway: the reversed mirror appends after them
  copy,    // copy them to `copy_to` on the new primary first, then keep
};

struct reverse_options {
  bool start = true;  // false: reversed but paused
  divergent_choice divergent = divergent_choice::refuse;
  std::string copy_to;
};

using switch_outcomes = std::map<std::string, switch_outcome>;

// Lives on the link's executor.
class mirror_lifecycle {
 public:
  // A mirror's record and whether the destination holds this version of it.
  struct entry {
    mirror_record record;
    bool persisted = true;
  };

  explicit mirror_lifecycle(link_context& context);
  ~mirror_lifecycle();

  // Reads every record of this link (creating the state topic if needed), so
  // that a mirror promoted by an earlier run is known before discovery.
  // `create`: false for a reverse link, which creates nothing on a cluster
  // until a mirror is reversed (a missing state topic reads as empty).
  asio::awaitable<result<void>> load(bool create = true);
  // Re-reads the state topic (scale-out): mirrors other instances paused,
  // resumed, promoted or failed over.
  asio::awaitable<void> refresh();

  mirror_phase phase(const std::string& topic) const;
  const mirror_record* record_of(const std::string& topic) const;
  // The record of `topic`, made (active, not yet persisted) if it has none.
  mirror_record& record(const std::string& topic);
  const std::map<std::string, entry>& entries() const { return entries_; }
  // The state topic's store (scale-out pause confirmations live there too).
  offsets::checkpoint_store& states() { return *states_; }
  // A promotion in progress is never written: a crash must leave it active.
  void set_phase(const std::string& topic, mirror_phase phase);
  // Writes the records of `topics` to the state topic.
  asio::awaitable<result<void>> persist(const std::vector<std::string>& topics);
  // Writes every record changed and not written yet; logs a failure.
  asio::awaitable<void> persist_pending();
  // Stops every mirror with a diverged partition and records it at once.
  void note_divergence();

  // Operator pause/resume of one mirror; false if the link mirrors no such
  // topic. While any topic is paused its source end offsets are polled, so
  // that its lag keeps counting what the source receives.
  bool pause(const std::string& topic);
  bool resume(const std::string& topic);
  // Mirrors each topic up to the source's last stable offsets read now, runs
  // a final consumer-offset sync, persists PROMOTED and stops it for good.
  asio::awaitable<switch_outcomes> promote(const std::vector<std::string>& topics,
                                           std::chrono::milliseconds timeout);
  // Stops each topic at once, syncs consumer offsets from the last known
  // source commits, persists FAILED_OVER.
  asio::awaitable<switch_outcomes> failover(const std::vector<std::string>& topics,
                                            std::chrono::milliseconds timeout);
  // Failback: makes each promoted or failed-over mirror's old source a mirror
  // of its new primary, run by the opposite link from where this one stopped
  // (reverse.cpp). Refuses, keeps or copies what the old source holds beyond
  // the cut, per `options`.
  asio::awaitable<switch_outcomes> reverse(const std::vector<std::string>& topics,
                                           const reverse_options& options,
                                           std::chrono::milliseconds timeout);
  // The opposite side of a reverse: records `topic` (this link's source
  // topic) as a mirror of this link starting at the given checkpoints, and
  // sets it up. The record's generation is the new one.
  asio::awaitable<result<void>> begin_generation(
      const std::string& topic, mirror_record record,
      const std::vector<std::pair<int64_t, int64_t>>& starts);

 private:
  void adopt(const std::string& topic, mirror_record record);
  asio::awaitable<void> paused_end_offsets_loop();
  // promote.cpp
  struct promotion;
  void select_for_promotion(const std::vector<std::string>& topics, promotion& run);
  asio::awaitable<void> hold_at_cuts(promotion& run);
  asio::awaitable<void> wait_for_cuts(promotion& run);
  asio::awaitable<void> complete_promotion(promotion& run);
  void release_unswitched(promotion& run);
  // failover.cpp
  std::vector<std::string> stop_for_failover(const std::vector<std::string>& topics,
                                             switch_outcomes& out);
  asio::awaitable<void> drain_failover(const std::vector<std::string>& topics,
                                       std::chrono::milliseconds timeout);
  // reverse.cpp
  struct reversal;
  asio::awaitable<switch_outcome> reverse_one(const std::string& topic,
                                              const reverse_options& options);
  asio::awaitable<result<void>> measure_divergence(reversal& run);
  mirror_record next_generation(const reversal& run, const mirror_record& ours,
                                const mirror_record* theirs, const reverse_options& options,
                                std::vector<std::pair<int64_t, int64_t>>& starts) const;
  asio::awaitable<result<void>> copy_divergent(reversal& run, const std::string& copy_to);
  // switches.cpp: what promote and failover share.
  switch_outcome unknown_topic(const std::string& topic) const;
  switch_outcome already_switched(const std::string& topic, std::string_view action) const;
  switch_result final_result(const std::string& topic, std::string action,
                             const std::vector<int64_t>* cut) const;
  void add_sync(switch_result& result, const offsets::sync_result& synced) const;
  // Records the switch (not persisted yet): the phase, its result (also kept
  // in the history), no hold.
  void finish_switch(const std::string& topic, mirror_phase phase, switch_result result);

  link_context& ctx_;
  std::unique_ptr<offsets::checkpoint_store> states_;
  std::map<std::string, entry> entries_;  // by source topic; absent = active
  // reverse.cpp: engines copying divergent records (kept: their coroutines
  // may still hold them after the copy).
  std::vector<std::shared_ptr<void>> copiers_;
  bool paused_loop_running_ = false;
  bool refreshing_ = false;
};

}  // namespace klink::linker
