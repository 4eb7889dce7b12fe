#include "linker/tail_producer.h"

#include "kafka/client/partition_io.h"
#include "kafka/record_batch.h"

namespace klink::linker {

namespace client = kafka::client;

asio::awaitable<result<std::optional<mirror::producer_identity>>> last_batch_producer(
    kafka::cluster& destination, const std::string& mirror_topic, int32_t partition,
    int64_t end_offset) {
  using found = std::optional<mirror::producer_identity>;
  if (end_offset <= 0) co_return found{};
  const int64_t last = end_offset - 1;
  int32_t max_bytes = 1 << 20;
  for (;;) {
    auto fetched = co_await client::fetch_partition(destination, mirror_topic, partition, last,
                                                    max_bytes, client::isolation::read_uncommitted);
    if (!fetched)
      co_return std::unexpected(
          std::move(fetched.error()).within("fetch of the mirror partition's last batch"));
    // Retention removed everything: no producer state to continue.
    if (fetched->out_of_range || fetched->records.empty()) co_return found{};
    kafka::batch_reader reader(
        std::span<std::byte>(fetched->records.data(), fetched->records.size()));
    for (;;) {
      auto batch = reader.next();
      if (!batch)
        co_return std::unexpected(
            error(errc::corrupt_data, "Fetch", "unreadable batch at the mirror partition's end")
                .on("destination")
                .at(mirror_topic, partition));
      if (!*batch) break;
      const auto& b = **batch;
      if (b.base_offset() > last || b.last_offset() < last) continue;
      if (b.producer_id() < 0 || b.base_sequence() < 0) co_return found{};
      const auto next = (static_cast<int64_t>(b.base_sequence()) + b.last_offset_delta() + 1) %
                        (int64_t{1} << 31);
      co_return found{mirror::producer_identity{b.producer_id(), b.producer_epoch(),
                                                static_cast<int32_t>(next)}};
    }
    // The batch was cut off by max_bytes: ask for more.
    if (max_bytes >= (256 << 20))
      co_return std::unexpected(
          error(errc::too_large, "Fetch", "the mirror partition's last batch is too large to read")
              .on("destination")
              .at(mirror_topic, partition));
    max_bytes *= 2;
  }
}

}  // namespace klink::linker
