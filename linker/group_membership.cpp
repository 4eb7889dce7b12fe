#include "linker/group_membership.h"

#include <algorithm>

#include "kafka/error_code.h"
#include "kafka/messages/describe_groups.h"
#include "kafka/messages/find_coordinator.h"
#include "kafka/messages/heartbeat.h"
#include "kafka/messages/join_group.h"
#include "kafka/messages/leave_group.h"
#include "kafka/messages/sync_group.h"
#include "kafka/sleep.h"
#include "log/log.h"

namespace klink::linker {

namespace {
using kafka::error_code;
namespace msg = kafka::msg;

constexpr int8_t group_key_type = 0;

bool is(int16_t code, error_code e) {
  return code == static_cast<int16_t>(e);
}

std::string code_text(int16_t code) {
  return std::string(kafka::error_name(kafka::to_error_code(code)));
}

int32_t millis(std::chrono::milliseconds d) {
  return static_cast<int32_t>(d.count());
}

// The coordinator moved or is starting: find it again.
bool coordinator_moved(int16_t code) {
  return is(code, error_code::not_coordinator) || is(code, error_code::coordinator_not_available);
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

asio::awaitable<bool> group_membership::discover_coordinator() {
  msg::find_coordinator_request request;
  request.key_type = group_key_type;
  // The version is the broker's choice: v0-3 read `key`, v4+ `coordinator_keys`.
  request.key = options_.group_id;
  request.coordinator_keys.push_back(options_.group_id);
  auto reply = co_await cluster_.send_any<msg::find_coordinator_api>(request);
  if (!reply) {
    note_error("FindCoordinator: " + reply.error().message());
    co_return false;
  }
  const auto& body = reply->body;
  int16_t code = body.error_code;
  int32_t node = body.node_id;
  std::string host = body.host;
  int32_t port = body.port;
  if (!body.coordinators.empty()) {
    code = body.coordinators.front().error_code;
    node = body.coordinators.front().node_id;
    host = body.coordinators.front().host;
    port = body.coordinators.front().port;
  }
  if (code != 0) {
    note_error("FindCoordinator: " + code_text(code));
    co_return false;
  }
  // connection_to() needs the broker's address from metadata.
  if (!cluster_.metadata().brokers.contains(node)) {
    if (auto refreshed = co_await cluster_.refresh_metadata({}); !refreshed) {
      note_error("Metadata: " + refreshed.error().message());
      co_return false;
    }
    if (!cluster_.metadata().brokers.contains(node)) {
      note_error("coordinator " + std::to_string(node) + " (" + host + ":" + std::to_string(port) +
                 ") is not in the metadata");
      co_return false;
    }
  }
  coordinator_ = node;
  co_return true;
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
std::vector<msg::sync_group_request::sync_group_request_assignment> assign_members(
    const std::vector<msg::join_group_response::join_group_response_member>& joined,
    std::vector<topic_partition> partitions, int32_t generation, const std::string& leader,
    std::vector<member_share>& shares) {
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
                {{"member", m.member_id}, {"error", meta.error()}});
    }
    subscriptions.push_back(std::move(s));
  }
  auto result = assign_partitions(std::move(subscriptions), std::move(partitions));
  std::vector<msg::sync_group_request::sync_group_request_assignment> out;
  shares.clear();
  for (auto& [member, list] : result) {
    msg::sync_group_request::sync_group_request_assignment a;
    a.member_id = member;
    a.assignment = encode_member_assignment(member_assignment{generation, leader, list});
    out.push_back(std::move(a));
    shares.push_back(member_share{member, instances[member], {}, generation, std::move(list)});
  }
  return out;
}

}  // namespace

asio::awaitable<void> group_membership::join_and_sync() {
  msg::join_group_request join;
  join.group_id = options_.group_id;
  join.session_timeout_ms = millis(options_.session_timeout);
  join.rebalance_timeout_ms = millis(options_.rebalance_timeout);
  join.member_id = member_id_;
  join.protocol_type = std::string(group_protocol_type);
  msg::join_group_request::join_group_request_protocol protocol;
  protocol.name = std::string(group_protocol_name);
  protocol.metadata = encode_member_metadata(
      member_metadata{options_.instance, last_owned_generation_, last_owned_});
  join.protocols.push_back(std::move(protocol));
  join.reason = "klink scale-out";

  auto joined = co_await cluster_.send_to<msg::join_group_api>(*coordinator_, join);
  if (stopping_) co_return;
  if (!joined) {
    coordinator_lost("JoinGroup: " + joined.error().message());
    co_await pause(options_.retry_backoff);
    co_return;
  }
  const auto& jr = joined->body;
  const int16_t jcode = jr.error_code;
  if (is(jcode, error_code::member_id_required)) {
    // JoinGroup v4+: the coordinator names the member, then we join with it.
    member_id_ = jr.member_id;
    co_return;
  }
  if (jcode != 0) {
    const std::string text = "JoinGroup: " + code_text(jcode);
    if (coordinator_moved(jcode)) {
      coordinator_lost(text);
    } else if (is(jcode, error_code::unknown_member_id) ||
               is(jcode, error_code::fenced_instance_id)) {
      note_error(text);
      reset_member(text);
    } else if (is(jcode, error_code::rebalance_in_progress) ||
               is(jcode, error_code::coordinator_load_in_progress)) {
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
  member_id_ = jr.member_id;
  generation_ = jr.generation_id;
  leader_id_ = jr.leader;

  msg::sync_group_request sync;
  sync.group_id = options_.group_id;
  sync.generation_id = generation_;
  sync.member_id = member_id_;
  sync.protocol_type = std::string(group_protocol_type);
  sync.protocol_name = std::string(group_protocol_name);
  if (is_leader()) {
    auto partitions =
        callbacks_.all_partitions ? callbacks_.all_partitions() : std::vector<topic_partition>{};
    sync.assignments =
        assign_members(jr.members, std::move(partitions), generation_, member_id_, members_);
  } else {
    members_.clear();
  }
  const auto sync_sent = clock::now();
  auto synced = co_await cluster_.send_to<msg::sync_group_api>(*coordinator_, sync);
  if (stopping_) co_return;
  if (!synced) {
    coordinator_lost("SyncGroup: " + synced.error().message());
    co_await pause(options_.retry_backoff);
    co_return;
  }
  const int16_t scode = synced->body.error_code;
  if (scode != 0) {
    const std::string text = "SyncGroup: " + code_text(scode);
    if (coordinator_moved(scode)) {
      coordinator_lost(text);
      co_await pause(options_.retry_backoff);
    } else if (is(scode, error_code::unknown_member_id) ||
               is(scode, error_code::fenced_instance_id)) {
      reset_member(text);
    } else if (is(scode, error_code::illegal_generation) ||
               is(scode, error_code::rebalance_in_progress)) {
      // Another rebalance began: join it with the same member id.
    } else {
      note_error(text);
      co_await pause(options_.retry_backoff);
    }
    co_return;
  }
  std::vector<topic_partition> assigned;
  if (!synced->body.assignment.empty()) {
    auto decoded = decode_member_assignment(synced->body.assignment);
    if (!decoded) {
      note_error("SyncGroup: " + decoded.error());
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
  msg::heartbeat_request request;
  request.group_id = options_.group_id;
  request.generation_id = generation_;
  request.member_id = member_id_;
  const auto sent = clock::now();
  auto reply = co_await cluster_.send_to<msg::heartbeat_api>(*coordinator_, request);
  if (stopping_) co_return;
  if (!reply) {
    // The lease runs out by itself if this lasts.
    coordinator_lost("Heartbeat: " + reply.error().message());
    co_return;
  }
  const int16_t code = reply->body.error_code;
  if (code == 0) {
    // Only a success may extend the lease, and only from its send time.
    if (in_group_ && (!lease_anchor_ || sent > *lease_anchor_)) lease_anchor_ = sent;
    last_error_.clear();
    co_return;
  }
  const std::string text = "Heartbeat: " + code_text(code);
  if (is(code, error_code::rebalance_in_progress)) {
    log::info("scale-out group: rebalance", {{"group", options_.group_id}});
    in_group_ = false;
  } else if (is(code, error_code::unknown_member_id) || is(code, error_code::fenced_instance_id)) {
    reset_member(text);
  } else if (is(code, error_code::illegal_generation)) {
    // Our generation is over: what we own may be someone else's.
    lease_anchor_.reset();
    in_group_ = false;
  } else if (coordinator_moved(code)) {
    coordinator_lost(text);
  } else {
    note_error(text);
  }
}

asio::awaitable<void> group_membership::run() {
  while (!stopping_) {
    if (!coordinator_) {
      // (g++ 12 mis-compiles a co_await inside an if condition in a loop.)
      const bool found = co_await discover_coordinator();
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
    const bool found = co_await discover_coordinator();
    if (!found) co_return;
  }
  msg::leave_group_request request;
  request.group_id = options_.group_id;
  request.member_id = member_id_;                // v0-2
  msg::leave_group_request::member_identity me;  // v3+
  me.member_id = member_id_;
  me.reason = "klink instance stopping";
  request.members.push_back(std::move(me));
  auto reply = co_await cluster_.send_to<msg::leave_group_api>(*coordinator_, request);
  int16_t code = 0;
  if (reply) {
    code = reply->body.error_code;
    if (code == 0 && !reply->body.members.empty()) code = reply->body.members.front().error_code;
  }
  log::info("scale-out group: left",
            {{"group", options_.group_id},
             {"member", member_id_},
             {"result", reply ? code_text(code) : reply.error().message()}});
  member_id_.clear();
  generation_ = -1;
  leader_id_.clear();
  members_.clear();
}

asio::awaitable<std::expected<std::vector<member_share>, std::string>> group_membership::describe(
    std::string* state) {
  if (!coordinator_) {
    const bool found = co_await discover_coordinator();
    if (!found)
      co_return std::unexpected("no coordinator for group " + options_.group_id + ": " +
                                last_error_);
  }
  msg::describe_groups_request request;
  request.groups.push_back(options_.group_id);
  auto reply = co_await cluster_.send_to<msg::describe_groups_api>(*coordinator_, request);
  if (!reply) co_return std::unexpected("DescribeGroups: " + reply.error().message());
  if (reply->body.groups.empty()) co_return std::unexpected("DescribeGroups: empty response");
  const auto& g = reply->body.groups.front();
  if (g.error_code != 0) {
    if (coordinator_moved(g.error_code)) coordinator_.reset();
    co_return std::unexpected("DescribeGroups: " + code_text(g.error_code));
  }
  if (state) *state = g.group_state;
  std::vector<member_share> out;
  if (!g.protocol_type.empty() && g.protocol_type != group_protocol_type)
    co_return std::unexpected("group " + options_.group_id + " has protocol type " +
                              g.protocol_type + ", not klink's");
  for (const auto& m : g.members) {
    member_share share{m.member_id, {}, m.client_host, -1, {}};
    if (auto meta = decode_member_metadata(m.member_metadata)) share.instance = meta->instance;
    // Empty while the group rebalances: the member has no share yet.
    if (!m.member_assignment.empty()) {
      if (auto a = decode_member_assignment(m.member_assignment)) {
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
