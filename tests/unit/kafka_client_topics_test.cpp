// kafka/client/topics.h against a scripted broker: CreateTopics,
// CreatePartitions, DescribeConfigs, IncrementalAlterConfigs.
#include "kafka/client/topics.h"

#include <gtest/gtest.h>

#include "fake_broker.h"
#include "kafka/messages/create_partitions.h"
#include "kafka/messages/create_topics.h"
#include "kafka/messages/describe_configs.h"
#include "kafka/messages/incremental_alter_configs.h"

namespace klink::kafka::client {
namespace {

using test::fake_cluster;
const call_options quick{3, std::chrono::milliseconds(1)};

msg::create_topics_response topic_created(const std::string& name, error_code code,
                                          std::optional<std::string> message = std::nullopt) {
  msg::create_topics_response reply;
  auto& t = reply.topics.emplace_back();
  t.name = name;
  t.error_code = static_cast<int16_t>(code);
  t.error_message = std::move(message);
  return reply;
}

msg::create_partitions_response partitions_created(const std::string& name, error_code code) {
  msg::create_partitions_response reply;
  auto& r = reply.results.emplace_back();
  r.name = name;
  r.error_code = static_cast<int16_t>(code);
  return reply;
}

TEST(kafka_client_topics, create_topic_sends_the_topic_and_says_it_created_it) {
  fake_cluster f("destination");
  f.broker.answer<msg::create_topics_api>(topic_created("m", error_code::none));
  const new_topic wanted{"m", 3, -1, {{"cleanup.policy", "compact"}}};
  auto created = f.run(create_topic(f.cluster, wanted, quick));
  ASSERT_TRUE(created) << created.error().message();
  EXPECT_TRUE(*created);
  const auto sent = f.broker.requests<msg::create_topics_api>();
  ASSERT_EQ(sent.size(), 1u);
  ASSERT_EQ(sent[0].request.topics.size(), 1u);
  const auto& t = sent[0].request.topics[0];
  EXPECT_EQ(t.name, "m");
  EXPECT_EQ(t.num_partitions, 3);
  EXPECT_EQ(t.replication_factor, -1);
  ASSERT_EQ(t.configs.size(), 1u);
  EXPECT_EQ(t.configs[0].name, "cleanup.policy");
  EXPECT_EQ(t.configs[0].value, "compact");
}

TEST(kafka_client_topics, a_topic_that_already_exists_is_not_an_error) {
  fake_cluster f("destination");
  f.broker.answer<msg::create_topics_api>(topic_created("m", error_code::topic_already_exists));
  auto created = f.run(create_topic(f.cluster, new_topic{"m", 1, -1, {}}, quick));
  ASSERT_TRUE(created) << created.error().message();
  EXPECT_FALSE(*created);
}

TEST(kafka_client_topics, not_controller_is_retried_after_reading_the_metadata) {
  fake_cluster f("destination");
  f.broker.answer<msg::create_topics_api>(topic_created("m", error_code::not_controller));
  f.broker.answer<msg::create_topics_api>(topic_created("m", error_code::none));
  auto created = f.run(create_topic(f.cluster, new_topic{"m", 1, -1, {}}, quick));
  ASSERT_TRUE(created) << created.error().message();
  EXPECT_TRUE(*created);
  EXPECT_EQ(f.broker.requests<msg::create_topics_api>().size(), 2u);
  // The retry went to the controller the metadata named.
  EXPECT_EQ(f.cluster.metadata().controller_id, f.broker.node_id());
}

TEST(kafka_client_topics, a_refusal_names_call_cluster_topic_and_the_brokers_words) {
  fake_cluster f("destination");
  f.broker.answer<msg::create_topics_api>(
      topic_created("m", error_code::policy_violation, "no compaction here"));
  auto created = f.run(create_topic(f.cluster, new_topic{"m", 1, -1, {}}, quick));
  ASSERT_FALSE(created);
  const error& e = created.error();
  EXPECT_TRUE(e.is(error_code::policy_violation));
  EXPECT_EQ(e.call, "CreateTopics");
  EXPECT_EQ(e.cluster, "destination");
  EXPECT_EQ(e.topic, "m");
  EXPECT_EQ(e.message(),
            "CreateTopics on the destination for m: POLICY_VIOLATION (no compaction here)");
  EXPECT_EQ(f.broker.requests<msg::create_topics_api>().size(), 1u);
}

TEST(kafka_client_topics, partitions_that_are_already_there_are_a_success) {
  fake_cluster f("destination");
  f.broker.answer<msg::create_partitions_api>(
      partitions_created("m", error_code::invalid_partitions));
  auto grown = f.run(create_partitions(f.cluster, "m", 6, quick));
  ASSERT_TRUE(grown) << grown.error().message();
  const auto sent = f.broker.requests<msg::create_partitions_api>();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].request.topics[0].count, 6);
  EXPECT_FALSE(sent[0].request.topics[0].assignments.has_value());
}

TEST(kafka_client_topics, create_partitions_refused_names_the_topic) {
  fake_cluster f("destination");
  f.broker.answer<msg::create_partitions_api>(
      partitions_created("m", error_code::topic_authorization_failed));
  auto grown = f.run(create_partitions(f.cluster, "m", 6, quick));
  ASSERT_FALSE(grown);
  EXPECT_TRUE(grown.error().is(error_code::topic_authorization_failed));
  EXPECT_EQ(grown.error().topic, "m");
}

TEST(kafka_client_topics, describe_configs_asks_for_all_in_batches_of_200) {
  fake_cluster f;
  f.broker.answer_with<msg::describe_configs_api>(
      [](const msg::describe_configs_request& r, int16_t) {
        msg::describe_configs_response reply;
        for (const auto& resource : r.resources) {
          auto& result = reply.results.emplace_back();
          result.resource_type = resource.resource_type;
          result.resource_name = resource.resource_name;
          if (resource.resource_name == "t7") {
            result.error_code = static_cast<int16_t>(error_code::unknown_topic_or_partition);
            continue;
          }
          auto& retention = result.configs.emplace_back();
          retention.name = "retention.ms";
          retention.value = "1000";
          auto& secret = result.configs.emplace_back();
          secret.name = "sensitive";
          secret.value = std::nullopt;
        }
        return reply;
      });
  std::vector<std::string> topics;
  for (int i = 0; i < 201; ++i)
    topics.push_back("t" + std::to_string(i));
  // The second request (the 201st topic): no configs.
  f.broker.answer_with<msg::describe_configs_api>(
      [](const msg::describe_configs_request& r, int16_t) {
        msg::describe_configs_response reply;
        auto& result = reply.results.emplace_back();
        result.resource_name = r.resources.at(0).resource_name;
        return reply;
      });
  auto configs = f.run(describe_topic_configs(f.cluster, topics, quick));
  ASSERT_TRUE(configs) << configs.error().message();
  EXPECT_EQ(configs->size(), 201u);
  const auto& t0 = configs->at("t0");
  ASSERT_TRUE(t0);
  EXPECT_EQ(*t0, (topic_configs{{"retention.ms", "1000"}}));
  ASSERT_FALSE(configs->at("t7"));
  EXPECT_TRUE(configs->at("t7").error().is(error_code::unknown_topic_or_partition));
  EXPECT_EQ(configs->at("t7").error().topic, "t7");
  ASSERT_TRUE(configs->at("t200"));
  const auto sent = f.broker.requests<msg::describe_configs_api>();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].request.resources.size(), 200u);
  EXPECT_EQ(sent[1].request.resources.size(), 1u);
  EXPECT_EQ(sent[0].request.resources[0].resource_type, 2);
  EXPECT_FALSE(sent[0].request.resources[0].configuration_keys.has_value());
}

TEST(kafka_client_topics, set_topic_configs_sets_each_and_answers_per_topic) {
  fake_cluster f("destination");
  f.broker.answer_with<msg::incremental_alter_configs_api>(
      [](const msg::incremental_alter_configs_request& r, int16_t) {
        msg::incremental_alter_configs_response reply;
        for (const auto& resource : r.resources) {
          auto& answer = reply.responses.emplace_back();
          answer.resource_name = resource.resource_name;
          if (resource.resource_name == "b") {
            answer.error_code = static_cast<int16_t>(error_code::invalid_config);
            answer.error_message = "too small";
          }
        }
        return reply;
      });
  const std::map<std::string, topic_configs> changes{
      {"a", {{"retention.ms", "1000"}, {"segment.ms", "60000"}}}, {"b", {{"retention.ms", "1"}}}};
  auto outcome = f.run(set_topic_configs(f.cluster, changes, quick));
  ASSERT_TRUE(outcome) << outcome.error().message();
  EXPECT_TRUE(outcome->at("a"));
  ASSERT_FALSE(outcome->at("b"));
  EXPECT_EQ(outcome->at("b").error().message(),
            "IncrementalAlterConfigs on the destination for b: INVALID_CONFIG (too small)");
  const auto sent = f.broker.requests<msg::incremental_alter_configs_api>();
  ASSERT_EQ(sent.size(), 1u);
  const auto& a = sent[0].request.resources.at(0);
  EXPECT_EQ(a.resource_name, "a");
  ASSERT_EQ(a.configs.size(), 2u);
  EXPECT_EQ(a.configs[0].config_operation, 0);  // SET
  EXPECT_EQ(a.configs[1].name, "segment.ms");
  EXPECT_EQ(a.configs[1].value, "60000");
}

}  // namespace
}  // namespace klink::kafka::client
