#include "kafka/client/partition_io.h"

#include "kafka/messages/fetch.h"
#include "kafka/messages/produce.h"

namespace klink::kafka::client {

namespace {

// Fetch and Produce name topics by id from v13 on. A cluster that gave no id
// (an older broker) is asked in v12 at most, by name.
constexpr int16_t last_version_by_name = 12;
// How long the leader may wait for the other replicas to acknowledge (acks=all).
constexpr int32_t produce_timeout_ms = 30000;

int16_t max_version_for(const topic_metadata& meta, int16_t generated_max) {
  return meta.topic_id.is_zero() ? last_version_by_name : generated_max;
}

// The partition's metadata and leader, or why there is none.
template <class Api>
result<std::pair<const topic_metadata*, int32_t>> leader_for(const cluster& c,
                                                             const std::string& topic,
                                                             int32_t partition) {
  const auto* meta = c.topic(topic);
  if (meta == nullptr)
    return std::unexpected(
        error(errc::not_in_metadata, Api::name).on(c.role()).at(topic, partition));
  const auto leader = c.leader_of(topic, partition);
  if (!leader)
    return std::unexpected(error(errc::no_leader, Api::name).on(c.role()).at(topic, partition));
  return std::pair{meta, *leader};
}

fetched_partition read_partition(
    std::shared_ptr<byte_vector> buffer,
    const msg::fetch_response::fetchable_topic_response::partition_data& pd) {
  fetched_partition out;
  out.buffer = std::move(buffer);
  out.high_watermark = pd.high_watermark;
  out.last_stable_offset = pd.last_stable_offset;
  out.log_start_offset = pd.log_start_offset;
  if (to_error_code(pd.error_code) == error_code::offset_out_of_range) {
    out.out_of_range = true;
    return out;
  }
  // The records point into `buffer`, which the caller now owns: it may
  // rewrite batch headers in place.
  if (pd.records && !pd.records->empty())
    out.records =
        mutable_bytes_view(const_cast<std::byte*>(pd.records->data()), pd.records->size());
  if (pd.aborted_transactions) {
    for (const auto& a : *pd.aborted_transactions)
      out.aborted.push_back(aborted_transaction{a.producer_id, a.first_offset});
  }
  return out;
}

}  // namespace

asio::awaitable<result<fetched_partition>> fetch_partition(cluster& c, const std::string& topic,
                                                           int32_t partition, int64_t offset,
                                                           int32_t max_bytes, isolation level) {
  using api = msg::fetch_api;
  auto where = leader_for<api>(c, topic, partition);
  if (!where) co_return std::unexpected(std::move(where.error()));
  const auto [meta, leader] = *where;
  msg::fetch_request request;
  request.max_wait_ms = 0;
  request.min_bytes = 0;
  request.max_bytes = max_bytes;
  request.isolation_level = static_cast<int8_t>(level);
  msg::fetch_request::fetch_topic t;
  t.topic = topic;
  t.topic_id = meta->topic_id;
  msg::fetch_request::fetch_topic::fetch_partition p;
  p.partition = partition;
  p.fetch_offset = offset;
  // Without it the partition's share of max_bytes is 0: the leader answers
  // with no records at all.
  p.partition_max_bytes = max_bytes;
  t.partitions.push_back(p);
  request.topics.push_back(std::move(t));
  auto reply = co_await send<api>(c, target::broker(leader), api::request::min_version,
                                  max_version_for(*meta, api::request::max_version),
                                  [&](int16_t) { return request; });
  if (!reply) co_return std::unexpected(std::move(reply.error()).at(topic, partition));
  const auto& body = reply->body;
  if (body.error_code != 0)
    co_return std::unexpected(answer_error<api>(c, body.error_code).at(topic, partition));
  if (body.responses.empty() || body.responses[0].partitions.empty())
    co_return std::unexpected(
        error(errc::empty_response, api::name).on(c.role()).at(topic, partition));
  const auto& pd = body.responses[0].partitions[0];
  const auto code = to_error_code(pd.error_code);
  if (code != error_code::none && code != error_code::offset_out_of_range)
    co_return std::unexpected(answer_error<api>(c, pd.error_code).at(topic, partition));
  co_return read_partition(reply->buffer, pd);
}

asio::awaitable<result<int64_t>> produce_batch(cluster& c, const std::string& topic,
                                               int32_t partition,
                                               std::shared_ptr<const byte_vector> batch) {
  using api = msg::produce_api;
  auto where = leader_for<api>(c, topic, partition);
  if (!where) co_return std::unexpected(std::move(where.error()));
  const auto [meta, leader] = *where;
  msg::produce_request request;
  request.acks = -1;
  request.timeout_ms = produce_timeout_ms;
  msg::produce_request::topic_produce_data t;
  t.name = topic;
  t.topic_id = meta->topic_id;
  msg::produce_request::topic_produce_data::partition_produce_data pd;
  pd.index = partition;
  pd.records = bytes_view(batch->data(), batch->size());
  t.partition_data.push_back(std::move(pd));
  request.topic_data.push_back(std::move(t));
  auto reply = co_await send<api>(
      c, target::broker(leader), api::request::min_version,
      max_version_for(*meta, api::request::max_version), [&](int16_t) { return request; }, batch);
  // Whatever failed, the leader may have moved: the next call asks the
  // metadata instead of the same broker again.
  auto failed = [&](error e) {
    c.invalidate_leader(topic, partition);
    return std::unexpected(std::move(e).at(topic, partition));
  };
  if (!reply) co_return failed(std::move(reply.error()));
  const auto& responses = reply->body.responses;
  if (responses.empty() || responses[0].partition_responses.empty())
    co_return failed(error(errc::empty_response, api::name).on(c.role()));
  const auto& pr = responses[0].partition_responses[0];
  if (pr.error_code != 0) co_return failed(answer_error<api>(c, pr.error_code, pr.error_message));
  co_return pr.base_offset;
}

}  // namespace klink::kafka::client
