// kafka/client/membership.h against a scripted broker (JoinGroup, SyncGroup,
// Heartbeat, LeaveGroup: tried once, errors are the caller's states), and
// the group protocol blobs of kafka/client/group_assignment.h.
#include "kafka/client/membership.h"

#include <gtest/gtest.h>

#include "fake_broker.h"
#include "kafka/client/group_assignment.h"
#include "kafka/messages/heartbeat.h"
#include "kafka/messages/join_group.h"
#include "kafka/messages/leave_group.h"
#include "kafka/messages/sync_group.h"

namespace klink::kafka::client {
namespace {

using test::fake_cluster;

int16_t raw(error_code code) {
  return static_cast<int16_t>(code);
}

byte_vector bytes(std::string_view text) {
  const auto view = as_bytes_view(text.data(), text.size());
  return byte_vector(view.begin(), view.end());
}

join_request klink_join() {
  return join_request{"g",
                      std::chrono::milliseconds(10000),
                      std::chrono::milliseconds(30000),
                      std::string(group_protocol_type),
                      std::string(group_protocol_name),
                      bytes("meta"),
                      "testing"};
}

TEST(kafka_client_membership, member_id_required_joins_again_with_the_named_id) {
  fake_cluster f("destination");
  msg::join_group_response required;
  required.error_code = raw(error_code::member_id_required);
  required.member_id = "m-1";
  f.broker.answer<msg::join_group_api>(required);
  msg::join_group_response joined;
  joined.generation_id = 4;
  joined.leader = "m-1";
  joined.member_id = "m-1";
  auto& member = joined.members.emplace_back();
  member.member_id = "m-1";
  member.metadata = bytes("meta");
  f.broker.answer<msg::join_group_api>(joined);
  f.refresh();
  std::string member_id;
  auto result = f.run(join_group(f.cluster, f.broker.node_id(), klink_join(), member_id));
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(member_id, "m-1");
  EXPECT_EQ(result->generation, 4);
  EXPECT_EQ(result->leader, "m-1");
  ASSERT_EQ(result->members.size(), 1u);
  EXPECT_EQ(result->members[0].metadata, bytes("meta"));
  const auto sent = f.broker.requests<msg::join_group_api>();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].request.member_id, "");
  EXPECT_EQ(sent[1].request.member_id, "m-1");
  const auto& r = sent[1].request;
  EXPECT_EQ(r.group_id, "g");
  EXPECT_EQ(r.session_timeout_ms, 10000);
  EXPECT_EQ(r.rebalance_timeout_ms, 30000);
  EXPECT_EQ(r.protocol_type, "klink");
  ASSERT_EQ(r.protocols.size(), 1u);
  EXPECT_EQ(r.protocols[0].name, "klink-sticky-v1");
  EXPECT_EQ(r.protocols[0].metadata, bytes("meta"));
}

TEST(kafka_client_membership, join_errors_are_returned_after_one_attempt) {
  fake_cluster f("destination");
  msg::join_group_response refused;
  refused.error_code = raw(error_code::rebalance_in_progress);  // retriable elsewhere
  f.broker.answer<msg::join_group_api>(refused);
  f.refresh();
  std::string member_id = "m-1";
  auto result = f.run(join_group(f.cluster, f.broker.node_id(), klink_join(), member_id));
  ASSERT_FALSE(result);
  EXPECT_TRUE(result.error().is(error_code::rebalance_in_progress));
  EXPECT_EQ(result.error().call, "JoinGroup");
  EXPECT_EQ(member_id, "m-1");
  EXPECT_EQ(f.broker.requests<msg::join_group_api>().size(), 1u);
}

TEST(kafka_client_membership, sync_group_sends_the_leaders_assignments_and_returns_its_own) {
  fake_cluster f("destination");
  msg::sync_group_response reply;
  reply.assignment = bytes("mine");
  f.broker.answer<msg::sync_group_api>(reply);
  f.refresh();
  const sync_request sync{"g",
                          4,
                          "m-1",
                          "klink",
                          "klink-sticky-v1",
                          {{"m-1", bytes("mine")}, {"m-2", bytes("theirs")}}};
  auto assignment = f.run(sync_group(f.cluster, f.broker.node_id(), sync));
  ASSERT_TRUE(assignment) << assignment.error().message();
  EXPECT_EQ(*assignment, bytes("mine"));
  const auto sent = f.broker.requests<msg::sync_group_api>();
  ASSERT_EQ(sent.size(), 1u);
  const auto& r = sent[0].request;
  EXPECT_EQ(r.generation_id, 4);
  EXPECT_EQ(r.member_id, "m-1");
  ASSERT_EQ(r.assignments.size(), 2u);
  EXPECT_EQ(r.assignments[1].member_id, "m-2");
  EXPECT_EQ(r.assignments[1].assignment, bytes("theirs"));
}

TEST(kafka_client_membership, heartbeat_states_are_errors_and_not_retried) {
  fake_cluster f("destination");
  msg::heartbeat_response rebalancing;
  rebalancing.error_code = raw(error_code::rebalance_in_progress);
  f.broker.answer<msg::heartbeat_api>(rebalancing);
  f.broker.answer<msg::heartbeat_api>(msg::heartbeat_response{});
  f.refresh();
  auto beat = f.run(heartbeat(f.cluster, f.broker.node_id(), "g", 4, "m-1"));
  ASSERT_FALSE(beat);
  EXPECT_TRUE(beat.error().is(error_code::rebalance_in_progress));
  EXPECT_EQ(f.broker.requests<msg::heartbeat_api>().size(), 1u);
  auto again = f.run(heartbeat(f.cluster, f.broker.node_id(), "g", 4, "m-1"));
  EXPECT_TRUE(again) << again.error().message();
}

TEST(kafka_client_membership, leave_group_names_the_member_and_reads_its_error) {
  fake_cluster f("destination");
  msg::leave_group_response reply;
  auto& me = reply.members.emplace_back();
  me.member_id = "m-1";
  me.error_code = raw(error_code::unknown_member_id);
  f.broker.answer<msg::leave_group_api>(reply);
  f.refresh();
  auto left = f.run(leave_group(f.cluster, f.broker.node_id(), "g", "m-1", "stopping"));
  ASSERT_FALSE(left);
  EXPECT_TRUE(left.error().is(error_code::unknown_member_id));
  const auto sent = f.broker.requests<msg::leave_group_api>();
  ASSERT_EQ(sent.size(), 1u);
  ASSERT_EQ(sent[0].request.members.size(), 1u);
  EXPECT_EQ(sent[0].request.members[0].member_id, "m-1");
  EXPECT_EQ(sent[0].request.members[0].reason, "stopping");
}

TEST(kafka_client_group_assignment, unreadable_blobs_are_corrupt_data) {
  for (const std::string text : {"", "{", R"({"v":0})", R"({"v":1,"partitions":[["t",["x"]]]})"}) {
    auto decoded = decode_member_assignment(as_bytes_view(text.data(), text.size()));
    ASSERT_FALSE(decoded) << text;
    EXPECT_TRUE(decoded.error().is(errc::corrupt_data)) << text;
    EXPECT_TRUE(decoded.error().message().starts_with("member assignment: ")) << text;
  }
}

}  // namespace
}  // namespace klink::kafka::client
