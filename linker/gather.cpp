// Whole-link promote and failover with scale-out: the calling instance holds
// the mirrors in their state records, a rebalance takes their partitions from
// every instance, and it starts them all here; afterwards what did not switch
// goes back to the group (README.md in this folder, "Whole-link promote and
// failover").
#include <algorithm>
#include <numeric>

#include "kafka/sleep.h"
#include "linker/link_context.h"
#include "linker/scale_out.h"
#include "linker/scale_out_timing.h"
#include "linker/topic_follower.h"
#include "log/log.h"

namespace klink::linker {

namespace {
using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
}  // namespace

std::vector<std::string> scale_out_coordinator::holdable(const std::vector<std::string>& topics,
                                                         switch_outcomes& out) const {
  std::vector<std::string> holding;
  for (const auto& topic : topics) {
    if (out.contains(topic) || !prepared_.contains(topic) || gathered_.contains(topic)) continue;
    const auto phase = ctx_.lifecycle->phase(topic);
    if (is_stopped(phase) || phase == mirror_phase::promoting) continue;
    if (membership_->member_id().empty() || !membership_->owns_lease(clock::now())) {
      out[topic] = {switch_status::conflict,
                    "this instance is not in the link's group right now (joining or "
                    "rebalancing); retry in a few seconds",
                    0};
      continue;
    }
    holding.push_back(topic);
  }
  return holding;
}

asio::awaitable<bool> scale_out_coordinator::hold(const std::vector<std::string>& topics,
                                                  clock::time_point deadline,
                                                  switch_outcomes& out) {
  const auto left = std::chrono::duration_cast<milliseconds>(deadline - clock::now());
  for (const auto& topic : topics) {
    auto& record = ctx_.lifecycle->record(topic);
    record.held_by = instance_label();
    record.held_until_ms = wall_clock_ms() + std::max<int64_t>(0, left.count()) +
                           (hand_over_drain + hold_margin).count();
  }
  auto written = co_await ctx_.lifecycle->persist(topics);
  if (written) co_return true;
  for (const auto& topic : topics) {
    auto& record = ctx_.lifecycle->record(topic);
    record.held_by.clear();
    record.held_until_ms = 0;
    out[topic] = {switch_status::not_persisted,
                  "cannot record the hold on " + topic + " in klink's state (" +
                      written.error().message() +
                      "); the mirror keeps running, call again to retry",
                  0};
  }
  co_return false;
}

asio::awaitable<std::vector<std::string>> scale_out_coordinator::gather(
    const std::vector<std::string>& topics, clock::time_point deadline, switch_outcomes& out) {
  const auto holding = holdable(topics, out);
  if (holding.empty()) co_return holding;
  // (Not inside the condition: g++ 12 mis-compiles co_await in a short-circuit.)
  const bool held = co_await hold(holding, deadline, out);
  if (!held) co_return std::vector<std::string>{};
  for (const auto& topic : holding)
    gathered_.insert(topic);
  log::info("scale-out: gathering mirrors here for a whole-link switch",
            {{"link", ctx_.name()}, {"group", group_id_}, {"topics", holding.size()}});
  // A rebalance is the barrier: every member hands all its partitions over
  // before rejoining (or is expelled, its lease over), and the leader assigns
  // no held mirror. Once this instance runs the new generation, nobody else
  // writes to the held mirrors.
  const int32_t before = membership_->generation();
  membership_->request_rejoin();
  while ((started_generation_ <= before || taking_over_) && clock::now() < deadline &&
         !ctx_.stopping)
    co_await sleep_for(poll_interval);
  std::vector<std::string> failed;
  std::vector<std::string> gathered;
  for (const auto& topic : holding) {
    if (started_generation_ <= before) {
      out[topic] = {switch_status::timed_out,
                    "the link's instances did not rebalance in time to hand " + topic +
                        " over; the mirror keeps running, call again to retry",
                    0};
      failed.push_back(topic);
      continue;
    }
    std::vector<int32_t> all(static_cast<std::size_t>(prepared_partitions(topic)));
    std::iota(all.begin(), all.end(), 0);
    if (auto started = co_await start_here(topic, all); !started) {
      out[topic] = {switch_status::source_unavailable,
                    "cannot start the partitions of " + topic +
                        " here: " + started.error().message() +
                        "; the mirror keeps running, call again to retry",
                    0};
      failed.push_back(topic);
      continue;
    }
    gathered.push_back(topic);
  }
  co_await scatter(failed);
  co_return gathered;
}

asio::awaitable<void> scale_out_coordinator::scatter(const std::vector<std::string>& topics) {
  if (topics.empty()) co_return;
  std::vector<topic_partition> here;
  for (const auto& tp : running_) {
    if (std::ranges::find(topics, tp.first) != topics.end()) here.push_back(tp);
  }
  for (const auto& topic : topics)
    gathered_.erase(topic);
  co_await release_here(here, hand_over_drain);
  std::vector<std::string> release;
  for (const auto& topic : topics) {
    auto& record = ctx_.lifecycle->record(topic);
    if (record.held_until_ms == 0) continue;
    record.held_by.clear();
    record.held_until_ms = 0;
    release.push_back(topic);
  }
  if (auto written = co_await ctx_.lifecycle->persist(release); !written) {
    log::warn("cannot clear the hold on mirrors; it ends by itself at its deadline",
              {{"link", ctx_.name()}, {"error", written.error().message()}});
  }
  // Back to the group.
  membership_->request_rejoin();
}

asio::awaitable<void> scale_out_coordinator::return_gathered(
    const std::vector<std::string>& gathered, const switch_outcomes& out) {
  std::vector<std::string> unswitched;
  for (const auto& topic : gathered) {
    auto it = out.find(topic);
    if (it != out.end() && it->second.status == switch_status::switched) {
      gathered_.erase(topic);  // stopped for good here; nothing to give back
      prepared_.erase(topic);
    } else {
      unswitched.push_back(topic);
    }
  }
  co_await scatter(unswitched);
}

}  // namespace klink::linker
