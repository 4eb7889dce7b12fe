// Scale-out: membership, take-over and hand-over (gather.cpp holds the
// whole-link promote/failover). See "Scale-out" in README.md in this folder
// for the hand-over, the fencing argument and whole-link switches.
#include "linker/scale_out.h"

#include <unistd.h>

#include <algorithm>

#include "kafka/sleep.h"
#include "linker/link_context.h"
#include "linker/offset_book.h"
#include "linker/scale_out_timing.h"
#include "linker/topic_follower.h"
#include "log/log.h"

namespace klink::linker {

namespace {
using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::map<std::string, std::vector<int32_t>> by_topic(const std::vector<topic_partition>& list) {
  std::map<std::string, std::vector<int32_t>> out;
  for (const auto& [topic, partition] : list)
    out[topic].push_back(partition);
  return out;
}

}  // namespace

std::string instance_label() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return std::string(host) + ":" + std::to_string(getpid());
}

scale_out_coordinator::scale_out_coordinator(link_context& context) : ctx_(context) {
  const auto& scale_out = ctx_.options.scale_out;
  group_id_ = scale_out.group_id.empty() ? "klink." + ctx_.name() : scale_out.group_id;
  group_membership_options membership;
  membership.group_id = group_id_;
  membership.instance = instance_label();
  membership.session_timeout = scale_out.session_timeout;
  // Room for every member to hand its partitions over before rejoining.
  membership.rebalance_timeout = scale_out.session_timeout + 2 * hand_over_drain;
  // A JoinGroup is answered only when the rebalance completes.
  auto connection = ctx_.options.destination_connection;
  connection.request_timeout =
      std::max(connection.request_timeout, membership.rebalance_timeout + std::chrono::seconds(10));
  group_cluster_ = std::make_unique<kafka::cluster>(ctx_.executor, "destination",
                                                    ctx_.options.destination_bootstrap, connection);
  membership_ = std::make_unique<group_membership>(
      *group_cluster_, std::move(membership),
      group_callbacks{
          [this] { return shared_partitions(); },
          [this](const std::vector<topic_partition>& revoked) { return hand_over(revoked); },
          [this](const std::vector<topic_partition>& assigned, int32_t generation) {
            on_assigned(assigned, generation);
          }});
  // The lease: an instance writes only while the coordinator could not yet
  // have given its partitions to another.
  ctx_.engine.set_write_guard(
      [this] { return ctx_.options.scale_out.unguarded || membership_->owns_lease(clock::now()); });
  if (scale_out.unguarded) {
    log::warn(
        "scale-out lease guard OFF (KLINK_SCALE_OUT_UNGUARDED=1, a test hook): only the "
        "destination's sequence check fences this instance",
        {{"link", ctx_.name()}, {"group", group_id_}});
  }
}

scale_out_coordinator::~scale_out_coordinator() = default;

void scale_out_coordinator::after_discovery() {
  // The leader assigns what it has set up; a change is shared by a rebalance.
  auto shared = shared_partitions();
  if (!membership_started_) {
    membership_started_ = true;
    shared_at_join_ = std::move(shared);
    asio::co_spawn(ctx_.executor, membership_->run(), asio::detached);
    asio::co_spawn(ctx_.executor, state_poll_loop(), asio::detached);
  } else if (shared != shared_at_join_) {
    shared_at_join_ = std::move(shared);
    membership_->request_rejoin();
  }
}

asio::awaitable<void> scale_out_coordinator::leave() {
  if (membership_started_) co_await membership_->leave();
}

void scale_out_coordinator::close() {
  group_cluster_->close();
}

void scale_out_coordinator::prepare(const std::string& topic, int32_t partitions) {
  const bool fresh = !prepared_.contains(topic);
  prepared_[topic] = partitions;
  if (!fresh) return;
  log::info("mirror topic ready; its partitions are shared by the link's instances",
            {{"link", ctx_.name()},
             {"topic", topic},
             {"mirror_topic", ctx_.mirror_name(topic)},
             {"partitions", partitions},
             {"group", group_id_}});
}

void scale_out_coordinator::forget(const std::string& topic) {
  prepared_.erase(topic);
}

int32_t scale_out_coordinator::prepared_partitions(const std::string& topic) const {
  auto it = prepared_.find(topic);
  return it == prepared_.end() ? 0 : it->second;
}

std::vector<std::string> scale_out_coordinator::prepared_topics() const {
  std::vector<std::string> out;
  for (const auto& [topic, count] : prepared_)
    out.push_back(topic);
  return out;
}

std::vector<topic_partition> scale_out_coordinator::shared_partitions() const {
  std::vector<topic_partition> out;
  const int64_t now = wall_clock_ms();
  for (const auto& [topic, count] : prepared_) {
    if (ctx_.follower->excluded(topic) || ctx_.follower->source_problem_of(topic)) continue;
    if (is_stopped(ctx_.lifecycle->phase(topic))) continue;
    // Held by an instance promoting or failing it over.
    if (const auto* record = ctx_.lifecycle->record_of(topic);
        record && record->held_until_ms > now)
      continue;
    for (int32_t p = 0; p < count; ++p)
      out.emplace_back(topic, p);
  }
  return out;
}

asio::awaitable<void> scale_out_coordinator::hand_over(std::vector<topic_partition> partitions) {
  // A take-over still starting partitions stops at its next step.
  ++assignment_epoch_;
  while (taking_over_)
    co_await sleep_for(poll_interval);
  std::vector<topic_partition> here;
  for (const auto& tp : partitions) {
    if (running_.contains(tp) && !gathered_.contains(tp.first)) here.push_back(tp);
  }
  co_await release_here(here, hand_over_drain);
  // The leader assigns from these records: holds and final states written by
  // other instances must be known before the join.
  if (!ctx_.stopping) co_await ctx_.lifecycle->refresh();
}

asio::awaitable<void> scale_out_coordinator::release_here(
    const std::vector<topic_partition>& partitions, milliseconds deadline) {
  if (partitions.empty()) co_return;
  const bool drained = co_await ctx_.engine.release_partitions(partitions, deadline);
  // Whatever they acknowledged is on record before another instance resumes
  // from the checkpoints (it re-reads the destination's tail beyond them anyway).
  if (auto written = co_await ctx_.book->write(); !written) {
    log::warn(
        "checkpoints of handed-over partitions not written; the next owner re-reads the "
        "destination's tail",
        {{"link", ctx_.name()}, {"error", written.error().message()}});
  }
  ctx_.engine.remove_partitions(partitions);
  ctx_.book->forget(partitions);
  for (const auto& tp : partitions)
    running_.erase(tp);
  log::info("scale-out: partitions handed over", {{"link", ctx_.name()},
                                                  {"group", group_id_},
                                                  {"partitions", partitions.size()},
                                                  {"drained", drained}});
}

void scale_out_coordinator::on_assigned(const std::vector<topic_partition>& assigned,
                                        int32_t generation) {
  if (ctx_.stopping) return;
  std::vector<topic_partition> fresh;
  for (const auto& tp : assigned) {
    if (!running_.contains(tp)) fresh.push_back(tp);
  }
  log::info("scale-out: partitions assigned", {{"link", ctx_.name()},
                                               {"group", group_id_},
                                               {"generation", generation},
                                               {"partitions", assigned.size()},
                                               {"to_start", fresh.size()}});
  taking_over_ = true;
  asio::co_spawn(ctx_.executor, take_over(std::move(fresh), generation, assignment_epoch_),
                 asio::detached);
}

asio::awaitable<void> scale_out_coordinator::take_over(std::vector<topic_partition> partitions,
                                                       int32_t generation, uint64_t epoch) {
  auto pending = by_topic(partitions);
  auto current = [&] { return epoch == assignment_epoch_ && !ctx_.stopping; };
  int failures = 0;
  while (!pending.empty() && current()) {
    for (auto it = pending.begin(); it != pending.end() && current();) {
      auto started = co_await take_over_topic(it->first, it->second);
      if (!current()) break;
      if (started) {
        it = pending.erase(it);
        continue;
      }
      if (failures == 0) {
        log::warn(
            "scale-out: cannot start assigned partitions yet; retrying",
            {{"link", ctx_.name()}, {"topic", it->first}, {"reason", started.error().message()}});
      }
      ++it;
    }
    if (pending.empty() || !current()) break;
    ++failures;
    co_await sleep_for(std::min(milliseconds(200) * failures, milliseconds(2000)));
  }
  if (current()) started_generation_ = generation;
  taking_over_ = false;
}

asio::awaitable<result<void>> scale_out_coordinator::take_over_topic(
    const std::string& topic, const std::vector<int32_t>& partitions) {
  // Stopped for good meanwhile (another instance promoted it): nothing to do.
  if (is_stopped(ctx_.lifecycle->phase(topic))) co_return ok();
  if (!prepared_.contains(topic)) {
    // Assigned before this instance's own discovery found it.
    const std::vector<std::string> just_this{topic};
    co_await ctx_.source.refresh_metadata(just_this);
    if (ctx_.stopping) co_return std::unexpected(error(errc::stopping, "take over"));
    co_await ctx_.follower->set_up_mirror(topic, ctx_.follower->listed_at_start(topic));
  }
  if (!prepared_.contains(topic))
    co_return std::unexpected(error(errc::not_ready, {}, "mirror topic not set up yet"));
  co_return co_await start_here(topic, partitions);
}

asio::awaitable<result<void>> scale_out_coordinator::start_here(
    const std::string& topic, const std::vector<int32_t>& partitions) {
  std::vector<int32_t> missing;
  for (const int32_t p : partitions) {
    if (!running_.contains({topic, p})) missing.push_back(p);
  }
  if (missing.empty()) co_return ok();
  // The mirror's newest record first: a mirror paused through another
  // instance a moment ago starts paused here, never writing.
  co_await ctx_.lifecycle->refresh();
  // The previous owner's last checkpoints.
  if (auto loaded = co_await ctx_.book->load(); !loaded)
    co_return std::unexpected(std::move(loaded.error()).within("cannot read checkpoints"));
  auto starts = co_await ctx_.follower->start_offsets(topic, ctx_.follower->listed_at_start(topic));
  if (!starts) co_return std::unexpected(std::move(starts.error()).within("source offsets"));
  if (auto started = co_await ctx_.book->start_partitions(topic, missing, *starts, false); !started)
    co_return started;
  for (const int32_t p : missing)
    running_.insert({topic, p});
  if (ctx_.lifecycle->phase(topic) == mirror_phase::paused) ctx_.engine.set_paused(topic, true);
  log::info("scale-out: partitions started here", {{"link", ctx_.name()},
                                                   {"topic", topic},
                                                   {"mirror_topic", ctx_.mirror_name(topic)},
                                                   {"partitions", missing.size()}});
  co_return ok();
}

asio::awaitable<void> scale_out_coordinator::state_poll_loop() {
  // Pause and resume are per mirror: the other instances learn them here.
  const auto interval =
      std::min<milliseconds>(ctx_.options.topic_refresh_interval, milliseconds(2000));
  while (!ctx_.stopping) {
    co_await sleep_for(interval);
    if (ctx_.stopping) break;
    co_await ctx_.lifecycle->refresh();
    co_await confirm_pauses_here();
  }
}

asio::awaitable<result<std::vector<member_share>>> scale_out_coordinator::describe_members(
    std::string* group_state) {
  co_return co_await membership_->describe(group_state);
}

}  // namespace klink::linker
