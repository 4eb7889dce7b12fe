#include "linker/list_offsets.h"

#include "kafka/error_code.h"
#include "kafka/messages/list_offsets.h"

namespace klink::linker {

namespace {
using api = kafka::msg::list_offsets_api;
using request_topic = decltype(kafka::msg::list_offsets_request::topics)::value_type;
using request_partition = decltype(request_topic::partitions)::value_type;
}  // namespace

asio::awaitable<std::map<std::string, topic_offsets>> list_offsets(
    kafka::cluster& cluster, const std::vector<std::string>& topics, int64_t timestamp,
    int8_t isolation) {
  std::map<std::string, topic_offsets> out;
  std::map<std::string, std::vector<int64_t>> found;
  std::map<int32_t, kafka::msg::list_offsets_request> by_leader;
  for (const auto& topic : topics) {
    const auto* meta = cluster.topic(topic);
    if (meta == nullptr || meta->error != 0) {
      out[topic] = std::unexpected("topic " + topic + " not in the " + cluster.role() +
                                   " cluster's metadata");
      continue;
    }
    const auto leaderless = std::find_if(meta->partitions.begin(), meta->partitions.end(),
                                         [](const auto& p) { return p.leader < 0; });
    if (leaderless != meta->partitions.end()) {
      out[topic] =
          std::unexpected(topic + "-" + std::to_string(leaderless->partition) + " has no leader");
      continue;
    }
    found[topic].assign(meta->partitions.size(), -1);
    for (const auto& p : meta->partitions) {
      auto& request = by_leader[p.leader];
      request.replica_id = -1;
      request.isolation_level = isolation;
      if (request.topics.empty() || request.topics.back().name != topic) {
        request_topic t;
        t.name = topic;
        request.topics.push_back(std::move(t));
      }
      request_partition rp;
      rp.partition_index = p.partition;
      rp.current_leader_epoch = p.leader_epoch;
      rp.timestamp = timestamp;
      request.topics.back().partitions.push_back(rp);
    }
  }
  for (auto& [leader, request] : by_leader) {
    auto reply = co_await cluster.send_to<api>(leader, request);
    if (!reply) {
      for (const auto& t : request.topics)
        out[t.name] = std::unexpected("ListOffsets: " + reply.error().message());
      continue;
    }
    for (const auto& t : reply->body.topics) {
      auto it = found.find(t.name);
      if (it == found.end()) continue;
      for (const auto& p : t.partitions) {
        if (p.error_code != 0) {
          out[t.name] = std::unexpected(
              "ListOffsets for " + t.name + "-" + std::to_string(p.partition_index) + ": " +
              std::string(kafka::error_name(kafka::to_error_code(p.error_code))));
        } else if (p.partition_index >= 0 &&
                   static_cast<std::size_t>(p.partition_index) < it->second.size()) {
          it->second[static_cast<std::size_t>(p.partition_index)] = p.offset;
        }
      }
    }
  }
  for (auto& [topic, offsets] : found) {
    if (out.contains(topic)) continue;
    if (std::find(offsets.begin(), offsets.end(), -1) != offsets.end()) {
      out[topic] =
          std::unexpected("ListOffsets for " + topic + " left a partition without an offset");
    } else {
      out[topic] = std::move(offsets);
    }
  }
  co_return out;
}

asio::awaitable<topic_offsets> list_offsets(kafka::cluster& cluster, const std::string& topic,
                                            int64_t timestamp, int8_t isolation) {
  const std::vector<std::string> topics{topic};
  auto all = co_await list_offsets(cluster, topics, timestamp, isolation);
  co_return std::move(all.at(topic));
}

}  // namespace klink::linker
