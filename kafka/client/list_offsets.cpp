#include "kafka/client/list_offsets.h"

#include <algorithm>

#include "kafka/messages/list_offsets.h"

namespace klink::kafka::client {

namespace {
using api = msg::list_offsets_api;
using request_topic = msg::list_offsets_request::list_offsets_topic;
using request_partition = request_topic::list_offsets_partition;

// One request per leader, each listing the partitions it leads. Topics that
// cannot be asked (not in the metadata, a partition without a leader) get
// their error in `out` instead; the others get a slot per partition in `found`.
std::map<int32_t, msg::list_offsets_request> plan_requests(
    const cluster& c, const std::vector<std::string>& topics, int64_t timestamp, isolation level,
    std::map<std::string, topic_offsets>& out, std::map<std::string, std::vector<int64_t>>& found) {
  std::map<int32_t, msg::list_offsets_request> by_leader;
  for (const auto& topic : topics) {
    const auto* meta = c.topic(topic);
    if (meta == nullptr || meta->error != 0) {
      out[topic] = std::unexpected(error(errc::not_in_metadata, api::name).on(c.role()).at(topic));
      continue;
    }
    const auto leaderless =
        std::ranges::find_if(meta->partitions, [](const auto& p) { return p.leader < 0; });
    if (leaderless != meta->partitions.end()) {
      out[topic] = std::unexpected(
          error(errc::no_leader, api::name).on(c.role()).at(topic, leaderless->partition));
      continue;
    }
    found[topic].assign(meta->partitions.size(), -1);
    for (const auto& p : meta->partitions) {
      auto& request = by_leader[p.leader];
      request.replica_id = -1;
      request.isolation_level = static_cast<int8_t>(level);
      if (request.topics.empty() || request.topics.back().name != topic) {
        request_topic t;
        t.name = topic;
        request.topics.push_back(std::move(t));
      }
      request_partition rp;
      rp.partition_index = p.partition;
      // The leader refuses an answer from a stale view (FENCED_LEADER_EPOCH)
      // instead of giving an offset of a log that is being truncated.
      rp.current_leader_epoch = p.leader_epoch;
      rp.timestamp = timestamp;
      request.topics.back().partitions.push_back(rp);
    }
  }
  return by_leader;
}

}  // namespace

asio::awaitable<std::map<std::string, topic_offsets>> list_offsets(
    cluster& c, const std::vector<std::string>& topics, int64_t timestamp, isolation level) {
  std::map<std::string, topic_offsets> out;
  std::map<std::string, std::vector<int64_t>> found;
  const auto by_leader = plan_requests(c, topics, timestamp, level, out, found);
  for (const auto& [leader, request] : by_leader) {
    auto reply = co_await send<api>(c, target::broker(leader), request);
    if (!reply) {
      for (const auto& t : request.topics)
        out[t.name] = std::unexpected(error(reply.error()).at(t.name));
      continue;
    }
    for (const auto& t : reply->body.topics) {
      auto it = found.find(t.name);
      if (it == found.end()) continue;
      for (const auto& p : t.partitions) {
        if (p.error_code != 0) {
          out[t.name] =
              std::unexpected(answer_error<api>(c, p.error_code).at(t.name, p.partition_index));
        } else if (p.partition_index >= 0 &&
                   static_cast<std::size_t>(p.partition_index) < it->second.size()) {
          it->second[static_cast<std::size_t>(p.partition_index)] = p.offset;
        }
      }
    }
  }
  for (auto& [topic, offsets] : found) {
    if (out.contains(topic)) continue;
    if (std::ranges::find(offsets, -1) != offsets.end()) {
      out[topic] = std::unexpected(
          error(errc::empty_response, api::name, "the answer left a partition without an offset")
              .on(c.role())
              .at(topic));
    } else {
      out[topic] = std::move(offsets);
    }
  }
  co_return out;
}

asio::awaitable<topic_offsets> list_offsets(cluster& c, const std::string& topic, int64_t timestamp,
                                            isolation level) {
  const std::vector<std::string> topics{topic};
  auto all = co_await list_offsets(c, topics, timestamp, level);
  co_return std::move(all.at(topic));
}

}  // namespace klink::kafka::client
