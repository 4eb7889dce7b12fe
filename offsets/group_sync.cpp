#include "offsets/group_sync.h"

#include <algorithm>
#include <set>

#include "kafka/error_code.h"
#include "log/log.h"

namespace klink::offsets {

namespace {
using asio::use_awaitable;
using kafka::error_code;
namespace client = kafka::client;

// The destination refused an admin commit because a member owns the group:
// it became active between DescribeGroups and OffsetCommit, or it is a
// KIP-848 group, which DescribeGroups does not describe.
bool means_active(const error& refused) {
  return refused.is(error_code::unknown_member_id) || refused.is(error_code::illegal_generation) ||
         refused.is(error_code::rebalance_in_progress) ||
         refused.is(error_code::fenced_member_epoch) || refused.is(error_code::stale_member_epoch);
}

}  // namespace

asio::awaitable<result<std::vector<committed_offset>>> fetch_committed_offsets(
    kafka::cluster& cluster, const std::string& group) {
  auto coordinator = co_await client::find_coordinator(cluster, group);
  if (!coordinator) co_return std::unexpected(std::move(coordinator.error()));
  co_return co_await client::fetch_group_offsets(cluster, *coordinator, group);
}

bool group_is_inactive(std::string_view state) {
  return state == "Empty" || state == "Dead";
}

commit_plan plan_commits(const std::vector<committed_offset>& source,
                         const std::vector<committed_offset>& destination,
                         const translate_fn& translate, const mirrored_fn& is_mirrored,
                         const rename_fn& mirror_topic) {
  std::map<std::pair<std::string, int32_t>, int64_t> existing;
  for (const auto& d : destination) {
    if (d.offset >= 0) existing[{d.topic, d.partition}] = d.offset;
  }
  commit_plan plan;
  for (const auto& s : source) {
    if (s.offset < 0 || !is_mirrored(s.topic, s.partition)) continue;
    auto translated = translate(s.topic, s.partition, s.offset);
    if (!translated || *translated < 0) {
      ++plan.untranslatable;
      continue;
    }
    const std::string destination_topic = mirror_topic ? mirror_topic(s.topic) : s.topic;
    auto it = existing.find({destination_topic, s.partition});
    if (it != existing.end() && it->second >= *translated) {
      ++plan.up_to_date;
      continue;
    }
    plan.commits.push_back(
        committed_offset{destination_topic, s.partition, *translated, s.metadata});
  }
  return plan;
}

struct group_offset_sync::group_outcome {
  enum class kind { synced, nothing_mirrored, active, failed };
  kind what = kind::failed;
  std::string detail;  // the destination state (active) or the error (failed)
  int64_t committed = 0;
  int64_t untranslatable = 0;
};

group_offset_sync::group_offset_sync(kafka::cluster& source, kafka::cluster& destination,
                                     group_sync_options options, translate_fn translate,
                                     mirrored_fn is_mirrored)
    : source_(source),
      destination_(destination),
      options_(std::move(options)),
      translate_(std::move(translate)),
      is_mirrored_(std::move(is_mirrored)) {}

asio::awaitable<sync_result> group_offset_sync::sync_once() {
  sync_result result;
  // Every broker coordinates some groups; ListGroups answers for its own only.
  std::set<std::string> groups;
  std::string listing_error;
  // Brokers only (no topics): coordinators are looked up by node id.
  const std::vector<std::string> no_topics;
  if (auto refreshed = co_await destination_.refresh_metadata(no_topics); !refreshed) {
    log::debug("destination metadata refresh failed before a group sync pass",
               {{"link", options_.link_name}, {"error", refreshed.error().message()}});
  }
  if (auto refreshed = co_await source_.refresh_metadata(no_topics); !refreshed) {
    listing_error = "source metadata: " + refreshed.error().message();
  }
  std::vector<int32_t> brokers;
  for (const auto& [id, address] : source_.metadata().brokers)
    brokers.push_back(id);
  if (brokers.empty() && listing_error.empty()) listing_error = "no source broker known yet";
  for (int32_t broker : brokers) {
    auto listed = co_await client::list_groups(source_, broker);
    if (!listed) {
      listing_error = listed.error().within("broker " + std::to_string(broker)).message();
      continue;
    }
    groups.insert(listed->begin(), listed->end());
  }
  note_listing(listing_error);
  if (!listing_error.empty()) result.errors.push_back(listing_error);
  result.groups_listed = static_cast<int64_t>(groups.size());

  for (const auto& group : groups) {
    if (stopped_) break;
    if (!options_.groups.matches(group)) continue;
    ++result.groups_matched;
    auto outcome = co_await sync_group(group);
    tally(result, group, outcome);
    note_group(group, outcome);
  }
  // Groups deleted on the source (or a failed listing): forget their state so
  // that a reappearing group is logged again.
  if (listing_error.empty()) {
    std::erase_if(group_states_, [&](const auto& kv) { return !groups.contains(kv.first); });
    std::erase_if(known_source_offsets_,
                  [&](const auto& kv) { return !groups.contains(kv.first); });
  }
  co_return result;
}

asio::awaitable<sync_result> group_offset_sync::sync_known() {
  sync_result result;
  const std::vector<std::string> no_topics;
  if (auto refreshed = co_await destination_.refresh_metadata(no_topics); !refreshed) {
    result.errors.push_back("destination metadata: " + refreshed.error().message());
    co_return result;
  }
  // A copy: a pass running meanwhile may replace the cache.
  const auto known = known_source_offsets_;
  result.groups_listed = static_cast<int64_t>(known.size());
  for (const auto& [group, source_offsets] : known) {
    if (!options_.groups.matches(group)) continue;
    ++result.groups_matched;
    auto outcome = co_await commit_translated(group, source_offsets);
    tally(result, group, outcome);
  }
  co_return result;
}

void group_offset_sync::tally(sync_result& result, const std::string& group,
                              const group_outcome& outcome) {
  switch (outcome.what) {
    case group_outcome::kind::synced:
      ++result.groups_synced;
      break;
    case group_outcome::kind::active:
      ++result.groups_skipped_active;
      break;
    case group_outcome::kind::failed:
      ++result.groups_failed;
      result.errors.push_back(group + ": " + outcome.detail);
      break;
    case group_outcome::kind::nothing_mirrored:
      break;
  }
  result.partitions_committed += outcome.committed;
  result.partitions_untranslatable += outcome.untranslatable;
}

asio::awaitable<group_offset_sync::group_outcome> group_offset_sync::sync_group(
    const std::string& group) {
  using kind = group_outcome::kind;
  auto fail = [](std::string why) { return group_outcome{kind::failed, std::move(why), 0, 0}; };

  auto source_offsets = co_await fetch_committed_offsets(source_, group);
  if (!source_offsets) co_return fail(source_offsets.error().message());
  known_source_offsets_[group] = *source_offsets;
  co_return co_await commit_translated(group, *source_offsets);
}

asio::awaitable<group_offset_sync::group_outcome> group_offset_sync::commit_translated(
    const std::string& group, const std::vector<committed_offset>& source_offsets) {
  using kind = group_outcome::kind;
  auto fail = [](std::string why) { return group_outcome{kind::failed, std::move(why), 0, 0}; };
  // Groups with nothing on mirrored topics never touch the destination.
  const bool any_mirrored = std::ranges::any_of(source_offsets, [&](const committed_offset& c) {
    return is_mirrored_(c.topic, c.partition);
  });
  if (!any_mirrored) co_return group_outcome{kind::nothing_mirrored, "", 0, 0};

  auto coordinator = co_await client::find_coordinator(destination_, group);
  if (!coordinator) co_return fail(coordinator.error().message());
  // Never fight a live consumer: its own commits win while it has members.
  auto description = co_await client::describe_group(destination_, *coordinator, group);
  if (!description) co_return fail(description.error().message());
  if (!group_is_inactive(description->state) || !description->members.empty()) {
    co_return group_outcome{kind::active, description->state, 0, 0};
  }
  auto existing = co_await client::fetch_group_offsets(destination_, *coordinator, group);
  if (!existing) co_return fail(existing.error().message());

  auto plan =
      plan_commits(source_offsets, *existing, translate_, is_mirrored_, options_.mirror_topic);
  if (plan.commits.empty()) co_return group_outcome{kind::synced, "", 0, plan.untranslatable};

  auto outcome =
      co_await client::commit_group_offsets(destination_, *coordinator, group, plan.commits);
  if (!outcome) co_return fail(outcome.error().message());
  const int64_t committed = outcome->committed;
  partitions_committed_total_ += static_cast<uint64_t>(committed);
  if (outcome->refused) {
    const error& refused = *outcome->refused;
    if (means_active(refused))
      co_return group_outcome{kind::active, refused.code_name(), committed, plan.untranslatable};
    co_return group_outcome{kind::failed, refused.message(), committed, plan.untranslatable};
  }
  log::debug("consumer group offsets committed on the destination",
             {{"link", options_.link_name}, {"group", group}, {"partitions", committed}});
  co_return group_outcome{kind::synced, "", committed, plan.untranslatable};
}

void group_offset_sync::note_group(const std::string& group, const group_outcome& outcome) {
  using kind = group_outcome::kind;
  std::string state;
  switch (outcome.what) {
    case kind::synced:
      state = "synced, untranslatable " + std::to_string(outcome.untranslatable);
      break;
    case kind::nothing_mirrored:
      state = "nothing mirrored";
      break;
    case kind::active:
      state = "active: " + outcome.detail;
      break;
    case kind::failed:
      state = "failed: " + outcome.detail;
      break;
  }
  auto& last = group_states_[group];
  if (last == state) return;
  last = state;
  switch (outcome.what) {
    case kind::synced:
      if (outcome.untranslatable > 0) {
        // Committed below where the offset map starts (mirroring began later,
        // or the map was trimmed): any destination offset would be a guess.
        log::warn(
            "consumer group offsets synced except partitions the offset maps cannot "
            "translate; those keep their destination offsets",
            {{"link", options_.link_name},
             {"group", group},
             {"partitions_committed", outcome.committed},
             {"partitions_untranslatable", outcome.untranslatable}});
        break;
      }
      log::info("consumer group offsets synced to the destination",
                {{"link", options_.link_name},
                 {"group", group},
                 {"partitions_committed", outcome.committed},
                 {"partitions_untranslatable", outcome.untranslatable}});
      break;
    case kind::nothing_mirrored:
      log::debug("consumer group has no offsets on mirrored topics",
                 {{"link", options_.link_name}, {"group", group}});
      break;
    case kind::active:
      log::info(
          "consumer group is active on the destination; its offsets are not synced "
          "while it has members",
          {{"link", options_.link_name}, {"group", group}, {"state", outcome.detail}});
      break;
    case kind::failed:
      log::warn("cannot sync consumer group offsets; retrying at the next interval",
                {{"link", options_.link_name}, {"group", group}, {"error", outcome.detail}});
      break;
  }
}

void group_offset_sync::note_listing(const std::string& error) {
  if (error == listing_state_) return;
  if (error.empty()) {
    log::info("consumer groups listed on the source again", {{"link", options_.link_name}});
  } else {
    log::warn("cannot list consumer groups on the source; retrying at the next interval",
              {{"link", options_.link_name}, {"error", error}});
  }
  listing_state_ = error;
}

asio::awaitable<void> group_offset_sync::run(std::chrono::milliseconds interval) {
  timer_.emplace(co_await asio::this_coro::executor);
  log::info(
      "consumer group offset sync started",
      {{"link", options_.link_name}, {"interval_ms", static_cast<int64_t>(interval.count())}});
  while (!stopped_) {
    co_await sync_once();
    if (stopped_) break;
    timer_->expires_after(interval);
    boost::system::error_code ec;
    co_await timer_->async_wait(asio::redirect_error(use_awaitable, ec));
  }
}

void group_offset_sync::stop() {
  stopped_ = true;
  if (timer_) timer_->cancel();
}

}  // namespace klink::offsets
