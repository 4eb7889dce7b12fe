// Scale-out: the link as one member of its group on the destination cluster.
// Each instance sets up every mirror topic but runs only the partitions the
// group's leader assigns it; see "Scale-out" in linker/README.md for the
// hand-over, the fencing argument and whole-link promote/failover.
#include <unistd.h>

#include <algorithm>
#include <numeric>

#include "kafka/sleep.h"
#include "linker/link.h"
#include "log/log.h"

namespace klink::linker {

namespace {
using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// How long a revoked partition's batches in flight are waited for. The other
// members wait for this one's rejoin (up to the rebalance timeout), so it
// must stay well below that.
constexpr milliseconds hand_over_drain{5000};
// A promote/failover's hold on its topics outlives the call by this much, so
// that the group cannot hand them out while the call still writes to them.
constexpr milliseconds hold_margin{10000};
constexpr milliseconds poll_interval{20};

int64_t wall_clock_ms() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string instance_label() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return std::string(host) + ":" + std::to_string(getpid());
}

std::map<std::string, std::vector<int32_t>> by_topic(const std::vector<topic_partition>& list) {
  std::map<std::string, std::vector<int32_t>> out;
  for (const auto& [topic, partition] : list)
    out[topic].push_back(partition);
  return out;
}

}  // namespace

void link::set_up_scale_out() {
  const auto& scale_out = options_.scale_out;
  group_id_ = scale_out.group_id.empty() ? "klink." + options_.name : scale_out.group_id;
  group_membership_options membership;
  membership.group_id = group_id_;
  membership.instance = instance_label();
  membership.session_timeout = scale_out.session_timeout;
  // Room for every member to hand its partitions over before rejoining.
  membership.rebalance_timeout = scale_out.session_timeout + 2 * hand_over_drain;
  // A JoinGroup is answered only when the rebalance completes.
  auto connection = options_.destination_connection;
  connection.request_timeout =
      std::max(connection.request_timeout, membership.rebalance_timeout + std::chrono::seconds(10));
  group_cluster_ = std::make_unique<kafka::cluster>(executor_, "destination",
                                                    options_.destination_bootstrap, connection);
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
  engine_.set_write_guard(
      [this] { return options_.scale_out.unguarded || membership_->owns_lease(clock::now()); });
  if (scale_out.unguarded) {
    log::warn(
        "scale-out lease guard OFF (KLINK_SCALE_OUT_UNGUARDED=1, a test hook): only the "
        "destination's sequence check fences this instance",
        {{"link", options_.name}, {"group", group_id_}});
  }
}

std::vector<topic_partition> link::shared_partitions() const {
  std::vector<topic_partition> out;
  const int64_t now = wall_clock_ms();
  for (const auto& [topic, count] : prepared_) {
    if (excluded_.contains(topic) || source_problems_.contains(topic)) continue;
    if (is_stopped(phase(topic))) continue;
    // Held by an instance promoting or failing it over.
    if (const auto* record = record_of(topic); record && record->held_until_ms > now) continue;
    for (int32_t p = 0; p < count; ++p)
      out.emplace_back(topic, p);
  }
  return out;
}

asio::awaitable<void> link::hand_over(std::vector<topic_partition> partitions) {
  // A take-over still starting partitions stops at its next step.
  ++assignment_epoch_;
  while (taking_over_)
    co_await klink::sleep_for(poll_interval);
  std::vector<topic_partition> here;
  for (const auto& tp : partitions) {
    if (running_.contains(tp) && !gathered_.contains(tp.first)) here.push_back(tp);
  }
  co_await release_here(here, hand_over_drain);
  // The leader assigns from these records: holds and final states written by
  // other instances must be known before the join.
  if (!stopping_) co_await refresh_lifecycle();
}

asio::awaitable<void> link::release_here(const std::vector<topic_partition>& partitions,
                                         milliseconds deadline) {
  if (partitions.empty()) co_return;
  const bool drained = co_await engine_.release_partitions(partitions, deadline);
  // Whatever they acknowledged is on record before another instance resumes
  // from the checkpoints (it re-reads the destination's tail beyond them anyway).
  if (auto written = co_await write_checkpoints(); !written) {
    log::warn(
        "checkpoints of handed-over partitions not written; the next owner re-reads the "
        "destination's tail",
        {{"link", options_.name}, {"error", written.error()}});
  }
  engine_.remove_partitions(partitions);
  for (const auto& tp : partitions) {
    running_.erase(tp);
    maps_.erase(tp);
    last_written_.erase(offsets::checkpoint_key(options_.name, tp.first, tp.second));
  }
  log::info("scale-out: partitions handed over", {{"link", options_.name},
                                                  {"group", group_id_},
                                                  {"partitions", partitions.size()},
                                                  {"drained", drained}});
}

void link::on_assigned(const std::vector<topic_partition>& assigned, int32_t generation) {
  if (stopping_) return;
  std::vector<topic_partition> fresh;
  for (const auto& tp : assigned) {
    if (!running_.contains(tp)) fresh.push_back(tp);
  }
  log::info("scale-out: partitions assigned", {{"link", options_.name},
                                               {"group", group_id_},
                                               {"generation", generation},
                                               {"partitions", assigned.size()},
                                               {"to_start", fresh.size()}});
  taking_over_ = true;
  asio::co_spawn(executor_, take_over(std::move(fresh), generation, assignment_epoch_),
                 asio::detached);
}

asio::awaitable<void> link::take_over(std::vector<topic_partition> partitions, int32_t generation,
                                      uint64_t epoch) {
  auto pending = by_topic(partitions);
  auto current = [&] { return epoch == assignment_epoch_ && !stopping_; };
  int failures = 0;
  while (!pending.empty() && current()) {
    for (auto it = pending.begin(); it != pending.end() && current();) {
      const std::string topic = it->first;
      // Stopped for good meanwhile (another instance promoted it): nothing to do.
      if (is_stopped(phase(topic))) {
        it = pending.erase(it);
        continue;
      }
      if (!prepared_.contains(topic)) {
        // Assigned before this instance's own discovery found it.
        const std::vector<std::string> just_this{topic};
        co_await source_.refresh_metadata(just_this);
        if (!current()) break;
        const bool ready = co_await set_up_mirror(topic, first_listing_.contains(topic));
        if (!current()) break;
        if (ready) mirrored_.insert(topic);
      }
      std::expected<void, std::string> started = std::unexpected("mirror topic not set up yet");
      if (prepared_.contains(topic)) started = co_await start_here(topic, it->second);
      if (!current()) break;
      if (started) {
        it = pending.erase(it);
      } else {
        if (failures == 0) {
          log::warn("scale-out: cannot start assigned partitions yet; retrying",
                    {{"link", options_.name}, {"topic", topic}, {"reason", started.error()}});
        }
        ++it;
      }
    }
    if (pending.empty() || !current()) break;
    ++failures;
    co_await klink::sleep_for(std::min(milliseconds(200) * failures, milliseconds(2000)));
  }
  if (current()) started_generation_ = generation;
  taking_over_ = false;
}

asio::awaitable<std::expected<void, std::string>> link::start_here(
    const std::string& topic, const std::vector<int32_t>& partitions) {
  std::vector<int32_t> missing;
  for (const int32_t p : partitions) {
    if (!running_.contains({topic, p})) missing.push_back(p);
  }
  if (missing.empty()) co_return std::expected<void, std::string>{};
  // The previous owner's last checkpoints.
  if (auto loaded = co_await checkpoints_.load(); !loaded)
    co_return std::unexpected("cannot read checkpoints: " + loaded.error().message());
  auto starts = co_await start_offsets(topic, first_listing_.contains(topic));
  if (!starts) co_return std::unexpected("source offsets: " + starts.error());
  if (auto started = co_await start_partitions(topic, missing, *starts); !started)
    co_return started;
  for (const int32_t p : missing)
    running_.insert({topic, p});
  if (phase(topic) == mirror_phase::paused) engine_.set_paused(topic, true);
  log::info("scale-out: partitions started here", {{"link", options_.name},
                                                   {"topic", topic},
                                                   {"mirror_topic", mirror_name(topic)},
                                                   {"partitions", missing.size()}});
  co_return std::expected<void, std::string>{};
}

asio::awaitable<void> link::state_poll_loop() {
  // Pause and resume are per mirror: the other instances learn them here.
  const auto interval = std::min<milliseconds>(options_.topic_refresh_interval, milliseconds(2000));
  while (!stopping_) {
    co_await klink::sleep_for(interval);
    if (!stopping_) co_await refresh_lifecycle();
  }
}

asio::awaitable<void> link::refresh_lifecycle() {
  // One re-read at a time; a caller that finds one running reads again after
  // it, so what it sees is at least as new as its call.
  while (refreshing_lifecycle_)
    co_await klink::sleep_for(poll_interval);
  refreshing_lifecycle_ = true;
  auto loaded = co_await states_.load();
  refreshing_lifecycle_ = false;
  if (!loaded) {
    log::warn("cannot re-read klink's state on the destination",
              {{"link", options_.name}, {"error", loaded.error().message()}});
    co_return;
  }
  const std::string prefix = options_.name + "/";
  for (const auto& [key, value] : states_.entries()) {
    if (!key.starts_with(prefix)) continue;
    const std::string topic = key.substr(prefix.size());
    auto record = parse_mirror_record(value);
    if (!record) continue;  // load_lifecycle() reported it at start
    // Being promoted here, or changed here and not yet written: this
    // instance's copy is the newer one.
    if (gathered_.contains(topic)) continue;
    auto& entry = lifecycle_[topic];
    if (!entry.persisted || entry.record.phase == mirror_phase::promoting) continue;
    const bool was_stopped = is_stopped(entry.record.phase);
    entry.record = std::move(*record);
    // Paused or resumed through another instance.
    const bool paused = entry.record.phase == mirror_phase::paused;
    const auto here = engine_.partitions_of(topic);
    if (!here.empty() && here.front()->paused != paused) {
      if (paused) {
        pause(topic);
      } else if (entry.record.phase == mirror_phase::active) {
        resume(topic);
      }
      entry.persisted = true;  // as recorded: nothing to write back
    }
    if (!was_stopped && is_final(entry.record.phase)) {
      mirrored_.erase(topic);
      prepared_.erase(topic);
      log::info(
          "mirror switched by another instance of the link; not mirrored here any more",
          {{"link", options_.name}, {"topic", topic}, {"state", to_string(entry.record.phase)}});
    }
  }
}

asio::awaitable<std::vector<std::string>> link::gather(const std::vector<std::string>& topics,
                                                       clock::time_point deadline,
                                                       std::map<std::string, switch_outcome>& out) {
  std::vector<std::string> holding;
  for (const auto& topic : topics) {
    if (out.contains(topic) || !prepared_.contains(topic) || gathered_.contains(topic)) continue;
    if (is_stopped(phase(topic)) || phase(topic) == mirror_phase::promoting) continue;
    if (membership_->member_id().empty() || !membership_->owns_lease(clock::now())) {
      out[topic] = {switch_status::conflict,
                    "this instance is not in the link's group right now (joining or "
                    "rebalancing); retry in a few seconds",
                    0};
      continue;
    }
    holding.push_back(topic);
  }
  if (holding.empty()) co_return holding;
  const auto left = std::chrono::duration_cast<milliseconds>(deadline - clock::now());
  for (const auto& topic : holding) {
    auto& record = lifecycle_[topic].record;
    record.held_by = instance_label();
    record.held_until_ms = wall_clock_ms() + std::max<int64_t>(0, left.count()) +
                           (hand_over_drain + hold_margin).count();
  }
  if (auto written = co_await persist(holding); !written) {
    for (const auto& topic : holding) {
      auto& record = lifecycle_[topic].record;
      record.held_by.clear();
      record.held_until_ms = 0;
      out[topic] = {switch_status::not_persisted,
                    "cannot record the hold on " + topic + " in klink's state (" + written.error() +
                        "); the mirror keeps running, call again to retry",
                    0};
    }
    co_return std::vector<std::string>{};
  }
  for (const auto& topic : holding)
    gathered_.insert(topic);
  log::info("scale-out: gathering mirrors here for a whole-link switch",
            {{"link", options_.name}, {"group", group_id_}, {"topics", holding.size()}});
  // A rebalance is the barrier: every member hands all its partitions over
  // before rejoining (or is expelled, its lease over), and the leader assigns
  // no held mirror. Once this instance runs the new generation, nobody else
  // writes to the held mirrors.
  const int32_t before = membership_->generation();
  membership_->request_rejoin();
  while ((started_generation_ <= before || taking_over_) && clock::now() < deadline && !stopping_)
    co_await klink::sleep_for(poll_interval);
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
    std::vector<int32_t> all(static_cast<std::size_t>(mirror_partition_count(topic)));
    std::iota(all.begin(), all.end(), 0);
    if (auto started = co_await start_here(topic, all); !started) {
      out[topic] = {switch_status::source_unavailable,
                    "cannot start the partitions of " + topic + " here: " + started.error() +
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

asio::awaitable<void> link::scatter(const std::vector<std::string>& topics) {
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
    auto& record = lifecycle_[topic].record;
    if (record.held_until_ms == 0) continue;
    record.held_by.clear();
    record.held_until_ms = 0;
    release.push_back(topic);
  }
  if (auto written = co_await persist(release); !written) {
    log::warn("cannot clear the hold on mirrors; it ends by itself at its deadline",
              {{"link", options_.name}, {"error", written.error()}});
  }
  // Back to the group.
  membership_->request_rejoin();
}

asio::awaitable<std::expected<std::vector<member_share>, std::string>> link::describe_members(
    std::string* group_state) {
  if (!membership_) co_return std::unexpected("link " + options_.name + " does not run scale-out");
  auto shares = co_await membership_->describe(group_state);
  if (!shares) co_return std::unexpected(shares.error().message());
  co_return std::move(*shares);
}

}  // namespace klink::linker
