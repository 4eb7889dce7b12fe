#include "linker/partition_fetch.h"

namespace klink::linker {

asio::awaitable<std::expected<partition_fetch_response, std::string>> fetch_partition_now(
    kafka::cluster& cluster, const std::string& topic, int32_t partition, int64_t offset,
    int32_t max_bytes, int8_t isolation_level) {
  using api = kafka::msg::fetch_api;
  using fetch_topic = decltype(kafka::msg::fetch_request::topics)::value_type;
  using fetch_partition = decltype(fetch_topic::partitions)::value_type;
  const auto* meta = cluster.topic(topic);
  const auto leader = cluster.leader_of(topic, partition);
  if (meta == nullptr || !leader)
    co_return std::unexpected(cluster.role() + " partition has no leader");
  kafka::msg::fetch_request request;
  request.max_wait_ms = 0;
  request.min_bytes = 0;
  request.max_bytes = max_bytes;
  request.isolation_level = isolation_level;
  fetch_topic t;
  t.topic = topic;
  t.topic_id = meta->topic_id;
  fetch_partition fp;
  fp.partition = partition;
  fp.fetch_offset = offset;
  fp.partition_max_bytes = max_bytes;
  t.partitions.push_back(fp);
  request.topics.push_back(std::move(t));
  auto reply = co_await cluster.send_to<api>(*leader, request);
  if (!reply)
    co_return std::unexpected("fetch from the " + cluster.role() + ": " + reply.error().message());
  if (reply->body.responses.empty() || reply->body.responses[0].partitions.empty())
    co_return std::unexpected("empty Fetch response from the " + cluster.role());
  co_return std::move(*reply);
}

}  // namespace klink::linker
