#include "kafka/client/groups.h"

#include <map>

#include "kafka/messages/describe_groups.h"
#include "kafka/messages/find_coordinator.h"
#include "kafka/messages/list_groups.h"
#include "kafka/messages/offset_commit.h"
#include "kafka/messages/offset_fetch.h"

namespace klink::kafka::client {

namespace {

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

// A coordinator's node id once its address is in the cluster's metadata
// (connection_to() needs it), reading the metadata again when it is not.
asio::awaitable<result<int32_t>> known_node(cluster& c, int32_t node, const std::string& host,
                                            int32_t port) {
  using api = msg::find_coordinator_api;
  if (!c.metadata().brokers.contains(node)) {
    const std::vector<std::string> brokers_only;
    auto refreshed = co_await c.refresh_metadata(brokers_only);
    if (!refreshed) co_return std::unexpected(std::move(refreshed.error()));
    if (!c.metadata().brokers.contains(node)) {
      co_return std::unexpected(error(errc::not_in_metadata, api::name,
                                      "coordinator " + std::to_string(node) + " (" + host + ":" +
                                          std::to_string(port) + ") is not in the metadata")
                                    .on(c.role()));
    }
  }
  co_return node;
}

asio::awaitable<result<int32_t>> find_coordinator_once(cluster& c, const std::string& group) {
  using api = msg::find_coordinator_api;
  auto reply = co_await send<api>(c, target::any_broker(), 0, api::request::max_version,
                                  [&](int16_t version) {
                                    msg::find_coordinator_request r;
                                    r.key_type = group_key_type;
                                    if (version >= find_coordinator_batched) {
                                      r.coordinator_keys.push_back(group);
                                    } else {
                                      r.key = group;
                                    }
                                    return r;
                                  });
  if (!reply) co_return std::unexpected(std::move(reply.error()));
  const auto& body = reply->body;
  if (!body.coordinators.empty()) {
    const auto& one = body.coordinators.front();
    if (one.error_code != 0)
      co_return std::unexpected(answer_error<api>(c, one.error_code, one.error_message));
    co_return co_await known_node(c, one.node_id, one.host, one.port);
  }
  if (body.error_code != 0)
    co_return std::unexpected(answer_error<api>(c, body.error_code, body.error_message));
  co_return co_await known_node(c, body.node_id, body.host, body.port);
}

// The committed offsets in one group's answer (v8+: per group, before: the
// whole answer); partitions with an error or no offset are left out.
template <class Topics>
void collect_offsets(const Topics& topics, std::vector<committed_offset>& out) {
  for (const auto& t : topics) {
    for (const auto& p : t.partitions) {
      if (p.error_code != 0 || p.committed_offset < 0) continue;
      out.push_back(committed_offset{t.name, p.partition_index, p.committed_offset, p.metadata});
    }
  }
}

msg::offset_commit_request commit_request(const std::string& group,
                                          const std::vector<committed_offset>& offsets) {
  using request_topic = msg::offset_commit_request::offset_commit_request_topic;
  msg::offset_commit_request r;
  r.group_id = group;
  // An admin commit: no generation, no member. The broker accepts it only
  // while the group has no members.
  r.generation_id_or_member_epoch = -1;
  r.member_id = "";
  std::map<std::string, std::size_t> topic_index;
  for (const auto& c : offsets) {
    auto [it, added] = topic_index.try_emplace(c.topic, r.topics.size());
    if (added) {
      request_topic t;
      t.name = c.topic;
      r.topics.push_back(std::move(t));
    }
    request_topic::offset_commit_request_partition p;
    p.partition_index = c.partition;
    p.committed_offset = c.offset;
    // A leader epoch of another cluster means nothing here.
    p.committed_leader_epoch = -1;
    p.committed_metadata = c.metadata;
    r.topics[it->second].partitions.push_back(std::move(p));
  }
  return r;
}

}  // namespace

asio::awaitable<result<int32_t>> find_coordinator(cluster& c, const std::string& group,
                                                  call_options options) {
  co_return co_await with_retries(c, options, [&] { return find_coordinator_once(c, group); });
}

asio::awaitable<result<std::vector<committed_offset>>> fetch_group_offsets(cluster& c,
                                                                           int32_t coordinator,
                                                                           const std::string& group,
                                                                           call_options options) {
  using api = msg::offset_fetch_api;
  using answer = result<std::vector<committed_offset>>;
  co_return co_await with_retries(c, options, [&]() -> asio::awaitable<answer> {
    auto reply = co_await send<api>(c, target::broker(coordinator), offset_fetch_min,
                                    offset_fetch_max, [&](int16_t version) {
                                      // Every topic the group committed (null topics): the caller
                                      // filters.
                                      msg::offset_fetch_request r;
                                      if (version >= offset_fetch_batched) {
                                        msg::offset_fetch_request::offset_fetch_request_group g;
                                        g.group_id = group;
                                        g.topics = std::nullopt;
                                        r.groups.push_back(std::move(g));
                                      } else {
                                        r.group_id = group;
                                        r.topics = std::nullopt;
                                      }
                                      return r;
                                    });
    if (!reply) co_return std::unexpected(std::move(reply.error()));
    const auto& body = reply->body;
    const int16_t code = body.groups.empty() ? body.error_code : body.groups.front().error_code;
    std::vector<committed_offset> out;
    // A group the coordinator does not know has committed nothing.
    if (to_error_code(code) == error_code::group_id_not_found) co_return out;
    if (code != 0) co_return std::unexpected(answer_error<api>(c, code));
    if (body.groups.empty()) {
      collect_offsets(body.topics, out);
    } else {
      collect_offsets(body.groups.front().topics, out);
    }
    co_return out;
  });
}

asio::awaitable<result<commit_outcome>> commit_group_offsets(
    cluster& c, int32_t coordinator, const std::string& group,
    const std::vector<committed_offset>& offsets, call_options options) {
  using api = msg::offset_commit_api;
  const auto request = commit_request(group, offsets);
  co_return co_await with_retries(c, options, [&]() -> asio::awaitable<result<commit_outcome>> {
    auto reply = co_await send<api>(c, target::broker(coordinator), api::request::min_version,
                                    offset_commit_max, [&](int16_t) { return request; });
    if (!reply) co_return std::unexpected(std::move(reply.error()));
    commit_outcome outcome;
    for (const auto& t : reply->body.topics) {
      for (const auto& p : t.partitions) {
        if (p.error_code != 0) {
          outcome.refused = answer_error<api>(c, p.error_code).at(t.name, p.partition_index);
          co_return outcome;
        }
        ++outcome.committed;
      }
    }
    co_return outcome;
  });
}

asio::awaitable<result<std::vector<std::string>>> list_groups(cluster& c, int32_t broker,
                                                              call_options options) {
  using api = msg::list_groups_api;
  using answer = result<std::vector<std::string>>;
  co_return co_await with_retries(c, options, [&]() -> asio::awaitable<answer> {
    const api::request every_group;
    auto reply = co_await send<api>(c, target::broker(broker), every_group);
    if (!reply) co_return std::unexpected(std::move(reply.error()));
    if (reply->body.error_code != 0)
      co_return std::unexpected(answer_error<api>(c, reply->body.error_code));
    std::vector<std::string> out;
    for (const auto& g : reply->body.groups)
      out.push_back(g.group_id);
    co_return out;
  });
}

asio::awaitable<result<group_description>> describe_group(cluster& c, int32_t coordinator,
                                                          const std::string& group,
                                                          call_options options) {
  using api = msg::describe_groups_api;
  msg::describe_groups_request request;
  request.groups.push_back(group);
  co_return co_await with_retries(c, options, [&]() -> asio::awaitable<result<group_description>> {
    auto reply = co_await send<api>(c, target::broker(coordinator), request);
    if (!reply) co_return std::unexpected(std::move(reply.error()));
    if (reply->body.groups.empty())
      co_return std::unexpected(error(errc::empty_response, api::name).on(c.role()));
    const auto& g = reply->body.groups.front();
    // Newer brokers say GROUP_ID_NOT_FOUND where older ones say "Dead".
    if (to_error_code(g.error_code) == error_code::group_id_not_found)
      co_return group_description{"Dead", "", {}};
    if (g.error_code != 0)
      co_return std::unexpected(answer_error<api>(c, g.error_code, g.error_message));
    group_description out{g.group_state, g.protocol_type, {}};
    for (const auto& m : g.members)
      out.members.push_back(
          group_member{m.member_id, m.client_host, m.member_metadata, m.member_assignment});
    co_return out;
  });
}

}  // namespace klink::kafka::client
