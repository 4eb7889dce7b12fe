#include "offsets/checkpoint_store.h"

#include <chrono>

#include "kafka/error_code.h"
#include "kafka/messages/create_topics.h"
#include "kafka/messages/fetch.h"
#include "kafka/messages/produce.h"
#include "kafka/record_batch.h"
#include "kafka/records.h"
#include "kafka/sleep.h"

namespace klink::offsets {

namespace {
using asio::use_awaitable;

std::string code_text(int16_t code) {
  return std::string(kafka::error_name(kafka::to_error_code(code)));
}

std::string as_string(std::optional<kafka::bytes_view> bytes) {
  if (!bytes) return {};
  return std::string(reinterpret_cast<const char*>(bytes->data()), bytes->size());
}

constexpr std::pair<const char*, const char*> checkpoint_topic_configs[] = {
    {"cleanup.policy", "compact"},
    {"min.compaction.lag.ms", "0"},
};

}  // namespace

std::string checkpoint_key(std::string_view link, std::string_view topic, int32_t partition) {
  // Link names and topic names cannot contain '/', so the key is unambiguous.
  return std::string(link) + "/" + std::string(topic) + "/" + std::to_string(partition);
}

checkpoint_store::checkpoint_store(kafka::cluster& destination, int16_t replication_factor,
                                   std::string_view topic)
    : destination_(destination), replication_factor_(replication_factor), topic_(topic) {}

const std::string* checkpoint_store::find(const std::string& key) const {
  auto it = loaded_.find(key);
  return it == loaded_.end() ? nullptr : &it->second;
}

asio::awaitable<std::expected<void, std::string>> checkpoint_store::ensure_topic() {
  const std::vector<std::string> topics{topic_};
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto refreshed = co_await destination_.refresh_metadata(topics);
    if (!refreshed) co_return std::unexpected(refreshed.error().message());
    const auto* meta = destination_.topic(topic_);
    if (meta && meta->error == 0 && !meta->partitions.empty() && meta->partitions[0].leader >= 0) {
      co_return std::expected<void, std::string>{};
    }
    if (attempt == 0 &&
        (meta == nullptr ||
         meta->error == static_cast<int16_t>(kafka::error_code::unknown_topic_or_partition))) {
      using api = kafka::msg::create_topics_api;
      using creatable = decltype(kafka::msg::create_topics_request::topics)::value_type;
      using creatable_config = decltype(creatable::configs)::value_type;
      kafka::msg::create_topics_request request;
      creatable t;
      t.name = topic_;
      t.num_partitions = 1;
      t.replication_factor = replication_factor_;
      for (const auto& [name, value] : checkpoint_topic_configs) {
        creatable_config c;
        c.name = name;
        c.value = value;
        t.configs.push_back(std::move(c));
      }
      request.topics.push_back(std::move(t));
      request.timeout_ms = 30000;
      auto reply = co_await destination_.send_any<api>(request);
      if (!reply) co_return std::unexpected("CreateTopics failed: " + reply.error().message());
      for (const auto& r : reply->body.topics) {
        if (r.error_code != 0 &&
            r.error_code != static_cast<int16_t>(kafka::error_code::topic_already_exists)) {
          co_return std::unexpected("cannot create " + topic_ + ": " + code_text(r.error_code) +
                                    " " + r.error_message.value_or(""));
        }
      }
    }
    co_await sleep_for(std::chrono::milliseconds(100));
  }
  co_return std::unexpected(topic_ + " has no leader");
}

asio::awaitable<std::expected<void, std::string>> checkpoint_store::load() {
  if (auto ready = co_await ensure_topic(); !ready) co_return ready;
  co_return co_await read_all();
}

asio::awaitable<std::expected<void, std::string>> checkpoint_store::load_if_present() {
  const std::vector<std::string> topics{topic_};
  auto refreshed = co_await destination_.refresh_metadata(topics);
  if (!refreshed) co_return std::unexpected(refreshed.error().message());
  const auto* meta = destination_.topic(topic_);
  if (meta == nullptr ||
      meta->error == static_cast<int16_t>(kafka::error_code::unknown_topic_or_partition)) {
    loaded_.clear();
    co_return std::expected<void, std::string>{};
  }
  co_return co_await read_all();
}

asio::awaitable<std::expected<void, std::string>> checkpoint_store::read_all() {
  using api = kafka::msg::fetch_api;
  using fetch_topic = decltype(kafka::msg::fetch_request::topics)::value_type;
  using fetch_partition = decltype(fetch_topic::partitions)::value_type;
  // Read into a copy and swap at the end: a reader meanwhile (or a second
  // load running at the same time) never sees half a topic.
  std::map<std::string, std::string> read;
  int64_t offset = 0;
  int32_t max_bytes = 1 << 20;
  while (true) {
    const auto* meta = destination_.topic(topic_);
    if (meta == nullptr || meta->partitions.empty() || meta->partitions[0].leader < 0) {
      co_return std::unexpected(topic_ + " has no leader");
    }
    kafka::msg::fetch_request request;
    request.max_wait_ms = 0;
    request.min_bytes = 0;
    request.max_bytes = max_bytes;
    request.isolation_level = 0;
    fetch_topic t;
    t.topic = topic_;
    t.topic_id = meta->topic_id;
    fetch_partition p;
    p.partition = 0;
    p.fetch_offset = offset;
    p.partition_max_bytes = max_bytes;
    t.partitions.push_back(p);
    request.topics.push_back(std::move(t));
    auto reply = co_await destination_.send_to<api>(meta->partitions[0].leader, request);
    if (!reply) co_return std::unexpected("reading checkpoints: " + reply.error().message());
    if (reply->body.responses.empty() || reply->body.responses[0].partitions.empty()) {
      co_return std::unexpected("reading checkpoints: empty Fetch response");
    }
    auto& pd = reply->body.responses[0].partitions[0];
    if (pd.error_code == static_cast<int16_t>(kafka::error_code::offset_out_of_range) &&
        pd.log_start_offset > offset) {
      offset = pd.log_start_offset;
      continue;
    }
    if (pd.error_code != 0)
      co_return std::unexpected("reading checkpoints: " + code_text(pd.error_code));
    if (offset >= pd.high_watermark) break;
    if (!pd.records || pd.records->empty()) {
      co_return std::unexpected("reading checkpoints: no records below the high watermark");
    }
    auto* begin = const_cast<std::byte*>(pd.records->data());
    kafka::batch_reader reader(std::span<std::byte>(begin, pd.records->size()));
    const int64_t before = offset;
    while (true) {
      auto next = reader.next();
      if (!next) co_return std::unexpected("corrupt checkpoint batch: " + next.error().message);
      if (!*next) break;
      const auto& batch = **next;
      if (batch.last_offset() < offset) continue;
      if (!batch.crc_valid()) co_return std::unexpected("checkpoint batch fails its CRC");
      auto records = kafka::decode_records(batch);
      if (!records)
        co_return std::unexpected("corrupt checkpoint records: " + records.error().message);
      for (const auto& r : records->records) {
        if (batch.base_offset() + r.offset_delta < offset || !r.key) continue;
        if (r.value) {
          read[as_string(r.key)] = as_string(r.value);
        } else {
          read.erase(as_string(r.key));
        }
      }
      offset = batch.last_offset() + 1;
    }
    // A batch larger than the limit came back cut off: ask for more.
    if (offset == before) max_bytes *= 2;
    if (max_bytes > (256 << 20)) co_return std::unexpected("checkpoint batch too large");
  }
  loaded_ = std::move(read);
  co_return std::expected<void, std::string>{};
}

asio::awaitable<std::expected<void, std::string>> checkpoint_store::write(
    const std::vector<std::pair<std::string, std::string>>& entries) {
  if (entries.empty()) co_return std::expected<void, std::string>{};
  std::vector<kafka::record_to_write> records;
  records.reserve(entries.size());
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  for (const auto& [key, value] : entries) {
    kafka::record_to_write r;
    r.timestamp = now;
    r.key = kafka::as_bytes_view(key.data(), key.size());
    r.value = kafka::as_bytes_view(value.data(), value.size());
    records.push_back(r);
  }
  auto batch = kafka::build_batch(kafka::compression_codec::lz4, now, records);
  if (!batch) co_return std::unexpected("cannot build checkpoint batch: " + batch.error().message);
  auto owner = std::make_shared<kafka::byte_vector>(std::move(*batch));

  const auto* meta = destination_.topic(topic_);
  if (meta == nullptr || meta->partitions.empty() || meta->partitions[0].leader < 0) {
    if (auto ready = co_await ensure_topic(); !ready) co_return ready;
    meta = destination_.topic(topic_);
  }
  using api = kafka::msg::produce_api;
  using topic_data = decltype(kafka::msg::produce_request::topic_data)::value_type;
  using partition_data = decltype(topic_data::partition_data)::value_type;
  kafka::msg::produce_request request;
  request.acks = -1;
  request.timeout_ms = 30000;
  topic_data t;
  t.name = topic_;
  t.topic_id = meta->topic_id;
  partition_data pd;
  pd.index = 0;
  pd.records = kafka::bytes_view(owner->data(), owner->size());
  t.partition_data.push_back(std::move(pd));
  request.topic_data.push_back(std::move(t));
  auto reply = co_await destination_.send_to<api>(meta->partitions[0].leader, request, owner);
  if (!reply) {
    destination_.invalidate_leader(topic_, 0);
    co_return std::unexpected("writing checkpoints: " + reply.error().message());
  }
  for (const auto& tr : reply->body.responses) {
    for (const auto& pr : tr.partition_responses) {
      if (pr.error_code != 0) {
        destination_.invalidate_leader(topic_, 0);
        co_return std::unexpected("writing checkpoints: " + code_text(pr.error_code) + " " +
                                  pr.error_message.value_or(""));
      }
    }
  }
  co_return std::expected<void, std::string>{};
}

}  // namespace klink::offsets
