#include "linker/group_membership.h"

#include <algorithm>

#include "kafka/client/groups.h"
#include "kafka/client/membership.h"
#include "kafka/error_code.h"
#include "kafka/sleep.h"
#include "log/log.h"

namespace klink::linker {

namespace {
using kafka::error_code;
namespace client = kafka::client;

// Membership calls are tried once: the state machine below decides what an
// error means and when to try again.
constexpr client::call_options one_attempt{1, std::chrono::milliseconds(0)};

// A code the coordinator answered with, as opposed to a request that failed.
bool is_answer(const error& e) {
  return e.code.category() == kafka::kafka_category();
}

// The coordinator moved or is starting: find it again.
bool coordinator_moved(const error& e) {
  return e.is(error_code::not_coordinator) || e.is(error_code::coordinator_not_available);
}

// The coordinator no longer knows this member.
bool member_unknown(const error& e) {
  return e.is(error_code::unknown_member_id) || e.is(error_code::fenced_instance_id);
}

}  // namespace

group_membership::group_membership(kafka::cluster& destination, group_membership_options options,
                                   group_callbacks callbacks)
    : cluster_(destination), options_(std::move(options)), callbacks_(std::move(callbacks)) {
  using std::chrono::milliseconds;
  if (options_.rebalance_timeout < options_.session_timeout)
    options_.rebalance_timeout = options_.session_timeout;
  if (options_.heartbeat_interval <= milliseconds::zero())
    options_.heartbeat_interval = options_.session_timeout / 3;
  if (options_.lease_margin <= milliseconds::zero())
    options_.lease_margin = options_.session_timeout / 5;
}

bool group_membership::owns_lease(clock::time_point now) const {
  return lease_anchor_ && now < *lease_anchor_ + options_.session_timeout - options_.lease_margin;
}

void group_membership::request_rejoin() {
  rejoin_requested_ = true;
  if (sleeping_) sleeping_->cancel();
}

asio::awaitable<void> group_membership::pause(std::chrono::milliseconds duration) {
  asio::steady_timer timer(co_await asio::this_coro::executor, duration);
  sleeping_ = &timer;
  boost::system::error_code ignored;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  sleeping_ = nullptr;
}

void group_membership::note_error(const std::string& error) {
  if (error == last_error_) return;
  last_error_ = error;
  log::warn("scale-out group", {{"group", options_.group_id}, {"error", error}});
}

void group_membership::reset_member(const std::string& why) {
  // The coordinator no longer counts this member: whatever it owned may
  // already be someone else's, so the lease ends now, not when it runs out.
  log::info("scale-out group: member reset",
            {{"group", options_.group_id}, {"member", member_id_}, {"reason", why}});
  member_id_.clear();
  generation_ = -1;
  leader_id_.clear();
  in_group_ = false;
  lease_anchor_.reset();
  members_.clear();
}

void group_membership::coordinator_lost(const std::string& why) {
  note_error(why);
  coordinator_.reset();
}

asio::awaitable<result<void>> group_membership::discover_coordinator() {
  auto found = co_await client::find_coordinator(cluster_, options_.group_id, one_attempt);
  if (!found) {
    note_error(found.error().message());
    co_return std::unexpected(std::move(found.error()));
  }
  coordinator_ = *found;
  co_return ok();
}

asio::awaitable<void> group_membership::revoke_all() {
  // Eager protocol: everything goes back before JoinGroup, and the new
  // assignment only exists once every member that rejoined has done this.
  lease_anchor_.reset();
  in_group_ = false;
  if (owned_.empty()) co_return;
  auto revoked = std::move(owned_);
  owned_.clear();
  log::info("scale-out group: partitions revoked",
            {{"group", options_.group_id}, {"count", revoked.size()}});
  if (callbacks_.on_revoked) {
    revoking_ = true;
    co_await callbacks_.on_revoked(revoked);
    revoking_ = false;
  }
}

namespace {

// The leader's work: every member's share, as SyncGroup assignments.
std::vector<std::pair<std::string, kafka::byte_vector>> assign_members(
    const std::vector<client::joined_member>& joined, std::vector<topic_partition> partitions,
    int32_t generation, const std::string& leader, std::vector<member_share>& shares) {
  std::vector<member_subscription> subscriptions;
  std::map<std::string, std::string> instances;
  for (const auto& m : joined) {
    member_subscription s{m.member_id, {}, -1};
    auto meta = decode_member_metadata(m.metadata);
    if (meta) {
      s.owned = std::move(meta->owned);
      s.owned_generation = meta->generation;
      instances[m.member_id] = meta->instance;
    } else {
      // It still gets a share; it just cannot be sticky.
      log::warn("scale-out group: unreadable member metadata",
                {{"member", m.member_id}, {"error", meta.error().message()}});
    }
    subscriptions.push_back(std::move(s));
  }
  auto result = assign_partitions(std::move(subscriptions), std::move(partitions));
  std::vector<std::pair<std::string, kafka::byte_vector>> out;
  shares.clear();
  for (auto& [member, list] : result) {
    out.emplace_back(member, encode_member_assignment(member_assignment{generation, leader, list}));
    shares.push_back(member_share{member, instances[member], {}, generation, std::move(list)});
  }
  return out;
}

}  // namespace

asio::awaitable<void> group_membership::join_and_sync() {
  const client::join_request join{options_.group_id,
                                  options_.session_timeout,
                                  options_.rebalance_timeout,
                                  std::string(group_protocol_type),
                                  std::string(group_protocol_name),
                                  encode_member_metadata(member_metadata{
                                      options_.instance, last_owned_generation_, last_owned_}),
                                  "klink scale-out"};
  // JoinGroup v4+: the coordinator names the member, then the call joins with it.
  auto joined = co_await client::join_group(cluster_, *coordinator_, join, member_id_);
  if (stopping_) co_return;
  if (!joined) {
    const auto& e = joined.error();
    const std::string text = e.message();
    if (!is_answer(e)) {
      coordinator_lost(text);
    } else if (e.is(error_code::member_id_required)) {
      // Named again: join at once with the new id.
      co_return;
    } else if (coordinator_moved(e)) {
      coordinator_lost(text);
    } else if (member_unknown(e)) {
      note_error(text);
      reset_member(text);
    } else if (e.is(error_code::rebalance_in_progress) ||
               e.is(error_code::coordinator_load_in_progress)) {
      // Transient: join again.
    } else {
      // INCONSISTENT_GROUP_PROTOCOL (a consumer group of that id),
      // GROUP_AUTHORIZATION_FAILED, INVALID_SESSION_TIMEOUT, GROUP_MAX_SIZE_REACHED...:
      // nothing to do but say so and try again later.
      note_error(text);
    }
    co_await pause(options_.retry_backoff);
    co_return;
  }
  generation_ = joined->generation;
  leader_id_ = joined->leader;

  client::sync_request sync{options_.group_id,
                            generation_,
                            member_id_,
                            std::string(group_protocol_type),
                            std::string(group_protocol_name),
                            {}};
  if (is_leader()) {
    auto partitions =
        callbacks_.all_partitions ? callbacks_.all_partitions() : std::vector<topic_partition>{};
    sync.assignments =
        assign_members(joined->members, std::move(partitions), generation_, member_id_, members_);
  } else {
    members_.clear();
  }
  const auto sync_sent = clock::now();
  auto synced = co_await client::sync_group(cluster_, *coordinator_, sync);
  if (stopping_) co_return;
  if (!synced) {
    const auto& e = synced.error();
    if (!is_answer(e) || coordinator_moved(e)) {
      coordinator_lost(e.message());
      co_await pause(options_.retry_backoff);
    } else if (member_unknown(e)) {
      reset_member(e.message());
    } else if (e.is(error_code::illegal_generation) || e.is(error_code::rebalance_in_progress)) {
      // Another rebalance began: join it with the same member id.
    } else {
      note_error(e.message());
      co_await pause(options_.retry_backoff);
    }
    co_return;
  }
  co_await accept_assignment(*synced, sync_sent);
}

asio::awaitable<void> group_membership::accept_assignment(const kafka::byte_vector& blob,
                                                          clock::time_point sync_sent) {
  std::vector<topic_partition> assigned;
  if (!blob.empty()) {
    auto decoded = decode_member_assignment(blob);
    if (!decoded) {
      note_error("SyncGroup: " + decoded.error().message());
      co_await pause(options_.retry_backoff);
      co_return;
    }
    if (decoded->generation != generation_) {
      note_error("SyncGroup: assignment of generation " + std::to_string(decoded->generation) +
                 " in generation " + std::to_string(generation_));
      co_return;
    }
    assigned = std::move(decoded->partitions);
  }
  last_error_.clear();
  in_group_ = true;
  lease_anchor_ = sync_sent;
  owned_ = assigned;
  last_owned_ = std::move(assigned);
  last_owned_generation_ = generation_;
  log::info("scale-out group: assigned", {{"group", options_.group_id},
                                          {"member", member_id_},
                                          {"generation", generation_},
                                          {"leader", is_leader()},
                                          {"partitions", owned_.size()}});
  if (callbacks_.on_assigned) callbacks_.on_assigned(owned_, generation_);
}

asio::awaitable<void> group_membership::heartbeat() {
  const auto sent = clock::now();
  auto beat = co_await client::heartbeat(cluster_, *coordinator_, options_.group_id, generation_,
                                         member_id_);
  if (stopping_) co_return;
  if (beat) {
    // Only a success may extend the lease, and only from its send time.
    if (in_group_ && (!lease_anchor_ || sent > *lease_anchor_)) lease_anchor_ = sent;
    last_error_.clear();
    co_return;
  }
  const auto& e = beat.error();
  const std::string text = e.message();
  if (!is_answer(e)) {
    // The lease runs out by itself if this lasts.
    coordinator_lost(text);
  } else if (e.is(error_code::rebalance_in_progress)) {
    log::info("scale-out group: rebalance", {{"group", options_.group_id}});
    in_group_ = false;
  } else if (member_unknown(e)) {
    reset_member(text);
  } else if (e.is(error_code::illegal_generation)) {
    // Our generation is over: what we own may be someone else's.
    lease_anchor_.reset();
    in_group_ = false;
  } else if (coordinator_moved(e)) {
    coordinator_lost(text);
  } else {
    note_error(text);
  }
}

asio::awaitable<void> group_membership::run() {
  while (!stopping_) {
    if (!coordinator_) {
      // (g++ 12 mis-compiles a co_await inside an if condition in a loop.)
      const auto found = co_await discover_coordinator();
      if (!found) {
        co_await pause(options_.retry_backoff);
        continue;
      }
      if (stopping_) break;
    }
    if (!in_group_ || rejoin_requested_) {
      rejoin_requested_ = false;
      co_await revoke_all();
      if (stopping_) break;
      co_await join_and_sync();
      continue;
    }
    co_await pause(options_.heartbeat_interval);
    if (stopping_ || rejoin_requested_ || !coordinator_) continue;
    co_await heartbeat();
  }
}

asio::awaitable<void> group_membership::leave() {
  stopping_ = true;
  if (sleeping_) sleeping_->cancel();
  // run() may be draining revoked partitions: the others must not start them
  // before it is done, so LeaveGroup waits too.
  while (revoking_)
    co_await sleep_for(std::chrono::milliseconds(10));
  co_await revoke_all();
  if (member_id_.empty()) co_return;
  if (!coordinator_) {
    const auto found = co_await discover_coordinator();
    if (!found) co_return;
  }
  auto left = co_await client::leave_group(cluster_, *coordinator_, options_.group_id, member_id_,
                                           "klink instance stopping");
  std::string outcome = "NONE";
  if (!left) outcome = is_answer(left.error()) ? left.error().code_name() : left.error().message();
  log::info("scale-out group: left",
            {{"group", options_.group_id}, {"member", member_id_}, {"result", outcome}});
  member_id_.clear();
  generation_ = -1;
  leader_id_.clear();
  members_.clear();
}

asio::awaitable<result<std::vector<member_share>>> group_membership::describe(std::string* state) {
  if (!coordinator_) {
    auto found = co_await discover_coordinator();
    if (!found)
      co_return std::unexpected(
          std::move(found.error()).within("no coordinator for group " + options_.group_id));
  }
  auto group =
      co_await client::describe_group(cluster_, *coordinator_, options_.group_id, one_attempt);
  if (!group) {
    if (coordinator_moved(group.error())) coordinator_.reset();
    co_return std::unexpected(std::move(group.error()));
  }
  if (state) *state = group->state;
  if (!group->protocol_type.empty() && group->protocol_type != group_protocol_type) {
    co_return std::unexpected(error(errc::invalid_argument, "DescribeGroups",
                                    "group " + options_.group_id + " has protocol type " +
                                        group->protocol_type + ", not klink's")
                                  .on(cluster_.role()));
  }
  std::vector<member_share> out;
  for (const auto& m : group->members) {
    member_share share{m.member_id, {}, m.client_host, -1, {}};
    if (auto meta = decode_member_metadata(m.metadata)) share.instance = meta->instance;
    // Empty while the group rebalances: the member has no share yet.
    if (!m.assignment.empty()) {
      if (auto a = decode_member_assignment(m.assignment)) {
        share.generation = a->generation;
        share.partitions = std::move(a->partitions);
      }
    }
    out.push_back(std::move(share));
  }
  std::ranges::sort(out, {}, &member_share::member_id);
  co_return out;
}

}  // namespace klink::linker
