#include "offsets/checkpoint_store.h"

#include <chrono>

#include "kafka/client/partition_io.h"
#include "kafka/client/topics.h"
#include "kafka/error_code.h"
#include "kafka/record_batch.h"
#include "kafka/records.h"
#include "kafka/sleep.h"
#include "log/log.h"

namespace klink::offsets {

namespace {

// What failed, in errors that are about klink's state rather than one request.
constexpr std::string_view read_call = "reading checkpoints";
constexpr std::string_view write_call = "writing checkpoints";
// Reads start at this many bytes and double while one batch does not fit.
constexpr int32_t first_read_bytes = 1 << 20;
constexpr int32_t max_read_bytes = 256 << 20;

std::string as_string(std::optional<kafka::bytes_view> bytes) {
  if (!bytes) return {};
  return std::string(reinterpret_cast<const char*>(bytes->data()), bytes->size());
}

const std::map<std::string, std::string> checkpoint_topic_configs = {
    {"cleanup.policy", "compact"},
    {"min.compaction.lag.ms", "0"},
};

bool has_leader(const kafka::topic_metadata* meta) {
  return meta && meta->error == 0 && !meta->partitions.empty() && meta->partitions[0].leader >= 0;
}

bool is_missing(const kafka::topic_metadata* meta) {
  return meta == nullptr ||
         kafka::to_error_code(meta->error) == kafka::error_code::unknown_topic_or_partition;
}

// What read_all gathers: each key's newest value and the offset it sat at.
struct read_entries {
  std::map<std::string, std::string> values;
  std::map<std::string, int64_t> offsets;
};

// Applies the records of every whole batch in `records` at or after `offset`
// to `read` (a null value deletes its key, as compaction will) and returns
// the offset after the last batch read. A record without a key belongs to no
// entry: it is logged, not applied.
result<int64_t> apply_batches(std::string_view topic, kafka::mutable_bytes_view records,
                              int64_t offset, read_entries& read) {
  kafka::batch_reader reader(records);
  while (true) {
    auto next = reader.next();
    if (!next)
      return std::unexpected(error(errc::corrupt_data, read_call,
                                   "corrupt checkpoint batch: " + next.error().message));
    if (!*next) return offset;
    const auto& batch = **next;
    if (batch.last_offset() < offset) continue;
    if (!batch.crc_valid())
      return std::unexpected(
          error(errc::corrupt_data, read_call, "checkpoint batch fails its CRC"));
    auto decoded = kafka::decode_records(batch);
    if (!decoded)
      return std::unexpected(error(errc::corrupt_data, read_call,
                                   "corrupt checkpoint records: " + decoded.error().message));
    for (const auto& r : decoded->records) {
      const int64_t at = batch.base_offset() + r.offset_delta;
      if (at < offset) continue;
      if (!r.key) {
        log::warn("record without a key in klink's state topic; it names no entry and is ignored",
                  {{"state_topic", topic}, {"partition", 0}, {"offset", at}});
        continue;
      }
      const std::string key = as_string(r.key);
      if (r.value) {
        read.values[key] = as_string(r.value);
        read.offsets[key] = at;
      } else {
        read.values.erase(key);
        read.offsets.erase(key);
      }
    }
    offset = batch.last_offset() + 1;
  }
}

}  // namespace

std::string checkpoint_key(std::string_view link, std::string_view topic, int32_t partition) {
  // Link names and topic names cannot contain '/', so the key is unambiguous.
  return std::string(link) + "/" + std::string(topic) + "/" + std::to_string(partition);
}

checkpoint_store::checkpoint_store(kafka::cluster& destination, int16_t replication_factor,
                                   std::string_view topic)
    : destination_(destination), replication_factor_(replication_factor), topic_(topic) {}

std::string checkpoint_store::location_of(const std::string& key) const {
  auto it = offsets_.find(key);
  if (it == offsets_.end()) return topic_;
  return topic_ + " partition 0 offset " + std::to_string(it->second);
}

const std::string* checkpoint_store::find(const std::string& key) const {
  auto it = loaded_.find(key);
  return it == loaded_.end() ? nullptr : &it->second;
}

asio::awaitable<result<void>> checkpoint_store::ensure_topic() {
  const std::vector<std::string> topics{topic_};
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto refreshed = co_await destination_.refresh_metadata(topics);
    if (!refreshed) co_return std::unexpected(std::move(refreshed.error()));
    const auto* meta = destination_.topic(topic_);
    if (has_leader(meta)) co_return ok();
    if (attempt == 0 && is_missing(meta)) {
      const kafka::client::new_topic wanted{topic_, 1, replication_factor_,
                                            checkpoint_topic_configs};
      auto created = co_await kafka::client::create_topic(destination_, wanted);
      if (!created) co_return std::unexpected(std::move(created.error()));
    }
    co_await sleep_for(std::chrono::milliseconds(100));
  }
  co_return std::unexpected(
      error(errc::no_leader, "Metadata", "no leader yet").on(destination_.role()).at(topic_, 0));
}

asio::awaitable<result<void>> checkpoint_store::load(bool create) {
  if (create) {
    if (auto ready = co_await ensure_topic(); !ready) co_return ready;
    co_return co_await read_all();
  }
  const std::vector<std::string> topics{topic_};
  auto refreshed = co_await destination_.refresh_metadata(topics);
  if (!refreshed) co_return std::unexpected(std::move(refreshed.error()));
  if (is_missing(destination_.topic(topic_))) {
    loaded_.clear();
    co_return ok();
  }
  co_return co_await read_all();
}

asio::awaitable<result<void>> checkpoint_store::read_all() {
  // Read into a copy and swap at the end: a reader meanwhile (or a second
  // load running at the same time) never sees half a topic.
  read_entries read;
  int64_t offset = 0;
  int32_t max_bytes = first_read_bytes;
  auto failed = [&](error e) { return std::unexpected(std::move(e.within(read_call))); };
  while (true) {
    auto fetched = co_await kafka::client::fetch_partition(
        destination_, topic_, 0, offset, max_bytes, kafka::client::isolation::read_uncommitted);
    if (!fetched) co_return failed(std::move(fetched.error()));
    if (fetched->out_of_range) {
      // Compaction or retention removed the start: read from where the log begins now.
      if (fetched->log_start_offset > offset) {
        offset = fetched->log_start_offset;
        continue;
      }
      co_return failed(error(kafka::error_code::offset_out_of_range, "Fetch")
                           .on(destination_.role())
                           .at(topic_, 0));
    }
    if (offset >= fetched->high_watermark) break;
    if (fetched->records.empty()) {
      co_return std::unexpected(
          error(errc::empty_response, read_call, "no records below the high watermark")
              .on(destination_.role())
              .at(topic_, 0));
    }
    auto next = apply_batches(topic_, fetched->records, offset, read);
    if (!next)
      co_return std::unexpected(std::move(next.error()).on(destination_.role()).at(topic_, 0));
    // A batch larger than the limit came back cut off: ask for more.
    if (*next == offset) max_bytes *= 2;
    offset = *next;
    if (max_bytes > max_read_bytes)
      co_return std::unexpected(error(errc::too_large, read_call, "checkpoint batch too large")
                                    .on(destination_.role())
                                    .at(topic_, 0));
  }
  loaded_ = std::move(read.values);
  offsets_ = std::move(read.offsets);
  co_return ok();
}

asio::awaitable<result<void>> checkpoint_store::write(
    const std::vector<std::pair<std::string, std::string>>& entries) {
  if (entries.empty()) co_return ok();
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
  if (!batch) {
    co_return std::unexpected(error(errc::invalid_argument, write_call,
                                    "cannot build checkpoint batch: " + batch.error().message));
  }
  auto owner = std::make_shared<const kafka::byte_vector>(std::move(*batch));
  if (!destination_.leader_of(topic_, 0)) {
    if (auto ready = co_await ensure_topic(); !ready)
      co_return std::unexpected(std::move(ready.error()).within(write_call));
  }
  // produce_batch forgets the leader when it fails: the next write asks again.
  auto written = co_await kafka::client::produce_batch(destination_, topic_, 0, owner);
  if (!written) co_return std::unexpected(std::move(written.error()).within(write_call));
  int64_t at = *written;  // the batch's base offset: one record per entry, in order
  for (const auto& [key, value] : entries) {
    loaded_[key] = value;
    offsets_[key] = at++;
  }
  co_return ok();
}

}  // namespace klink::offsets
