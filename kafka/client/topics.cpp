#include "kafka/client/topics.h"

#include <algorithm>

#include "kafka/messages/create_partitions.h"
#include "kafka/messages/create_topics.h"
#include "kafka/messages/describe_configs.h"
#include "kafka/messages/incremental_alter_configs.h"

namespace klink::kafka::client {

namespace {

constexpr int8_t topic_resource = 2;
constexpr int8_t set_config = 0;  // IncrementalAlterConfigs operation SET
// Topics per DescribeConfigs / IncrementalAlterConfigs request: a link of
// thousands of topics must not make one answer of many megabytes.
constexpr std::size_t configs_batch = 200;
// How long the controller may take to create topics or partitions.
constexpr int32_t admin_timeout_ms = 30000;

// The one result in an answer that lists results per topic, or empty_response.
template <class Api, class Results>
auto only_result(const cluster& c, const Results& results, const std::string& topic)
    -> result<const typename Results::value_type*> {
  if (results.empty())
    return std::unexpected(error(errc::empty_response, Api::name).on(c.role()).at(topic));
  return &results.front();
}

// What DescribeConfigs and IncrementalAlterConfigs share: `count` topics
// asked `configs_batch` at a time (`build(first, last)` makes a request, sent
// to any broker with retries), and each topic's result in the answer
// (`results_of(body)`) read as its error or as `read(result)`. The call fails
// as a whole only when a request does.
template <class Api, class Value, class Build, class ResultsOf, class Read>
asio::awaitable<result<std::map<std::string, result<Value>>>> per_topic_in_batches(
    cluster& c, const call_options& options, std::size_t count, Build build, ResultsOf results_of,
    Read read) {
  using answers = result<std::map<std::string, result<Value>>>;
  std::map<std::string, result<Value>> out;
  for (std::size_t begin = 0; begin < count; begin += configs_batch) {
    const typename Api::request request = build(begin, std::min(count, begin + configs_batch));
    auto part = co_await with_retries(c, options, [&]() -> asio::awaitable<answers> {
      auto reply = co_await send<Api>(c, target::any_broker(), request);
      if (!reply) co_return std::unexpected(std::move(reply.error()));
      std::map<std::string, result<Value>> answered;
      for (const auto& r : results_of(reply->body)) {
        if (r.error_code == 0) {
          answered.emplace(r.resource_name, read(r));
          continue;
        }
        answered.emplace(
            r.resource_name,
            std::unexpected(
                answer_error<Api>(c, r.error_code, r.error_message).at(r.resource_name)));
      }
      co_return answered;
    });
    if (!part) co_return std::unexpected(std::move(part.error()));
    out.merge(*part);
  }
  co_return out;
}

}  // namespace

asio::awaitable<result<bool>> create_topic(cluster& c, const new_topic& topic,
                                           call_options options) {
  using api = msg::create_topics_api;
  co_return co_await with_retries(c, options, [&]() -> asio::awaitable<result<bool>> {
    msg::create_topics_request request;
    msg::create_topics_request::creatable_topic t;
    t.name = topic.name;
    t.num_partitions = topic.partitions;
    t.replication_factor = topic.replication_factor;
    for (const auto& [name, value] : topic.configs) {
      msg::create_topics_request::creatable_topic::creatable_topic_config config;
      config.name = name;
      config.value = value;
      t.configs.push_back(std::move(config));
    }
    request.topics.push_back(std::move(t));
    request.timeout_ms = admin_timeout_ms;
    auto reply = co_await send<api>(c, target::controller(), request);
    if (!reply) co_return std::unexpected(std::move(reply.error()).at(topic.name));
    auto answer = only_result<api>(c, reply->body.topics, topic.name);
    if (!answer) co_return std::unexpected(std::move(answer.error()));
    const auto& r = **answer;
    if (r.error_code == 0) co_return true;
    // Another instance (or an earlier attempt whose answer was lost) won.
    if (to_error_code(r.error_code) == error_code::topic_already_exists) co_return false;
    co_return std::unexpected(answer_error<api>(c, r.error_code, r.error_message).at(topic.name));
  });
}

asio::awaitable<result<void>> create_partitions(cluster& c, const std::string& topic, int32_t count,
                                                call_options options) {
  using api = msg::create_partitions_api;
  co_return co_await with_retries(c, options, [&]() -> asio::awaitable<result<void>> {
    msg::create_partitions_request request;
    msg::create_partitions_request::create_partitions_topic t;
    t.name = topic;
    t.count = count;
    t.assignments = std::nullopt;  // the cluster places them
    request.topics.push_back(std::move(t));
    request.timeout_ms = admin_timeout_ms;
    auto reply = co_await send<api>(c, target::controller(), request);
    if (!reply) co_return std::unexpected(std::move(reply.error()).at(topic));
    auto answer = only_result<api>(c, reply->body.results, topic);
    if (!answer) co_return std::unexpected(std::move(answer.error()));
    const auto& r = **answer;
    // INVALID_PARTITIONS: it already has them (an earlier attempt won).
    if (r.error_code == 0 || to_error_code(r.error_code) == error_code::invalid_partitions)
      co_return ok();
    co_return std::unexpected(answer_error<api>(c, r.error_code, r.error_message).at(topic));
  });
}

asio::awaitable<result<std::map<std::string, result<topic_configs>>>> describe_topic_configs(
    cluster& c, const std::vector<std::string>& topics, call_options options) {
  using api = msg::describe_configs_api;
  auto build = [&](std::size_t begin, std::size_t end) {
    msg::describe_configs_request request;
    for (std::size_t i = begin; i < end; ++i) {
      msg::describe_configs_request::describe_configs_resource r;
      r.resource_type = topic_resource;
      r.resource_name = topics[i];
      r.configuration_keys = std::nullopt;  // all: the effective values, defaults included
      request.resources.push_back(std::move(r));
    }
    return request;
  };
  auto read = [](const msg::describe_configs_response::describe_configs_result& r) {
    topic_configs configs;
    for (const auto& config : r.configs) {
      if (config.value) configs[config.name] = *config.value;
    }
    return configs;
  };
  co_return co_await per_topic_in_batches<api, topic_configs>(
      c, options, topics.size(), build,
      [](const auto& body) -> const auto& { return body.results; }, read);
}

asio::awaitable<result<std::map<std::string, result<void>>>> set_topic_configs(
    cluster& c, const std::map<std::string, topic_configs>& changes, call_options options) {
  using api = msg::incremental_alter_configs_api;
  std::vector<const std::pair<const std::string, topic_configs>*> entries;
  for (const auto& entry : changes)
    entries.push_back(&entry);
  auto build = [&](std::size_t begin, std::size_t end) {
    msg::incremental_alter_configs_request request;
    for (std::size_t i = begin; i < end; ++i) {
      msg::incremental_alter_configs_request::alter_configs_resource r;
      r.resource_type = topic_resource;
      r.resource_name = entries[i]->first;
      for (const auto& [name, value] : entries[i]->second) {
        msg::incremental_alter_configs_request::alter_configs_resource::alterable_config set;
        set.name = name;
        set.config_operation = set_config;
        set.value = value;
        r.configs.push_back(std::move(set));
      }
      request.resources.push_back(std::move(r));
    }
    return request;
  };
  co_return co_await per_topic_in_batches<api, void>(
      c, options, entries.size(), build,
      [](const auto& body) -> const auto& { return body.responses; },
      [](const auto&) { return ok(); });
}

}  // namespace klink::kafka::client
