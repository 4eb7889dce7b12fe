// kafka/client/partition_io.h and list_offsets.h against a scripted broker:
// one-partition Fetch and Produce, ListOffsets per leader.
#include <gtest/gtest.h>

#include "fake_broker.h"
#include "kafka/client/list_offsets.h"
#include "kafka/client/partition_io.h"
#include "kafka/messages/fetch.h"
#include "kafka/messages/list_offsets.h"
#include "kafka/messages/produce.h"
#include "kafka/records.h"

namespace klink::kafka::client {
namespace {

using test::fake_cluster;

uuid some_id() {
  uuid id;
  id.bytes[0] = std::byte{7};
  return id;
}

byte_vector one_record_batch() {
  const std::string key = "k";
  const std::string value = "v";
  record_to_write r;
  r.key = as_bytes_view(key.data(), key.size());
  r.value = as_bytes_view(value.data(), value.size());
  auto batch = build_batch(compression_codec::none, 0, std::span<const record_to_write>(&r, 1));
  if (!batch) throw std::runtime_error(batch.error().message);
  return *batch;
}

msg::fetch_response fetched(error_code code, std::optional<bytes_view> records = std::nullopt) {
  msg::fetch_response reply;
  auto& t = reply.responses.emplace_back();
  auto& p = t.partitions.emplace_back();
  p.error_code = static_cast<int16_t>(code);
  p.high_watermark = 10;
  p.last_stable_offset = 9;
  p.log_start_offset = 4;
  p.records = records;
  return reply;
}

TEST(kafka_client_partition_io, fetch_names_the_topic_by_id_from_v13_and_sets_partition_max_bytes) {
  fake_cluster f;
  f.broker.add_topic("t", 2, some_id());
  const byte_vector batch = one_record_batch();
  f.broker.answer<msg::fetch_api>(fetched(error_code::none, bytes_view(batch)));
  f.refresh({"t"});
  auto got = f.run(fetch_partition(f.cluster, "t", 1, 3, 4096, isolation::read_committed));
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_FALSE(got->out_of_range);
  EXPECT_EQ(got->high_watermark, 10);
  EXPECT_EQ(got->last_stable_offset, 9);
  EXPECT_EQ(got->log_start_offset, 4);
  ASSERT_EQ(got->records.size(), batch.size());
  EXPECT_TRUE(std::equal(got->records.begin(), got->records.end(), batch.begin()));
  const auto sent = f.broker.requests<msg::fetch_api>();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_GE(sent[0].version, 13);
  const auto& r = sent[0].request;
  EXPECT_EQ(r.max_wait_ms, 0);
  EXPECT_EQ(r.isolation_level, 1);
  ASSERT_EQ(r.topics.size(), 1u);
  EXPECT_EQ(r.topics[0].topic_id, some_id());
  const auto& p = r.topics[0].partitions.at(0);
  EXPECT_EQ(p.partition, 1);
  EXPECT_EQ(p.fetch_offset, 3);
  EXPECT_EQ(p.partition_max_bytes, 4096);
}

TEST(kafka_client_partition_io, a_topic_without_an_id_is_fetched_by_name) {
  fake_cluster f;
  f.broker.add_topic("t", 1);
  f.broker.answer<msg::fetch_api>(fetched(error_code::none));
  f.refresh({"t"});
  auto got = f.run(fetch_partition(f.cluster, "t", 0, 0, 4096, isolation::read_uncommitted));
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_TRUE(got->records.empty());
  const auto sent = f.broker.requests<msg::fetch_api>();
  EXPECT_EQ(sent[0].version, 12);
  EXPECT_EQ(sent[0].request.topics[0].topic, "t");
}

TEST(kafka_client_partition_io, offset_out_of_range_is_an_answer_not_an_error) {
  fake_cluster f;
  f.broker.add_topic("t", 1, some_id());
  f.broker.answer<msg::fetch_api>(fetched(error_code::offset_out_of_range));
  f.refresh({"t"});
  auto got = f.run(fetch_partition(f.cluster, "t", 0, 1, 4096, isolation::read_uncommitted));
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_TRUE(got->out_of_range);
  EXPECT_EQ(got->log_start_offset, 4);
  EXPECT_TRUE(got->records.empty());
}

TEST(kafka_client_partition_io, fetch_errors_name_topic_and_partition) {
  fake_cluster f;
  f.broker.add_topic("t", 1, some_id());
  f.broker.answer<msg::fetch_api>(fetched(error_code::not_leader_or_follower));
  f.refresh({"t"});
  auto got = f.run(fetch_partition(f.cluster, "t", 0, 1, 4096, isolation::read_uncommitted));
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().message(), "Fetch on the source for t-0: NOT_LEADER_OR_FOLLOWER");
  auto missing = f.run(fetch_partition(f.cluster, "u", 0, 1, 4096, isolation::read_uncommitted));
  ASSERT_FALSE(missing);
  EXPECT_TRUE(missing.error().is(errc::not_in_metadata));
}

TEST(kafka_client_partition_io, produce_returns_the_base_offset_and_sends_the_batch_as_is) {
  fake_cluster f("destination");
  f.broker.add_topic("s", 1, some_id());
  msg::produce_response reply;
  auto& pr = reply.responses.emplace_back().partition_responses.emplace_back();
  pr.base_offset = 41;
  f.broker.answer<msg::produce_api>(reply);
  f.refresh({"s"});
  auto batch = std::make_shared<const byte_vector>(one_record_batch());
  auto offset = f.run(produce_batch(f.cluster, "s", 0, batch));
  ASSERT_TRUE(offset) << offset.error().message();
  EXPECT_EQ(*offset, 41);
  const auto sent = f.broker.requests<msg::produce_api>();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_GE(sent[0].version, 13);
  EXPECT_EQ(sent[0].request.acks, -1);
  const auto& t = sent[0].request.topic_data.at(0);
  EXPECT_EQ(t.topic_id, some_id());
  const auto records = t.partition_data.at(0).records;
  ASSERT_TRUE(records.has_value());
  EXPECT_TRUE(std::equal(records->begin(), records->end(), batch->begin(), batch->end()));
}

TEST(kafka_client_partition_io, a_failed_produce_forgets_the_leader) {
  fake_cluster f("destination");
  f.broker.add_topic("s", 1, some_id());
  msg::produce_response reply;
  auto& pr = reply.responses.emplace_back().partition_responses.emplace_back();
  pr.error_code = static_cast<int16_t>(error_code::not_leader_or_follower);
  f.broker.answer<msg::produce_api>(reply);
  f.refresh({"s"});
  auto batch = std::make_shared<const byte_vector>(one_record_batch());
  auto offset = f.run(produce_batch(f.cluster, "s", 0, batch));
  ASSERT_FALSE(offset);
  EXPECT_EQ(offset.error().message(), "Produce on the destination for s-0: NOT_LEADER_OR_FOLLOWER");
  EXPECT_FALSE(f.cluster.leader_of("s", 0).has_value());
  // Without a leader the next call fails before sending anything.
  auto again = f.run(produce_batch(f.cluster, "s", 0, batch));
  ASSERT_FALSE(again);
  EXPECT_TRUE(again.error().is(errc::no_leader));
  EXPECT_EQ(f.broker.requests<msg::produce_api>().size(), 1u);
}

TEST(kafka_client_list_offsets, one_request_per_leader_with_leader_epochs) {
  fake_cluster f;
  f.broker.add_topic("a", 2, some_id(), 9);
  f.broker.add_topic("b", 1, some_id(), 3);
  f.broker.answer_with<msg::list_offsets_api>([](const msg::list_offsets_request& r, int16_t) {
    msg::list_offsets_response reply;
    for (const auto& t : r.topics) {
      auto& rt = reply.topics.emplace_back();
      rt.name = t.name;
      for (const auto& p : t.partitions) {
        auto& rp = rt.partitions.emplace_back();
        rp.partition_index = p.partition_index;
        rp.offset = 100 + p.partition_index;
        if (t.name == "b") rp.error_code = static_cast<int16_t>(error_code::fenced_leader_epoch);
      }
    }
    return reply;
  });
  f.refresh({"a", "b"});
  const std::vector<std::string> topics{"a", "b", "missing"};
  auto offsets =
      f.run(list_offsets(f.cluster, topics, latest_timestamp, isolation::read_committed));
  ASSERT_TRUE(offsets.at("a")) << offsets.at("a").error().message();
  EXPECT_EQ(*offsets.at("a"), (std::vector<int64_t>{100, 101}));
  ASSERT_FALSE(offsets.at("b"));
  EXPECT_EQ(offsets.at("b").error().message(),
            "ListOffsets on the source for b-0: FENCED_LEADER_EPOCH");
  ASSERT_FALSE(offsets.at("missing"));
  EXPECT_TRUE(offsets.at("missing").error().is(errc::not_in_metadata));
  const auto sent = f.broker.requests<msg::list_offsets_api>();
  ASSERT_EQ(sent.size(), 1u);
  const auto& r = sent[0].request;
  EXPECT_EQ(r.isolation_level, 1);
  EXPECT_EQ(r.replica_id, -1);
  ASSERT_EQ(r.topics.size(), 2u);
  EXPECT_EQ(r.topics[0].partitions[1].current_leader_epoch, 9);
  EXPECT_EQ(r.topics[0].partitions[1].timestamp, latest_timestamp);
  EXPECT_EQ(r.topics[1].partitions[0].current_leader_epoch, 3);
}

TEST(kafka_client_list_offsets, a_partition_left_out_of_the_answer_is_an_error) {
  fake_cluster f;
  f.broker.add_topic("a", 2, some_id());
  msg::list_offsets_response reply;
  auto& t = reply.topics.emplace_back();
  t.name = "a";
  t.partitions.emplace_back().offset = 5;
  f.broker.answer<msg::list_offsets_api>(reply);
  f.refresh({"a"});
  auto offsets =
      f.run(list_offsets(f.cluster, "a", earliest_timestamp, isolation::read_uncommitted));
  ASSERT_FALSE(offsets);
  EXPECT_TRUE(offsets.error().is(errc::empty_response));
  EXPECT_EQ(offsets.error().topic, "a");
}

}  // namespace
}  // namespace klink::kafka::client
