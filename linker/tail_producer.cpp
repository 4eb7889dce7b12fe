#include "linker/tail_producer.h"

#include "kafka/error_code.h"
#include "kafka/record_batch.h"
#include "linker/partition_fetch.h"

namespace klink::linker {

namespace {
constexpr int8_t read_uncommitted = 0;
}  // namespace

asio::awaitable<std::expected<std::optional<mirror::producer_identity>, std::string>>
last_batch_producer(kafka::cluster& destination, const std::string& mirror_topic, int32_t partition,
                    int64_t end_offset) {
  using result = std::optional<mirror::producer_identity>;
  if (end_offset <= 0) co_return result{};
  const int64_t last = end_offset - 1;
  int32_t max_bytes = 1 << 20;
  for (;;) {
    auto reply = co_await fetch_partition_now(destination, mirror_topic, partition, last, max_bytes,
                                              read_uncommitted);
    if (!reply) co_return std::unexpected(reply.error());
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
