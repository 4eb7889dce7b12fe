#include "offsets/group_sync.h"

#include <algorithm>
#include <set>

#include "kafka/error_code.h"
#include "kafka/messages/describe_groups.h"
#include "kafka/messages/find_coordinator.h"
#include "kafka/messages/list_groups.h"
#include "kafka/messages/offset_commit.h"
#include "kafka/messages/offset_fetch.h"
#include "log/log.h"

namespace klink::offsets {

namespace {
using asio::use_awaitable;
using kafka::error_code;

constexpr int8_t group_key_type = 0;
// OffsetFetch and OffsetCommit v10 name topics by id only; klink's offset maps
// are keyed by name, and v9 is accepted by every broker that offers v10.
constexpr int16_t offset_fetch_max = 9;
constexpr int16_t offset_commit_max = 9;
// OffsetFetch v1 cannot ask for "every topic" (null topics).
constexpr int16_t offset_fetch_min = 2;
// From these versions on, the request/response carry lists of groups/keys.
constexpr int16_t offset_fetch_batched = 8;
constexpr int16_t find_coordinator_batched = 4;

std::string code_text(int16_t code, const std::optional<std::string>& message = std::nullopt) {
  std::string text(kafka::error_name(kafka::to_error_code(code)));
  if (message && !message->empty()) text += " (" + *message + ")";
  return text;
}

bool is(int16_t code, error_code e) {
  return code == static_cast<int16_t>(e);
}

// The destination refused an admin commit because a member owns the group:
// it became active between DescribeGroups and OffsetCommit, or it is a
// KIP-848 group, which DescribeGroups does not describe.
bool means_active(int16_t code) {
  return is(code, error_code::unknown_member_id) || is(code, error_code::illegal_generation) ||
         is(code, error_code::rebalance_in_progress) || is(code, error_code::fenced_member_epoch) ||
         is(code, error_code::stale_member_epoch);
}

template <class Api>
using reply_of = std::expected<kafka::response<typename Api::response>, std::string>;

// Sends the request that `build(version)` makes for the newest version of Api
// in [min, cap] that the broker speaks (the request's shape depends on it).
template <class Api, class Build>
asio::awaitable<reply_of<Api>> send_versioned(kafka::cluster& cluster, std::optional<int32_t> node,
                                              int16_t min, int16_t cap, Build build) {
  result<std::shared_ptr<kafka::connection>> conn;
  if (node) {
    conn = co_await cluster.connection_to(*node);
  } else {
    conn = co_await cluster.any_connection();
  }
  if (!conn) co_return std::unexpected(conn.error().message());
  const auto version = (*conn)->version_for(Api::key, std::max(min, Api::request::min_version),
                                            std::min(cap, Api::request::max_version));
  if (!version) {
    co_return std::unexpected(std::string(Api::name) + ": the " + cluster.role() +
                              " broker supports no version klink can use");
  }
  const typename Api::request request = build(*version);
  auto reply = co_await (*conn)->template send<Api>(request, {}, version);
  if (!reply) co_return std::unexpected(std::string(Api::name) + ": " + reply.error().message());
  co_return std::move(*reply);
}

asio::awaitable<std::expected<int32_t, std::string>> find_coordinator(kafka::cluster& cluster,
                                                                      const std::string& group) {
  using api = kafka::msg::find_coordinator_api;
  auto reply = co_await send_versioned<api>(cluster, std::nullopt, 0, api::max_version,
                                            [&](int16_t version) {
                                              kafka::msg::find_coordinator_request r;
                                              r.key_type = group_key_type;
                                              if (version >= find_coordinator_batched) {
                                                r.coordinator_keys.push_back(group);
                                              } else {
                                                r.key = group;
                                              }
                                              return r;
                                            });
  if (!reply) co_return std::unexpected(reply.error());
  const auto& body = reply->body;
  int16_t code = body.error_code;
  std::optional<std::string> message = body.error_message;
  int32_t node = body.node_id;
  if (!body.coordinators.empty()) {
    code = body.coordinators.front().error_code;
    message = body.coordinators.front().error_message;
    node = body.coordinators.front().node_id;
  }
  if (code != 0) co_return std::unexpected("FindCoordinator: " + code_text(code, message));
  co_return node;
}

asio::awaitable<std::expected<std::vector<committed_offset>, std::string>> fetch_offsets(
    kafka::cluster& cluster, int32_t coordinator, const std::string& group) {
  using api = kafka::msg::offset_fetch_api;
  using request_group = decltype(kafka::msg::offset_fetch_request::groups)::value_type;
  auto reply = co_await send_versioned<api>(cluster, coordinator, offset_fetch_min,
                                            offset_fetch_max, [&](int16_t version) {
                                              // Every topic the group committed (null topics): the
                                              // caller filters.
                                              kafka::msg::offset_fetch_request r;
                                              if (version >= offset_fetch_batched) {
                                                request_group g;
                                                g.group_id = group;
                                                g.topics = std::nullopt;
                                                r.groups.push_back(std::move(g));
                                              } else {
                                                r.group_id = group;
                                                r.topics = std::nullopt;
                                              }
                                              return r;
                                            });
  if (!reply) co_return std::unexpected(reply.error());
  const auto& body = reply->body;
  std::vector<committed_offset> out;
  auto collect = [&](const auto& topics) {
    for (const auto& t : topics) {
      for (const auto& p : t.partitions) {
        if (p.error_code != 0 || p.committed_offset < 0) continue;
        out.push_back(committed_offset{t.name, p.partition_index, p.committed_offset, p.metadata});
      }
    }
  };
  if (!body.groups.empty()) {
    const auto& g = body.groups.front();
    if (g.error_code != 0) co_return std::unexpected("OffsetFetch: " + code_text(g.error_code));
    collect(g.topics);
  } else {
    if (body.error_code != 0)
      co_return std::unexpected("OffsetFetch: " + code_text(body.error_code));
    collect(body.topics);
  }
  co_return out;
}

// The group's state on its coordinator; "Dead" when the broker does not know it.
struct group_description {
  std::string state;
  std::size_t members = 0;
};

asio::awaitable<std::expected<group_description, std::string>> describe_group(
    kafka::cluster& cluster, int32_t coordinator, const std::string& group) {
  using api = kafka::msg::describe_groups_api;
  auto reply =
      co_await send_versioned<api>(cluster, coordinator, 0, api::max_version, [&](int16_t) {
        kafka::msg::describe_groups_request r;
        r.groups.push_back(group);
        return r;
      });
  if (!reply) co_return std::unexpected(reply.error());
  if (reply->body.groups.empty()) co_return std::unexpected("DescribeGroups: empty response");
  const auto& g = reply->body.groups.front();
  // Newer brokers say GROUP_ID_NOT_FOUND where older ones say "Dead".
  if (is(g.error_code, error_code::group_id_not_found)) co_return group_description{"Dead", 0};
  if (g.error_code != 0)
    co_return std::unexpected("DescribeGroups: " + code_text(g.error_code, g.error_message));
  co_return group_description{g.group_state, g.members.size()};
}

}  // namespace

asio::awaitable<std::expected<std::vector<committed_offset>, std::string>> fetch_committed_offsets(
    kafka::cluster& cluster, const std::string& group) {
  auto coordinator = co_await find_coordinator(cluster, group);
  if (!coordinator) co_return std::unexpected(coordinator.error());
  co_return co_await fetch_offsets(cluster, *coordinator, group);
}

group_filter::group_filter(std::vector<std::string> include, std::vector<std::string> exclude) {
  for (const auto& p : include)
    include_.emplace_back(p, std::regex::ECMAScript);
  for (const auto& p : exclude)
    exclude_.emplace_back(p, std::regex::ECMAScript);
}

bool group_filter::matches(std::string_view group) const {
  if (group.starts_with(own_group_prefix)) return false;
  auto whole = [group](const std::regex& re) {
    return std::regex_match(group.begin(), group.end(), re);
  };
  return std::ranges::any_of(include_, whole) && std::ranges::none_of(exclude_, whole);
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
  using api = kafka::msg::list_groups_api;
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
    auto reply = co_await send_versioned<api>(source_, broker, 0, api::max_version,
                                              [](int16_t) { return api::request{}; });
    if (!reply) {
      listing_error = "ListGroups on broker " + std::to_string(broker) + ": " + reply.error();
      continue;
    }
    if (reply->body.error_code != 0) {
      listing_error = "ListGroups on broker " + std::to_string(broker) + ": " +
                      code_text(reply->body.error_code);
      continue;
    }
    for (const auto& g : reply->body.groups)
      groups.insert(g.group_id);
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
  if (!source_offsets) co_return fail("source " + source_offsets.error());
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

  auto coordinator = co_await find_coordinator(destination_, group);
  if (!coordinator) co_return fail("destination " + coordinator.error());
  // Never fight a live consumer: its own commits win while it has members.
  auto description = co_await describe_group(destination_, *coordinator, group);
  if (!description) co_return fail("destination " + description.error());
  if (!group_is_inactive(description->state) || description->members > 0) {
    co_return group_outcome{kind::active, description->state, 0, 0};
  }
  auto existing = co_await fetch_offsets(destination_, *coordinator, group);
  if (!existing) co_return fail("destination " + existing.error());

  auto plan =
      plan_commits(source_offsets, *existing, translate_, is_mirrored_, options_.mirror_topic);
  if (plan.commits.empty()) co_return group_outcome{kind::synced, "", 0, plan.untranslatable};

  using api = kafka::msg::offset_commit_api;
  using request_topic = decltype(kafka::msg::offset_commit_request::topics)::value_type;
  using request_partition = decltype(request_topic::partitions)::value_type;
  auto reply = co_await send_versioned<api>(
      destination_, *coordinator, api::request::min_version, offset_commit_max, [&](int16_t) {
        kafka::msg::offset_commit_request r;
        r.group_id = group;
        // An admin commit: no generation, no member. The broker accepts it
        // only while the group has no members.
        r.generation_id_or_member_epoch = -1;
        r.member_id = "";
        std::map<std::string, std::size_t> topic_index;
        for (const auto& c : plan.commits) {
          auto [it, added] = topic_index.try_emplace(c.topic, r.topics.size());
          if (added) {
            request_topic t;
            t.name = c.topic;
            r.topics.push_back(std::move(t));
          }
          request_partition p;
          p.partition_index = c.partition;
          p.committed_offset = c.offset;
          // The source's leader epoch means nothing on the destination.
          p.committed_leader_epoch = -1;
          p.committed_metadata = c.metadata;
          r.topics[it->second].partitions.push_back(std::move(p));
        }
        return r;
      });
  if (!reply) co_return fail("destination " + reply.error());
  int64_t committed = 0;
  for (const auto& t : reply->body.topics) {
    for (const auto& p : t.partitions) {
      if (p.error_code == 0) {
        ++committed;
        continue;
      }
      if (means_active(p.error_code)) {
        partitions_committed_total_ += static_cast<uint64_t>(committed);
        co_return group_outcome{kind::active, code_text(p.error_code), committed,
                                plan.untranslatable};
      }
      partitions_committed_total_ += static_cast<uint64_t>(committed);
      co_return group_outcome{kind::failed,
                              "destination OffsetCommit " + t.name + "-" +
                                  std::to_string(p.partition_index) + ": " +
                                  code_text(p.error_code),
                              committed, plan.untranslatable};
    }
  }
  partitions_committed_total_ += static_cast<uint64_t>(committed);
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
