#include "mirror/mirror_engine.h"

#include <algorithm>
#include <limits>

#include "kafka/error_code.h"
#include "kafka/sleep.h"
#include "log/log.h"

namespace klink::mirror {

namespace {
using clock = std::chrono::steady_clock;

// Why a partition stopped, for its log line: the error without where it
// happened (the line names the partition in fields of its own), so it reads
// "destination refused the batch from source offset 15: MESSAGE_TOO_LARGE".
std::string reason_text(klink::error e) {
  e.call = {};
  e.cluster.clear();
  e.topic.clear();
  e.partition = -1;
  return e.message();
}
}  // namespace

mirror_engine::mirror_engine(asio::any_io_executor executor, kafka::cluster& source,
                             kafka::cluster& destination, mirror_options options)
    : executor_(executor),
      source_(source),
      destination_(destination),
      options_(std::move(options)),
      fetch_wakeup_(executor),
      send_wakeup_(executor) {}

mirror_engine::~mirror_engine() = default;

void mirror_engine::add_partition(const partition_start& start) {
  auto p = std::make_unique<partition_mirror>();
  p->source_topic = start.source_topic;
  p->mirror_topic = start.mirror_topic;
  p->partition = start.partition;
  p->fetch_offset = start.source_offset;
  p->next_destination_offset = start.destination_offset;
  if (start.producer) {
    p->producer_id = start.producer->id;
    p->producer_epoch = start.producer->epoch;
    p->next_sequence = start.producer->next_sequence;
  }
  if (start.failure) {
    p->state = partition_state::failed;
    p->failure = start.failure;
  }
  by_source_[{p->source_topic, p->partition}] = p.get();
  by_mirror_[{p->mirror_topic, p->partition}] = p.get();
  partitions_.push_back(std::move(p));
  wake_fetcher();
}

void mirror_engine::start() {
  asio::co_spawn(executor_, fetch_scheduler(), asio::detached);
  asio::co_spawn(executor_, send_scheduler(), asio::detached);
}

void mirror_engine::stop_fetching() {
  fetching_stopped_ = true;
  wake_fetcher();
}

asio::awaitable<bool> mirror_engine::drain(std::chrono::milliseconds deadline) {
  stop_fetching();
  const auto until = clock::now() + deadline;
  bool drained = false;
  while (clock::now() < until) {
    // In-flight fetches still deliver into the queues; wait for them too.
    drained = std::all_of(partitions_.begin(), partitions_.end(), [&](const auto& p) {
      return p->state != partition_state::active || (p->idle() && !p->fetching);
    });
    if (drained) break;
    co_await sleep_for(std::chrono::milliseconds(20));
  }
  stopped_ = true;
  wake_fetcher();
  wake_sender();
  co_return drained;
}

std::vector<partition_mirror*> mirror_engine::partitions_of(const std::string& source_topic) const {
  std::vector<partition_mirror*> out;
  for (auto it = by_source_.lower_bound({source_topic, std::numeric_limits<int32_t>::min()});
       it != by_source_.end() && it->first.first == source_topic; ++it) {
    out.push_back(it->second);
  }
  return out;
}

bool mirror_engine::set_paused(const std::string& source_topic, bool paused) {
  const auto partitions = partitions_of(source_topic);
  for (auto* p : partitions) {
    p->paused = paused;
    if (paused && p->state == partition_state::active) drop_unsent(*p);
  }
  wake_fetcher();
  return !partitions.empty();
}

asio::awaitable<bool> mirror_engine::settle_paused(const std::string& source_topic,
                                                   std::chrono::milliseconds deadline) {
  const auto until = clock::now() + deadline;
  auto sending = [&] {
    return std::ranges::any_of(partitions_of(source_topic), [](const partition_mirror* p) {
      return p->paused && p->state == partition_state::active && !p->in_flight.empty();
    });
  };
  while (sending() && clock::now() < until)
    co_await sleep_for(std::chrono::milliseconds(10));
  co_return !sending();
}

void mirror_engine::hold_at(const std::string& source_topic, int32_t partition,
                            int64_t source_offset) {
  if (auto* p = find_by_source(source_topic, partition)) p->stop_at = source_offset;
  wake_fetcher();
}

void mirror_engine::stop_topic(const std::string& source_topic) {
  for (auto* p : partitions_of(source_topic)) {
    if (p->state != partition_state::active) continue;
    p->stopping = true;
    drop_unsent(*p);
    finish_stopping(*p);
  }
}

asio::awaitable<bool> mirror_engine::release_partitions(
    const std::vector<std::pair<std::string, int32_t>>& which, std::chrono::milliseconds deadline) {
  std::vector<partition_mirror*> releasing;
  for (const auto& [topic, partition] : which) {
    auto* p = find_by_source(topic, partition);
    if (p == nullptr || p->state != partition_state::active) continue;
    p->stopping = true;
    p->handing_over = true;
    drop_unsent(*p);
    finish_stopping(*p);
    releasing.push_back(p);
  }
  const auto until = clock::now() + deadline;
  auto busy = [](const partition_mirror* p) {
    return p->state == partition_state::active || p->fetching;
  };
  while (std::ranges::any_of(releasing, busy) && clock::now() < until)
    co_await sleep_for(std::chrono::milliseconds(10));
  bool drained = true;
  for (auto* p : releasing) {
    if (p->state != partition_state::active) continue;
    drained = false;
    fail_partition(
        *p, partition_state::stopped,
        klink::error(klink::errc::stopping, "hand-over", "handed over with batches in flight")
            .at(p->source_topic, p->partition));
  }
  co_return drained;
}

void mirror_engine::remove_partitions(const std::vector<std::pair<std::string, int32_t>>& which) {
  for (const auto& key : which) {
    auto it = by_source_.find(key);
    if (it == by_source_.end()) continue;
    partition_mirror* p = it->second;
    by_source_.erase(it);
    by_mirror_.erase({p->mirror_topic, p->partition});
    auto owned = std::find_if(partitions_.begin(), partitions_.end(),
                              [&](const auto& q) { return q.get() == p; });
    retired_.push_back(std::move(*owned));
    partitions_.erase(owned);
  }
}

void mirror_engine::force_stop(const std::string& source_topic) {
  for (auto* p : partitions_of(source_topic)) {
    if (p->state != partition_state::active) continue;
    p->stopping = true;
    fail_partition(*p, partition_state::stopped,
                   klink::error(klink::errc::stopping, "stop", "stopped with batches in flight")
                       .at(p->source_topic, p->partition));
  }
}

void mirror_engine::drop_unsent(partition_mirror& p) {
  if (p.ready.empty()) return;
  // Fetched again by whoever copies the partition next; until then the
  // partition has copied only up to the first of them.
  const int64_t first_unsent = p.ready.front().source_base_offset;
  std::size_t bytes = 0;
  for (const auto& b : p.ready)
    bytes += b.bytes.size();
  p.ready.clear();
  p.fetch_offset = first_unsent;
  release(p, bytes);
}

void mirror_engine::finish_stopping(partition_mirror& p) {
  if (!p.stopping || p.state != partition_state::active || !p.idle()) return;
  p.state = partition_state::stopped;
  if (p.handing_over) {
    log::info("mirror partition handed over: everything sent was acknowledged",
              {{"link", options_.link_name},
               {"topic", p.source_topic},
               {"partition", p.partition},
               {"mirrored_source_offset", p.mirrored_source_offset()},
               {"destination_end_offset", p.next_destination_offset}});
    return;
  }
  log::info("mirror partition stopped for good",
            {{"link", options_.link_name},
             {"topic", p.source_topic},
             {"partition", p.partition},
             {"mirror_topic", p.mirror_topic},
             {"mirrored_source_offset", p.mirrored_source_offset()},
             {"destination_end_offset", p.next_destination_offset}});
}

void mirror_engine::wake_fetcher() {
  fetch_wakeup_.cancel();
}
void mirror_engine::wake_sender() {
  send_wakeup_.cancel();
}

partition_mirror* mirror_engine::find_by_mirror(const std::string& topic, int32_t partition) {
  auto it = by_mirror_.find({topic, partition});
  return it == by_mirror_.end() ? nullptr : it->second;
}

partition_mirror* mirror_engine::find_by_source(const std::string& topic, int32_t partition) {
  auto it = by_source_.find({topic, partition});
  return it == by_source_.end() ? nullptr : it->second;
}

std::chrono::milliseconds mirror_engine::backoff_for(int failures) const {
  auto delay = options_.retry_backoff;
  for (int i = 1; i < failures && delay < options_.retry_backoff_max; ++i)
    delay *= 2;
  return std::min(delay, options_.retry_backoff_max);
}

std::shared_ptr<kafka::byte_vector> mirror_engine::hold(
    std::shared_ptr<kafka::byte_vector> buffer) {
  const std::size_t size = buffer->capacity();
  *held_bytes_ += size;
  kafka::byte_vector* raw = buffer.get();
  // Same bytes, second owner count: when the last batch referencing the
  // buffer is gone, the budget gets the bytes back and fetching may resume.
  return std::shared_ptr<kafka::byte_vector>(
      raw, [owner = std::move(buffer), held = held_bytes_, size](kafka::byte_vector*) mutable {
        *held -= size;
        owner.reset();
      });
}

void mirror_engine::release(partition_mirror& p, std::size_t bytes) {
  p.buffered_bytes -= std::min(p.buffered_bytes, bytes);
  buffered_bytes_ -= std::min(buffered_bytes_, bytes);
  wake_fetcher();
}

void mirror_engine::fail_partition(partition_mirror& p, partition_state state, klink::error why) {
  if (p.state != partition_state::active) return;
  p.state = state;
  p.failure = std::move(why);
  log::error("mirror partition stopped", {{"link", options_.link_name},
                                          {"topic", p.source_topic},
                                          {"partition", p.partition},
                                          {"mirror_topic", p.mirror_topic},
                                          {"state", to_string(state)},
                                          {"reason", reason_text(*p.failure)},
                                          {"mirrored_source_offset", p.mirrored_source_offset()}});
  // Nothing more is sent for it; queued bytes are given back to the budget.
  // The fetch position goes back to the first batch not acknowledged, so
  // that mirrored_source_offset() (what checkpoints record) never claims
  // dropped batches as copied.
  const int64_t first_unacknowledged = p.mirrored_source_offset();
  std::size_t bytes = 0;
  for (const auto& b : p.ready)
    bytes += b.bytes.size();
  for (const auto& b : p.in_flight)
    bytes += b.batch.bytes.size();
  p.ready.clear();
  p.in_flight.clear();
  p.unanswered = 0;
  p.fetch_offset = first_unacknowledged;
  release(p, bytes);
  if (on_stopped_ && state != partition_state::stopped) on_stopped_(p);
}

void mirror_engine::count_error(const klink::error& e) {
  // The key's views must point at static names: the roles here, `e.call`
  // (static by klink::error's contract) and kafka::error_name.
  const std::string_view cluster = e.cluster == source_role ? source_role : destination_role;
  const std::string_view name =
      e.code.category() == kafka::kafka_category()
          ? kafka::error_name(static_cast<kafka::error_code>(e.code.value()))
          : kafka::error_name(kafka::error_code::network_exception);
  ++stats_.kafka_errors[{cluster, e.call, name}];
}

void mirror_engine::request_metadata_refresh(kafka::cluster& cluster) {
  const bool is_source = &cluster == &source_;
  bool& running = is_source ? source_refresh_running_ : destination_refresh_running_;
  if (running || stopped_) return;
  running = true;
  asio::co_spawn(executor_, refresh_metadata(cluster), asio::detached);
}

asio::awaitable<void> mirror_engine::refresh_metadata(kafka::cluster& cluster) {
  const bool is_source = &cluster == &source_;
  auto& not_before = is_source ? source_refresh_after_ : destination_refresh_after_;
  if (clock::now() < not_before) co_await sleep_for(not_before - clock::now());
  std::vector<std::string> topics;
  for (const auto& p : partitions_) {
    const auto& name = is_source ? p->source_topic : p->mirror_topic;
    if (topics.empty() || topics.back() != name) topics.push_back(name);
  }
  std::sort(topics.begin(), topics.end());
  topics.erase(std::unique(topics.begin(), topics.end()), topics.end());
  auto result = co_await cluster.refresh_metadata(topics);
  if (!result) {
    log::debug("metadata refresh failed", {{"link", options_.link_name},
                                           {"cluster", cluster.role()},
                                           {"error", result.error().message()}});
  }
  // At most a few refreshes a second, whatever the error rate.
  not_before =
      clock::now() + (result ? std::chrono::milliseconds(200) : options_.retry_backoff * 5);
  (is_source ? source_refresh_running_ : destination_refresh_running_) = false;
  wake_fetcher();
  wake_sender();
}

}  // namespace klink::mirror
