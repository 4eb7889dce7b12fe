#include "kafka/client/membership.h"

#include "kafka/client/call.h"
#include "kafka/messages/heartbeat.h"
#include "kafka/messages/join_group.h"
#include "kafka/messages/leave_group.h"
#include "kafka/messages/sync_group.h"

namespace klink::kafka::client {

namespace {

int32_t millis(std::chrono::milliseconds d) {
  return static_cast<int32_t>(d.count());
}

msg::join_group_request join_message(const join_request& request, const std::string& member_id) {
  msg::join_group_request join;
  join.group_id = request.group_id;
  join.session_timeout_ms = millis(request.session_timeout);
  join.rebalance_timeout_ms = millis(request.rebalance_timeout);
  join.member_id = member_id;
  join.protocol_type = request.protocol_type;
  msg::join_group_request::join_group_request_protocol protocol;
  protocol.name = request.protocol_name;
  protocol.metadata = request.metadata;
  join.protocols.push_back(std::move(protocol));
  if (!request.reason.empty()) join.reason = request.reason;
  return join;
}

}  // namespace

asio::awaitable<result<join_result>> join_group(cluster& c, int32_t coordinator,
                                                const join_request& request,
                                                std::string& member_id) {
  using api = msg::join_group_api;
  // At most twice: JoinGroup v4+ first answers a member without an id with
  // MEMBER_ID_REQUIRED and the id to join with.
  for (int attempt = 0;; ++attempt) {
    const auto join = join_message(request, member_id);
    auto reply = co_await send<api>(c, target::broker(coordinator), join);
    if (!reply) co_return std::unexpected(std::move(reply.error()));
    auto& body = reply->body;
    const auto code = to_error_code(body.error_code);
    if (code == error_code::member_id_required) {
      member_id = body.member_id;
      if (attempt == 0) continue;
    }
    if (code != error_code::none) co_return std::unexpected(answer_error<api>(c, body.error_code));
    member_id = body.member_id;
    join_result out{body.generation_id, body.leader, {}};
    for (auto& m : body.members)
      out.members.push_back(joined_member{m.member_id, std::move(m.metadata)});
    co_return out;
  }
}

asio::awaitable<result<byte_vector>> sync_group(cluster& c, int32_t coordinator,
                                                const sync_request& request) {
  using api = msg::sync_group_api;
  msg::sync_group_request sync;
  sync.group_id = request.group_id;
  sync.generation_id = request.generation;
  sync.member_id = request.member_id;
  sync.protocol_type = request.protocol_type;
  sync.protocol_name = request.protocol_name;
  for (const auto& [member, blob] : request.assignments) {
    msg::sync_group_request::sync_group_request_assignment a;
    a.member_id = member;
    a.assignment = blob;
    sync.assignments.push_back(std::move(a));
  }
  auto reply = co_await send<api>(c, target::broker(coordinator), sync);
  if (!reply) co_return std::unexpected(std::move(reply.error()));
  if (reply->body.error_code != 0)
    co_return std::unexpected(answer_error<api>(c, reply->body.error_code));
  co_return std::move(reply->body.assignment);
}

asio::awaitable<result<void>> heartbeat(cluster& c, int32_t coordinator,
                                        const std::string& group_id, int32_t generation,
                                        const std::string& member_id) {
  using api = msg::heartbeat_api;
  msg::heartbeat_request request;
  request.group_id = group_id;
  request.generation_id = generation;
  request.member_id = member_id;
  auto reply = co_await send<api>(c, target::broker(coordinator), request);
  if (!reply) co_return std::unexpected(std::move(reply.error()));
  if (reply->body.error_code != 0)
    co_return std::unexpected(answer_error<api>(c, reply->body.error_code));
  co_return ok();
}

asio::awaitable<result<void>> leave_group(cluster& c, int32_t coordinator,
                                          const std::string& group_id, const std::string& member_id,
                                          const std::string& reason) {
  using api = msg::leave_group_api;
  msg::leave_group_request request;
  request.group_id = group_id;
  request.member_id = member_id;                 // v0-2
  msg::leave_group_request::member_identity me;  // v3+
  me.member_id = member_id;
  me.reason = reason;
  request.members.push_back(std::move(me));
  auto reply = co_await send<api>(c, target::broker(coordinator), request);
  if (!reply) co_return std::unexpected(std::move(reply.error()));
  int16_t code = reply->body.error_code;
  if (code == 0 && !reply->body.members.empty()) code = reply->body.members.front().error_code;
  if (code != 0) co_return std::unexpected(answer_error<api>(c, code));
  co_return ok();
}

}  // namespace klink::kafka::client
