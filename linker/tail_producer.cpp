#include "linker/tail_producer.h"

#include "kafka/error_code.h"
#include "kafka/messages/fetch.h"
#include "kafka/record_batch.h"

namespace klink::linker {

namespace {
constexpr int8_t read_uncommitted = 0;
}  // namespace

asio::awaitable<std::expected<std::optional<mirror::producer_identity>, std::string>>
last_batch_producer(kafka::cluster& destination, const std::string& mirror_topic, int32_t partition,
                    int64_t end_offset) {
  using result = std::optional<mirror::producer_identity>;
  using api = kafka::msg::fetch_api;
  using fetch_topic = decltype(kafka::msg::fetch_request::topics)::value_type;
  using fetch_partition = decltype(fetch_topic::partitions)::value_type;
  if (end_offset <= 0) co_return result{};
  const int64_t last = end_offset - 1;
  int32_t max_bytes = 1 << 20;
  for (;;) {
    const auto* meta = destination.topic(mirror_topic);
    const auto leader = destination.leader_of(mirror_topic, partition);
    if (meta == nullptr || !leader)
      co_return std::unexpected("mirror partition has no leader on the destination");
    kafka::msg::fetch_request request;
    request.max_wait_ms = 0;
    request.min_bytes = 0;
    request.max_bytes = max_bytes;
    request.isolation_level = read_uncommitted;
    fetch_topic t;
    t.topic = mirror_topic;
    t.topic_id = meta->topic_id;
    fetch_partition fp;
    fp.partition = partition;
    fp.fetch_offset = last;
    fp.partition_max_bytes = max_bytes;
    t.partitions.push_back(fp);
    request.topics.push_back(std::move(t));
    auto reply = co_await destination.send_to<api>(*leader, request);
    if (!reply) co_return std::unexpected("fetch from the destination: " + reply.error().message);
    if (reply->body.responses.empty() || reply->body.responses[0].partitions.empty())
      co_return std::unexpected("empty Fetch response from the destination");
    auto& pd = reply->body.responses[0].partitions[0];
    const auto code = kafka::to_error_code(pd.error_code);
    // Retention removed everything: no producer state to continue.
    if (code == kafka::error_code::offset_out_of_range) co_return result{};
    if (code != kafka::error_code::none) {
      co_return std::unexpected("fetch of the mirror partition's last batch: " +
                                std::string(kafka::error_name(code)));
    }
    if (!pd.records || pd.records->empty()) co_return result{};
    kafka::batch_reader reader(
        std::span<std::byte>(const_cast<std::byte*>(pd.records->data()), pd.records->size()));
    for (;;) {
      auto batch = reader.next();
      if (!batch) co_return std::unexpected("unreadable batch at the mirror partition's end");
      if (!*batch) break;
      const auto& b = **batch;
      if (b.base_offset() > last || b.last_offset() < last) continue;
      if (b.producer_id() < 0 || b.base_sequence() < 0) co_return result{};
      const auto next = (static_cast<int64_t>(b.base_sequence()) + b.last_offset_delta() + 1) %
                        (int64_t{1} << 31);
      co_return result{mirror::producer_identity{b.producer_id(), b.producer_epoch(),
                                                 static_cast<int32_t>(next)}};
    }
    // The batch was cut off by max_bytes: ask for more.
    if (max_bytes >= (256 << 20))
      co_return std::unexpected("the mirror partition's last batch is too large to read");
    max_bytes *= 2;
  }
}

}  // namespace klink::linker
