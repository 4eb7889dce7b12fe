// Promote: mirror up to the source's end as of the call, sync consumer
// offsets a last time, record PROMOTED, stop for good (README.md in this
// folder, "Mirror lifecycle").
#include <algorithm>

#include "kafka/client/list_offsets.h"
#include "kafka/sleep.h"
#include "linker/lifecycle.h"
#include "linker/link_context.h"
#include "linker/scale_out.h"
#include "linker/topic_follower.h"
#include "log/log.h"
#include "offsets/group_sync.h"

namespace klink::linker {

namespace {
using clock = std::chrono::steady_clock;
using mirror::partition_state;

// How often a promotion looks whether its mirrors reached their cut.
constexpr std::chrono::milliseconds poll_interval{20};

// Whether every partition of `topic` has everything below its cut on the
// destination; `failure` says why it never will.
bool reached(const link_context& ctx, const std::string& topic, const std::vector<int64_t>& cut,
             std::string& failure) {
  bool done = true;
  for (const auto* p : ctx.engine.partitions_of(topic)) {
    if (p->state != partition_state::active) {
      failure = "partition " + std::to_string(p->partition) + " is " +
                std::string(mirror::to_string(p->state)) + ": " +
                (p->failure ? p->failure->message() : "");
      return false;
    }
    const auto i = static_cast<std::size_t>(p->partition);
    if (i >= cut.size()) continue;
    if (!p->idle() || p->mirrored_source_offset() < cut[i]) done = false;
  }
  return done;
}

int64_t remaining(const link_context& ctx, const std::string& topic,
                  const std::vector<int64_t>& cut) {
  int64_t lag = 0;
  for (const auto* p : ctx.engine.partitions_of(topic)) {
    const auto i = static_cast<std::size_t>(p->partition);
    if (i < cut.size()) lag += std::max<int64_t>(0, cut[i] - p->mirrored_source_offset());
  }
  return lag;
}

}  // namespace

// One promote call's topics on their way.
struct mirror_lifecycle::promotion {
  clock::time_point deadline;
  std::chrono::milliseconds timeout;
  switch_outcomes out;
  std::vector<std::string> candidates;
  std::vector<std::string> joining;  // promoted by a call already running
  std::map<std::string, bool> was_paused;
  std::map<std::string, std::vector<int64_t>> cuts;
  std::vector<std::string> reached;
};

asio::awaitable<switch_outcomes> mirror_lifecycle::promote(const std::vector<std::string>& topics,
                                                           std::chrono::milliseconds timeout) {
  promotion run{clock::now() + timeout, timeout, {}, {}, {}, {}, {}, {}};
  // Scale-out: every partition of the topics is brought here first.
  std::vector<std::string> gathered;
  if (ctx_.scale_out) gathered = co_await ctx_.scale_out->gather(topics, run.deadline, run.out);
  select_for_promotion(topics, run);
  if (!run.candidates.empty()) co_await hold_at_cuts(run);
  co_await wait_for_cuts(run);
  co_await complete_promotion(run);
  release_unswitched(run);
  // Another call is promoting these: answer with its outcome.
  for (const auto& topic : run.joining) {
    while (phase(topic) == mirror_phase::promoting && clock::now() < run.deadline && !ctx_.stopping)
      co_await sleep_for(poll_interval);
    if (phase(topic) == mirror_phase::promoted) {
      run.out[topic] = {switch_status::switched, "", 0};
    } else {
      run.out[topic] = {switch_status::conflict,
                        "another promotion of " + topic + " was running and did not complete", 0};
    }
  }
  if (ctx_.scale_out) co_await ctx_.scale_out->return_gathered(gathered, run.out);
  co_return run.out;
}

void mirror_lifecycle::select_for_promotion(const std::vector<std::string>& topics,
                                            promotion& run) {
  const auto known = ctx_.follower->mirror_topics();
  const std::vector<int64_t> no_cut;
  for (const auto& topic : topics) {
    if (run.out.contains(topic)) continue;
    if (!std::ranges::binary_search(known, topic)) {
      run.out[topic] = unknown_topic(topic);
      continue;
    }
    const auto current = phase(topic);
    if (is_final(current)) {
      run.out[topic] = already_switched(topic, "promote");
      continue;
    }
    if (current == mirror_phase::promoting) {
      run.joining.push_back(topic);
      continue;
    }
    std::string failure;
    if (current == mirror_phase::diverged || !reached(ctx_, topic, no_cut, failure)) {
      if (failure.empty()) failure = record_of(topic) ? record_of(topic)->reason : "diverged";
      run.out[topic] = {switch_status::conflict,
                        "mirror " + topic + " cannot reach the source's end (" + failure +
                            "); use :failover to stop it and make the mirror topic writable",
                        0};
      continue;
    }
    run.was_paused[topic] = current == mirror_phase::paused;
    run.candidates.push_back(topic);
  }
}

asio::awaitable<void> mirror_lifecycle::hold_at_cuts(promotion& run) {
  // Hold every candidate at the source's end as it is now.
  for (const auto& topic : run.candidates) {
    set_phase(topic, mirror_phase::promoting);
    ctx_.engine.set_paused(topic, false);
  }
  auto refreshed = co_await ctx_.source.refresh_metadata(run.candidates);
  std::map<std::string, client::topic_offsets> ends;
  if (refreshed) {
    ends = co_await client::list_offsets(ctx_.source, run.candidates, client::latest_timestamp,
                                         client::isolation::read_committed);
  }
  for (const auto& topic : run.candidates) {
    auto it = ends.find(topic);
    if (it != ends.end() && it->second) {
      run.cuts[topic] = *it->second;
      continue;
    }
    const std::string why = !refreshed         ? refreshed.error().message()
                            : it == ends.end() ? "no answer"
                                               : it->second.error().message();
    run.out[topic] = {switch_status::source_unavailable,
                      "cannot read the source's end offsets of " + topic + ": " + why +
                          "; the mirror keeps running (use :failover if the source is gone)",
                      0};
  }
  for (const auto& [topic, cut] : run.cuts) {
    for (std::size_t i = 0; i < cut.size(); ++i)
      ctx_.engine.hold_at(topic, static_cast<int32_t>(i), cut[i]);
    log::info("promoting mirror: copying up to the source's end as of now",
              {{"link", ctx_.name()},
               {"topic", topic},
               {"records_to_go", remaining(ctx_, topic, cut)},
               {"timeout_ms", static_cast<int64_t>(run.timeout.count())}});
  }
}

asio::awaitable<void> mirror_lifecycle::wait_for_cuts(promotion& run) {
  // Until each reaches its cut, fails, or time runs out.
  std::set<std::string> waiting;
  for (const auto& [topic, _] : run.cuts)
    waiting.insert(topic);
  while (!waiting.empty()) {
    for (auto it = waiting.begin(); it != waiting.end();) {
      std::string failure;
      if (reached(ctx_, *it, run.cuts[*it], failure)) {
        run.reached.push_back(*it);
        it = waiting.erase(it);
      } else if (!failure.empty()) {
        run.out[*it] = {switch_status::conflict,
                        "mirror " + *it + " stopped while promoting (" + failure +
                            "); use :failover to stop it and make the mirror topic writable",
                        remaining(ctx_, *it, run.cuts[*it])};
        it = waiting.erase(it);
      } else {
        ++it;
      }
    }
    if (waiting.empty() || clock::now() >= run.deadline || ctx_.stopping) break;
    co_await sleep_for(poll_interval);
  }
  for (const auto& topic : waiting) {
    const auto lag = remaining(ctx_, topic, run.cuts[topic]);
    run.out[topic] = {switch_status::timed_out,
                      "mirror " + topic + " did not reach the source's end within " +
                          std::to_string(run.timeout.count()) + " ms: " + std::to_string(lag) +
                          " records remain; the mirror keeps running, call again to retry",
                      lag};
  }
}

asio::awaitable<void> mirror_lifecycle::complete_promotion(promotion& run) {
  // The final consumer-offset sync, while the mirrors are held at their cut.
  offsets::sync_result synced;
  if (ctx_.group_sync && !run.reached.empty()) synced = co_await ctx_.group_sync->sync_once();
  for (const auto& topic : run.reached) {
    auto result = final_result(topic, "promote", &run.cuts[topic]);
    add_sync(result, synced);
    finish_switch(topic, mirror_phase::promoted, std::move(result));
  }
  if (auto written = co_await persist(run.reached); !written) {
    for (const auto& topic : run.reached) {
      auto& e = entries_[topic];
      e.record.phase = mirror_phase::active;
      e.record.result.reset();
      e.persisted = true;
      run.out[topic] = {switch_status::not_persisted,
                        "mirror " + topic +
                            " reached the source's end, but the destination did not record the "
                            "promotion (" +
                            written.error().message() +
                            "); the mirror keeps running, call again to retry",
                        remaining(ctx_, topic, run.cuts[topic])};
    }
    run.reached.clear();
  }
  for (const auto& topic : run.reached) {
    ctx_.engine.stop_topic(topic);
    ctx_.follower->stop_following(topic);
    run.out[topic] = {switch_status::switched, "", 0};
    log::info(
        "mirror promoted: klink never writes to it again",
        {{"link", ctx_.name()},
         {"topic", topic},
         {"partitions", static_cast<int64_t>(entries_[topic].record.result->partitions.size())}});
  }
}

void mirror_lifecycle::release_unswitched(promotion& run) {
  // What did not switch runs on as before.
  auto restore = [&](const std::string& topic) {
    if (phase(topic) != mirror_phase::promoting) return;
    entries_[topic].record.phase =
        run.was_paused[topic] ? mirror_phase::paused : mirror_phase::active;
    if (run.was_paused[topic]) ctx_.engine.set_paused(topic, true);
  };
  for (const auto& [topic, cut] : run.cuts) {
    if (run.out[topic].status == switch_status::switched) continue;
    for (std::size_t i = 0; i < cut.size(); ++i)
      ctx_.engine.hold_at(topic, static_cast<int32_t>(i), -1);
    restore(topic);
  }
  for (const auto& topic : run.candidates) {
    if (!run.cuts.contains(topic)) restore(topic);
  }
}

}  // namespace klink::linker
