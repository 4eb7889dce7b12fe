// Failover: stop mirroring at once, whether or not the source is up, sync
// consumer offsets from what is known, record FAILED_OVER with the lag left
// behind (README.md in this folder, "Mirror lifecycle").
#include <algorithm>

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

constexpr std::chrono::milliseconds poll_interval{20};
// A failover waits at most this long for batches already in flight, so that
// their offsets are recorded; whatever is still unanswered then is abandoned.
constexpr std::chrono::milliseconds failover_drain_max{5000};
}  // namespace

asio::awaitable<switch_outcomes> mirror_lifecycle::failover(const std::vector<std::string>& topics,
                                                            std::chrono::milliseconds timeout) {
  switch_outcomes out;
  std::vector<std::string> gathered;
  if (ctx_.scale_out)
    gathered = co_await ctx_.scale_out->gather(topics, clock::now() + timeout, out);
  const auto stopping = stop_for_failover(topics, out);
  co_await drain_failover(stopping, timeout);

  std::vector<std::string> fresh;
  for (const auto& topic : stopping) {
    if (!is_final(phase(topic))) fresh.push_back(topic);
  }
  // Consumers resume on the destination where their last commit known to
  // klink points; the source is not asked (it may be gone).
  offsets::sync_result synced;
  if (ctx_.group_sync && !fresh.empty()) synced = co_await ctx_.group_sync->sync_known();
  for (const auto& topic : fresh) {
    auto result = final_result(topic, "failover", nullptr);
    add_sync(result, synced);
    finish_switch(topic, mirror_phase::failed_over, std::move(result));
    ctx_.follower->stop_following(topic);
    log::warn("mirror failed over: stopped for good, unmirrored records abandoned",
              {{"link", ctx_.name()},
               {"topic", topic},
               {"abandoned_records", entries_[topic].record.result->abandoned_records()}});
  }
  auto written = co_await persist(stopping);
  for (const auto& topic : stopping) {
    if (written) {
      out[topic] = {switch_status::switched, "", 0};
    } else {
      // Mirroring stays stopped in this process and the record keeps being
      // retried; until it is written a restart would resume mirroring.
      out[topic] = {
          switch_status::not_persisted,
          "mirror " + topic + " is stopped, but the destination did not record the failover (" +
              written.error().message() + "); klink keeps retrying, call again to confirm",
          0};
    }
  }
  if (ctx_.scale_out) co_await ctx_.scale_out->return_gathered(gathered, out);
  co_return out;
}

std::vector<std::string> mirror_lifecycle::stop_for_failover(const std::vector<std::string>& topics,
                                                             switch_outcomes& out) {
  const auto known = ctx_.follower->mirror_topics();
  std::vector<std::string> stopping;
  for (const auto& topic : topics) {
    if (out.contains(topic)) continue;
    if (!std::ranges::binary_search(known, topic)) {
      out[topic] = unknown_topic(topic);
      continue;
    }
    const auto current = phase(topic);
    if (is_final(current)) {
      if (!entries_[topic].persisted) {
        stopping.push_back(topic);  // stopped earlier, its record still to write
      } else {
        out[topic] = already_switched(topic, "failover");
      }
      continue;
    }
    if (current == mirror_phase::promoting) {
      out[topic] = {switch_status::conflict,
                    "mirror " + topic + " is being promoted; wait for that call or retry", 0};
      continue;
    }
    ctx_.engine.stop_topic(topic);
    stopping.push_back(topic);
  }
  return stopping;
}

asio::awaitable<void> mirror_lifecycle::drain_failover(const std::vector<std::string>& topics,
                                                       std::chrono::milliseconds timeout) {
  // Batches already in flight are answered (and recorded) if that is quick.
  const auto drain_until = clock::now() + std::min(timeout, failover_drain_max);
  auto in_flight = [&] {
    return std::ranges::any_of(topics, [&](const std::string& topic) {
      return std::ranges::any_of(ctx_.engine.partitions_of(topic), [](const auto* p) {
        return p->state == mirror::partition_state::active;
      });
    });
  };
  while (in_flight() && clock::now() < drain_until)
    co_await sleep_for(poll_interval);
  for (const auto& topic : topics)
    ctx_.engine.force_stop(topic);
}

}  // namespace klink::linker
