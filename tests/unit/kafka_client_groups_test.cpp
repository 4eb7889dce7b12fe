// kafka/client/groups.h against a scripted broker: FindCoordinator,
// OffsetFetch, OffsetCommit, ListGroups, DescribeGroups; version caps,
// retries by the error table, errors that name their call and cluster.
#include "kafka/client/groups.h"

#include <gtest/gtest.h>

#include "fake_broker.h"
#include "kafka/messages/describe_groups.h"
#include "kafka/messages/find_coordinator.h"
#include "kafka/messages/list_groups.h"
#include "kafka/messages/offset_commit.h"
#include "kafka/messages/offset_fetch.h"

namespace klink::kafka::client {
namespace {

using test::fake_cluster;
constexpr auto none = error_code::none;
const call_options quick{3, std::chrono::milliseconds(1)};

int16_t raw(error_code code) {
  return static_cast<int16_t>(code);
}

// An OffsetFetch answer in the batched form (v8+) for one group.
msg::offset_fetch_response batched_offsets(
    const std::string& group, std::vector<std::tuple<std::string, int32_t, int64_t>> offsets,
    error_code group_error = none) {
  msg::offset_fetch_response reply;
  msg::offset_fetch_response::offset_fetch_response_group g;
  g.group_id = group;
  g.error_code = raw(group_error);
  for (const auto& [topic, partition, offset] : offsets) {
    if (g.topics.empty() || g.topics.back().name != topic) g.topics.emplace_back().name = topic;
    auto& p = g.topics.back().partitions.emplace_back();
    p.partition_index = partition;
    p.committed_offset = offset;
    p.metadata = "m" + std::to_string(partition);
  }
  reply.groups.push_back(std::move(g));
  return reply;
}

msg::describe_groups_response described(const std::string& state, error_code code = none) {
  msg::describe_groups_response reply;
  auto& g = reply.groups.emplace_back();
  g.group_id = "g";
  g.error_code = raw(code);
  g.group_state = state;
  g.protocol_type = "consumer";
  return reply;
}

TEST(kafka_client_groups, offset_fetch_is_capped_at_v9_and_asks_for_every_topic) {
  fake_cluster f;
  f.broker.offer<msg::offset_fetch_api>(0, 10);
  f.broker.answer<msg::offset_fetch_api>(batched_offsets("g", {{"t", 0, 42}, {"t", 1, -1}}));
  f.refresh();
  auto offsets = f.run(fetch_group_offsets(f.cluster, f.broker.node_id(), "g", quick));
  ASSERT_TRUE(offsets) << offsets.error().message();
  // The partition without a committed offset (-1) is left out.
  EXPECT_EQ(*offsets, (std::vector<committed_offset>{{"t", 0, 42, "m0"}}));
  const auto sent = f.broker.requests<msg::offset_fetch_api>();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].version, 9);
  ASSERT_EQ(sent[0].request.groups.size(), 1u);
  EXPECT_EQ(sent[0].request.groups[0].group_id, "g");
  EXPECT_FALSE(sent[0].request.groups[0].topics.has_value());
}

TEST(kafka_client_groups, offset_fetch_before_v8_names_the_group_at_the_top) {
  fake_cluster f;
  f.broker.offer<msg::offset_fetch_api>(0, 7);
  msg::offset_fetch_response reply;
  auto& t = reply.topics.emplace_back();
  t.name = "t";
  auto& p = t.partitions.emplace_back();
  p.partition_index = 3;
  p.committed_offset = 7;
  auto& refused = t.partitions.emplace_back();
  refused.partition_index = 4;
  refused.committed_offset = 9;
  refused.error_code = raw(error_code::unstable_offset_commit);
  f.broker.answer<msg::offset_fetch_api>(reply);
  f.refresh();
  auto offsets = f.run(fetch_group_offsets(f.cluster, f.broker.node_id(), "g", quick));
  ASSERT_TRUE(offsets) << offsets.error().message();
  ASSERT_EQ(offsets->size(), 1u);
  EXPECT_EQ((*offsets)[0].partition, 3);
  const auto sent = f.broker.requests<msg::offset_fetch_api>();
  EXPECT_EQ(sent[0].version, 7);
  EXPECT_EQ(sent[0].request.group_id, "g");
  EXPECT_FALSE(sent[0].request.topics.has_value());
}

TEST(kafka_client_groups, offset_fetch_retries_while_the_coordinator_loads) {
  fake_cluster f;
  f.broker.answer<msg::offset_fetch_api>(
      batched_offsets("g", {}, error_code::coordinator_load_in_progress));
  f.broker.answer<msg::offset_fetch_api>(batched_offsets("g", {{"t", 0, 5}}));
  f.refresh();
  auto offsets = f.run(fetch_group_offsets(f.cluster, f.broker.node_id(), "g", quick));
  ASSERT_TRUE(offsets) << offsets.error().message();
  EXPECT_EQ(offsets->size(), 1u);
  EXPECT_EQ(f.broker.requests<msg::offset_fetch_api>().size(), 2u);
}

TEST(kafka_client_groups, a_fatal_code_is_returned_at_once_naming_call_and_cluster) {
  fake_cluster f;
  f.broker.answer<msg::offset_fetch_api>(
      batched_offsets("g", {}, error_code::group_authorization_failed));
  f.refresh();
  auto offsets = f.run(fetch_group_offsets(f.cluster, f.broker.node_id(), "g", quick));
  ASSERT_FALSE(offsets);
  EXPECT_TRUE(offsets.error().is(error_code::group_authorization_failed));
  EXPECT_EQ(offsets.error().call, "OffsetFetch");
  EXPECT_EQ(offsets.error().cluster, "source");
  EXPECT_EQ(offsets.error().message(), "OffsetFetch on the source: GROUP_AUTHORIZATION_FAILED");
  EXPECT_EQ(f.broker.requests<msg::offset_fetch_api>().size(), 1u);
}

TEST(kafka_client_groups, retries_end_after_the_attempts_allowed) {
  fake_cluster f;
  for (int i = 0; i < 3; ++i)
    f.broker.answer<msg::describe_groups_api>(described("", error_code::not_coordinator));
  f.refresh();
  auto group = f.run(describe_group(f.cluster, f.broker.node_id(), "g", quick));
  ASSERT_FALSE(group);
  EXPECT_TRUE(group.error().is(error_code::not_coordinator));
  EXPECT_EQ(f.broker.requests<msg::describe_groups_api>().size(), 3u);
}

TEST(kafka_client_groups, find_coordinator_retries_not_coordinator_and_uses_batched_keys) {
  fake_cluster f;
  msg::find_coordinator_response moved;
  auto& m = moved.coordinators.emplace_back();
  m.key = "g";
  m.error_code = raw(error_code::not_coordinator);
  f.broker.answer<msg::find_coordinator_api>(moved);
  msg::find_coordinator_response found;
  auto& c = found.coordinators.emplace_back();
  c.key = "g";
  c.node_id = f.broker.node_id();
  c.host = "127.0.0.1";
  c.port = f.broker.address().port;
  f.broker.answer<msg::find_coordinator_api>(found);
  auto node = f.run(find_coordinator(f.cluster, "g", quick));
  ASSERT_TRUE(node) << node.error().message();
  EXPECT_EQ(*node, f.broker.node_id());
  EXPECT_TRUE(f.cluster.metadata().brokers.contains(*node));
  const auto sent = f.broker.requests<msg::find_coordinator_api>();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_GE(sent[1].version, 4);
  EXPECT_EQ(sent[1].request.coordinator_keys, std::vector<std::string>{"g"});
}

TEST(kafka_client_groups, find_coordinator_before_v4_sends_the_key) {
  fake_cluster f;
  f.broker.offer<msg::find_coordinator_api>(0, 3);
  msg::find_coordinator_response found;
  found.node_id = f.broker.node_id();
  f.broker.answer<msg::find_coordinator_api>(found);
  // No metadata read yet: the call reads it to learn the coordinator's address.
  auto node = f.run(find_coordinator(f.cluster, "g", quick));
  ASSERT_TRUE(node) << node.error().message();
  EXPECT_TRUE(f.cluster.metadata().brokers.contains(*node));
  const auto sent = f.broker.requests<msg::find_coordinator_api>();
  EXPECT_EQ(sent[0].version, 3);
  EXPECT_EQ(sent[0].request.key, "g");
}

TEST(kafka_client_groups, a_coordinator_missing_from_the_metadata_is_an_error) {
  fake_cluster f;
  msg::find_coordinator_response found;
  auto& c = found.coordinators.emplace_back();
  c.node_id = 7;
  c.host = "elsewhere";
  c.port = 9092;
  f.broker.answer<msg::find_coordinator_api>(found);
  auto node = f.run(find_coordinator(f.cluster, "g", call_options{1, {}}));
  ASSERT_FALSE(node);
  EXPECT_TRUE(node.error().is(errc::not_in_metadata));
  EXPECT_NE(node.error().message().find("coordinator 7 (elsewhere:9092)"), std::string::npos);
}

TEST(kafka_client_groups, an_unknown_group_is_dead) {
  fake_cluster f;
  f.broker.answer<msg::describe_groups_api>(described("", error_code::group_id_not_found));
  f.refresh();
  auto group = f.run(describe_group(f.cluster, f.broker.node_id(), "g", quick));
  ASSERT_TRUE(group) << group.error().message();
  EXPECT_EQ(group->state, "Dead");
  EXPECT_TRUE(group->members.empty());
}

TEST(kafka_client_groups, describe_group_reads_members_and_retries_not_coordinator) {
  fake_cluster f;
  f.broker.answer<msg::describe_groups_api>(described("", error_code::not_coordinator));
  auto stable = described("Stable");
  auto& member = stable.groups[0].members.emplace_back();
  member.member_id = "m-1";
  member.client_host = "/10.0.0.1";
  member.member_assignment = byte_vector{std::byte{1}, std::byte{2}};
  f.broker.answer<msg::describe_groups_api>(stable);
  f.refresh();
  auto group = f.run(describe_group(f.cluster, f.broker.node_id(), "g", quick));
  ASSERT_TRUE(group) << group.error().message();
  EXPECT_EQ(group->state, "Stable");
  EXPECT_EQ(group->protocol_type, "consumer");
  ASSERT_EQ(group->members.size(), 1u);
  EXPECT_EQ(group->members[0].member_id, "m-1");
  EXPECT_EQ(group->members[0].client_host, "/10.0.0.1");
  EXPECT_EQ(group->members[0].assignment.size(), 2u);
  EXPECT_EQ(f.broker.requests<msg::describe_groups_api>().size(), 2u);
}

TEST(kafka_client_groups, commit_is_capped_at_v9_groups_topics_and_reports_the_first_refusal) {
  fake_cluster f;
  f.broker.offer<msg::offset_commit_api>(0, 10);
  f.broker.answer_with<msg::offset_commit_api>([](const msg::offset_commit_request& r, int16_t) {
    msg::offset_commit_response reply;
    for (const auto& t : r.topics) {
      auto& rt = reply.topics.emplace_back();
      rt.name = t.name;
      for (const auto& p : t.partitions) {
        auto& rp = rt.partitions.emplace_back();
        rp.partition_index = p.partition_index;
        if (t.name == "u") rp.error_code = raw(error_code::unknown_member_id);
      }
    }
    return reply;
  });
  f.refresh();
  const std::vector<committed_offset> offsets{
      {"t", 0, 10, "a"}, {"t", 1, 11, std::nullopt}, {"u", 0, 12, "c"}};
  auto outcome = f.run(commit_group_offsets(f.cluster, f.broker.node_id(), "g", offsets, quick));
  ASSERT_TRUE(outcome) << outcome.error().message();
  EXPECT_EQ(outcome->committed, 2);
  ASSERT_TRUE(outcome->refused.has_value());
  EXPECT_TRUE(outcome->refused->is(error_code::unknown_member_id));
  EXPECT_EQ(outcome->refused->topic, "u");
  EXPECT_EQ(outcome->refused->partition, 0);
  EXPECT_EQ(outcome->refused->message(), "OffsetCommit on the source for u-0: UNKNOWN_MEMBER_ID");
  const auto sent = f.broker.requests<msg::offset_commit_api>();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].version, 9);
  const auto& r = sent[0].request;
  EXPECT_EQ(r.group_id, "g");
  EXPECT_EQ(r.generation_id_or_member_epoch, -1);
  EXPECT_EQ(r.member_id, "");
  ASSERT_EQ(r.topics.size(), 2u);
  ASSERT_EQ(r.topics[0].partitions.size(), 2u);
  EXPECT_EQ(r.topics[0].partitions[1].committed_offset, 11);
  EXPECT_EQ(r.topics[0].partitions[1].committed_leader_epoch, -1);
  EXPECT_EQ(r.topics[0].partitions[0].committed_metadata, "a");
}

TEST(kafka_client_groups, list_groups_names_every_group_of_the_broker) {
  fake_cluster f;
  msg::list_groups_response reply;
  reply.groups.emplace_back().group_id = "a";
  reply.groups.emplace_back().group_id = "b";
  f.broker.answer<msg::list_groups_api>(reply);
  f.refresh();
  auto groups = f.run(list_groups(f.cluster, f.broker.node_id(), quick));
  ASSERT_TRUE(groups) << groups.error().message();
  EXPECT_EQ(*groups, (std::vector<std::string>{"a", "b"}));
}

TEST(kafka_client_groups, a_broker_that_hangs_up_is_a_failed_request_not_an_answer) {
  fake_cluster f;
  f.refresh();
  auto groups = f.run(list_groups(f.cluster, f.broker.node_id(), call_options{1, {}}));
  ASSERT_FALSE(groups);
  EXPECT_EQ(groups.error().code.category(), client_category());
  EXPECT_EQ(groups.error().call, "ListGroups");
  EXPECT_EQ(f.broker.unanswered(), 1);
}

}  // namespace
}  // namespace klink::kafka::client
