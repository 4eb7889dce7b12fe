// The link's read-only status and operator pause/resume, for the admin endpoint.
#include <algorithm>

#include "kafka/sleep.h"
#include "linker/link.h"
#include "log/log.h"

namespace klink::linker {

namespace {
// How often a paused topic's source end offsets are read: its lag must keep
// counting what producers write while nothing is fetched.
constexpr std::chrono::seconds paused_poll_interval{1};
}  // namespace

bool link::reachable(const std::string& role) const {
  auto it = reachable_.find(role);
  return it != reachable_.end() && it->second;
}

std::string link::unreachable_reason(const std::string& role) const {
  if (!reachable_.contains(role)) return role + " cluster not reached yet";
  if (reachable(role)) return "";
  auto it = unreachable_error_.find(role);
  std::string reason = role + " cluster unreachable";
  if (auto f = security_failure_.find(role); f != security_failure_.end() && !f->second.empty())
    reason = role + " cluster refuses klink (" + f->second + ")";
  if (it != unreachable_error_.end() && !it->second.empty()) reason += ": " + it->second;
  return reason;
}

std::string link::failure_reason() const {
  for (const char* role : {"source", "destination"}) {
    auto it = security_failure_.find(role);
    if (it != security_failure_.end() && !it->second.empty()) return it->second;
  }
  return "";
}

uint64_t link::authentication_failures(const std::string& role) const {
  auto it = authentication_failures_.find(role);
  return it == authentication_failures_.end() ? 0 : it->second;
}

std::string_view link::state() const {
  if (!failure_reason().empty()) return "FAILED";
  if (!reachable("source") || !reachable("destination")) return "UNAVAILABLE";
  // Mirrors stopped for good (promoted, failed over) say nothing about the link.
  std::vector<const mirror::partition_mirror*> running;
  for (const auto& p : engine_.partitions()) {
    if (p->state != mirror::partition_state::stopped && !is_stopped(phase(p->source_topic)) &&
        !excluded_.contains(p->source_topic))
      running.push_back(p.get());
  }
  if (running.empty()) return "ACTIVE";
  const bool all_failed = std::ranges::all_of(
      running, [](const auto* p) { return p->state != mirror::partition_state::active; });
  if (all_failed) return "FAILED";
  const bool all_paused = std::ranges::all_of(running, [](const auto* p) { return p->paused; });
  if (all_paused) return "PAUSED";
  return "ACTIVE";
}

int64_t link::lag_records() const {
  int64_t lag = 0;
  for (const auto& p : engine_.partitions()) {
    if (is_stopped(phase(p->source_topic)) || excluded_.contains(p->source_topic) ||
        source_problems_.contains(p->source_topic))
      continue;
    lag += p->lag_records();
  }
  return lag;
}

uint64_t link::consumer_offsets_committed() const {
  return group_sync_ ? group_sync_->partitions_committed_total() : 0;
}

bool link::pause(const std::string& topic) {
  // Scale-out: the record reaches the instances that run its partitions.
  if (!engine_.set_paused(topic, true) && !prepared_.contains(topic)) return false;
  if (phase(topic) == mirror_phase::active) set_phase(topic, mirror_phase::paused);
  log::info("mirror paused", {{"link", options_.name}, {"topic", topic}});
  if (!paused_loop_running_) {
    paused_loop_running_ = true;
    asio::co_spawn(executor_, paused_end_offsets_loop(), asio::detached);
  }
  return true;
}

bool link::resume(const std::string& topic) {
  if (!engine_.set_paused(topic, false) && !prepared_.contains(topic)) return false;
  if (phase(topic) == mirror_phase::paused) set_phase(topic, mirror_phase::active);
  log::info("mirror resumed", {{"link", options_.name}, {"topic", topic}});
  return true;
}

asio::awaitable<void> link::paused_end_offsets_loop() {
  while (!stopping_) {
    std::set<std::string> paused;
    for (const auto& p : engine_.partitions()) {
      if (p->paused && !excluded_.contains(p->source_topic)) paused.insert(p->source_topic);
    }
    if (paused.empty()) break;
    for (const auto& topic : paused) {
      auto ends = co_await source_end_offsets(topic);
      if (!ends) continue;  // the next round retries; the lag keeps its last value
      // The engine's fetch responses write these fields while the topic is
      // fetched; while it is paused nothing else does, and everything runs on
      // this one executor.
      for (const auto& p : engine_.partitions()) {
        if (p->source_topic != topic || !p->paused || p->partition < 0 ||
            static_cast<std::size_t>(p->partition) >= ends->size())
          continue;
        p->source_last_stable_offset = (*ends)[static_cast<std::size_t>(p->partition)];
      }
    }
    co_await sleep_for(paused_poll_interval);
  }
  paused_loop_running_ = false;
}

}  // namespace klink::linker
