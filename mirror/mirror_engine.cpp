#include "mirror/mirror_engine.h"

#include <algorithm>

#include "kafka/error_code.h"
#include "kafka/messages/fetch.h"
#include "kafka/messages/init_producer_id.h"
#include "kafka/messages/produce.h"
#include "kafka/record_batch.h"
#include "kafka/sleep.h"
#include "log/log.h"
#include "mirror/batch_transform.h"

namespace klink::mirror {

namespace {
using asio::use_awaitable;
using clock = std::chrono::steady_clock;
using kafka::error_action;
using kafka::error_code;

// READ_COMMITTED: only committed transactional data, up to the last stable offset.
constexpr int8_t read_committed = 1;
constexpr int16_t acks_all = -1;

std::string describe(int16_t code, const std::optional<std::string>& message) {
  std::string text(kafka::error_name(kafka::to_error_code(code)));
  if (message && !message->empty()) text += ": " + *message;
  return text;
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

bool mirror_engine::set_paused(const std::string& source_topic, bool paused) {
  bool found = false;
  for (auto& p : partitions_) {
    if (p->source_topic != source_topic) continue;
    p->paused = paused;
    found = true;
  }
  wake_fetcher();
  return found;
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

void mirror_engine::fail_partition(partition_mirror& p, partition_state state,
                                   const std::string& reason) {
  if (p.state != partition_state::active) return;
  p.state = state;
  p.error = reason;
  log::error("mirror partition stopped", {{"link", options_.link_name},
                                          {"topic", p.source_topic},
                                          {"partition", p.partition},
                                          {"mirror_topic", p.mirror_topic},
                                          {"state", to_string(state)},
                                          {"reason", reason},
                                          {"mirrored_source_offset", p.mirrored_source_offset()}});
  // Nothing more is sent for it; queued bytes are given back to the budget.
  std::size_t bytes = 0;
  for (const auto& b : p.ready)
    bytes += b.bytes.size();
  for (const auto& b : p.in_flight)
    bytes += b.batch.bytes.size();
  p.ready.clear();
  p.in_flight.clear();
  p.unanswered = 0;
  release(p, bytes);
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
                                           {"error", result.error().message}});
  }
  // At most a few refreshes a second, whatever the error rate.
  not_before =
      clock::now() + (result ? std::chrono::milliseconds(200) : options_.retry_backoff * 5);
  (is_source ? source_refresh_running_ : destination_refresh_running_) = false;
  wake_fetcher();
  wake_sender();
}

// ---- fetching -------------------------------------------------------------------------

asio::awaitable<void> mirror_engine::fetch_scheduler() {
  while (!fetching_stopped_ && !stopped_) {
    std::map<int32_t, std::vector<partition_mirror*>> by_leader;
    bool need_metadata = false;
    auto next_retry = clock::time_point::max();
    const auto now = clock::now();
    // Per-partition cap so one busy partition cannot take the whole budget.
    const std::size_t partition_cap = std::max<std::size_t>(
        static_cast<std::size_t>(options_.partition_fetch_max_bytes) * 2,
        options_.max_buffered_bytes / std::max<std::size_t>(1, partitions_.size()));
    for (auto& p : partitions_) {
      if (*held_bytes_ >= options_.max_buffered_bytes) break;
      if (p->state != partition_state::active || p->fetching) continue;
      if (!p->stop_after_queued.empty() || p->paused) continue;
      if (p->buffered_bytes >= partition_cap) continue;
      auto leader = source_.leader_of(p->source_topic, p->partition);
      if (!leader) {
        need_metadata = true;
        continue;
      }
      if (fetch_in_flight_[*leader]) continue;
      if (auto retry = fetch_retry_after_.find(*leader);
          retry != fetch_retry_after_.end() && retry->second > now) {
        next_retry = std::min(next_retry, retry->second);
        continue;
      }
      by_leader[*leader].push_back(p.get());
    }
    if (need_metadata) request_metadata_refresh(source_);
    for (auto& [leader, parts] : by_leader) {
      fetch_in_flight_[leader] = true;
      for (auto* p : parts)
        p->fetching = true;
      asio::co_spawn(executor_, fetch_from(leader, std::move(parts)), asio::detached);
    }
    fetch_wakeup_.expires_at(std::min(next_retry, clock::now() + std::chrono::seconds(1)));
    boost::system::error_code ec;
    co_await fetch_wakeup_.async_wait(asio::redirect_error(use_awaitable, ec));
  }
}

asio::awaitable<void> mirror_engine::fetch_from(int32_t leader,
                                                std::vector<partition_mirror*> parts) {
  using api = kafka::msg::fetch_api;
  using fetch_topic = decltype(kafka::msg::fetch_request::topics)::value_type;
  using fetch_partition = decltype(fetch_topic::partitions)::value_type;

  auto finish = [&](bool failed) {
    for (auto* p : parts)
      p->fetching = false;
    fetch_in_flight_[leader] = false;
    if (failed) {
      const int failures = ++fetch_failures_[leader];
      fetch_retry_after_[leader] = clock::now() + backoff_for(failures);
    } else {
      fetch_failures_[leader] = 0;
    }
    wake_fetcher();
  };

  auto conn = co_await source_.connection_to(leader);
  if (!conn) {
    log::debug("cannot reach source broker",
               {{"link", options_.link_name}, {"broker", leader}, {"error", conn.error().message}});
    for (auto* p : parts)
      source_.invalidate_leader(p->source_topic, p->partition);
    request_metadata_refresh(source_);
    finish(true);
    co_return;
  }
  const auto version = (*conn)->version_for<api>();
  if (!version) {
    log::error("source broker speaks no Fetch version klink knows",
               {{"link", options_.link_name}, {"broker", leader}});
    finish(true);
    co_return;
  }
  const bool by_id = *version >= 13;

  // Rotate the order so a large partition late in the list is not starved
  // by the response size limit (KIP-74 only guarantees the first one).
  std::rotate(parts.begin(), parts.begin() + static_cast<std::ptrdiff_t>(rotate_++ % parts.size()),
              parts.end());
  kafka::msg::fetch_request request;
  request.max_wait_ms = static_cast<int32_t>(options_.fetch_max_wait.count());
  request.min_bytes = 1;
  request.max_bytes = options_.fetch_max_bytes;
  request.isolation_level = read_committed;
  request.session_id = 0;
  request.session_epoch = -1;  // no fetch session: every request is a full fetch
  std::map<std::string, kafka::uuid> ids;
  for (auto* p : parts) {
    const auto* meta = source_.topic(p->source_topic);
    auto topic = std::find_if(request.topics.begin(), request.topics.end(),
                              [&](const auto& t) { return t.topic == p->source_topic; });
    if (topic == request.topics.end()) {
      fetch_topic t;
      t.topic = p->source_topic;
      if (meta) t.topic_id = meta->topic_id;
      request.topics.push_back(std::move(t));
      topic = std::prev(request.topics.end());
    }
    fetch_partition fp;
    fp.partition = p->partition;
    fp.fetch_offset = p->fetch_offset;
    fp.partition_max_bytes = options_.partition_fetch_max_bytes;
    if (meta && static_cast<std::size_t>(p->partition) < meta->partitions.size()) {
      fp.current_leader_epoch =
          meta->partitions[static_cast<std::size_t>(p->partition)].leader_epoch;
      ids[p->source_topic] = meta->topic_id;
    }
    topic->partitions.push_back(fp);
  }

  auto reply = co_await (*conn)->send<api>(request);
  if (!reply) {
    log::debug(
        "fetch failed",
        {{"link", options_.link_name}, {"broker", leader}, {"error", reply.error().message}});
    for (auto* p : parts)
      source_.invalidate_leader(p->source_topic, p->partition);
    request_metadata_refresh(source_);
    finish(true);
    co_return;
  }
  // The whole response buffer counts against the budget until its last
  // batch is acknowledged: that is the memory really held.
  auto held_response = hold(reply->buffer);
  auto& body = reply->body;
  if (body.error_code != 0) {
    log::warn("fetch refused",
              {{"link", options_.link_name},
               {"broker", leader},
               {"error", kafka::error_name(kafka::to_error_code(body.error_code))}});
    finish(true);
    co_return;
  }

  for (auto& topic_response : body.responses) {
    std::string topic_name = topic_response.topic;
    if (by_id) {
      for (const auto& [name, id] : ids) {
        if (id == topic_response.topic_id) topic_name = name;
      }
    }
    for (auto& pd : topic_response.partitions) {
      partition_mirror* p = find_by_source(topic_name, pd.partition_index);
      if (p == nullptr || p->state != partition_state::active) continue;
      if (std::find(parts.begin(), parts.end(), p) == parts.end()) continue;
      const auto code = kafka::to_error_code(pd.error_code);
      if (code != error_code::none) {
        if (code == error_code::offset_out_of_range) {
          // Retention removed data klink had not copied yet (or the source was
          // truncated). Continuing from the log start loses those records: say so.
          if (pd.log_start_offset >= 0 && p->fetch_offset < pd.log_start_offset) {
            log::error("source records deleted before they were mirrored",
                       {{"link", options_.link_name},
                        {"topic", p->source_topic},
                        {"partition", p->partition},
                        {"from_offset", p->fetch_offset},
                        {"to_offset", pd.log_start_offset}});
            p->fetch_offset = pd.log_start_offset;
          } else {
            fail_partition(*p, partition_state::failed,
                           "fetch offset " + std::to_string(p->fetch_offset) +
                               " is out of range on the source (log start " +
                               std::to_string(pd.log_start_offset) + ", high watermark " +
                               std::to_string(pd.high_watermark) + ")");
          }
          continue;
        }
        const auto info = kafka::classify(code);
        if (info.action == error_action::fatal) {
          fail_partition(*p, partition_state::failed,
                         "source refused fetch: " + std::string(kafka::error_name(code)));
        } else {
          source_.invalidate_leader(p->source_topic, p->partition);
          request_metadata_refresh(source_);
        }
        continue;
      }
      p->source_high_watermark = pd.high_watermark;
      p->source_last_stable_offset = pd.last_stable_offset;
      p->source_log_start_offset = pd.log_start_offset;
      if (!pd.records || pd.records->empty()) continue;

      // The records view points into the response buffer, which this
      // coroutine owns exclusively: rewriting headers there in place is safe.
      auto* begin = const_cast<std::byte*>(pd.records->data());
      transform_input input;
      input.owner = held_response;
      input.records = kafka::mutable_bytes_view(begin, pd.records->size());
      input.fetch_offset = p->fetch_offset;
      if (pd.aborted_transactions) {
        for (const auto& at : *pd.aborted_transactions) {
          input.aborted.push_back({at.producer_id, at.first_offset});
        }
      }
      auto out = transform_fetched_records(std::move(input));
      if (std::any_of(out.batches.begin(), out.batches.end(),
                      [](const auto& b) { return b.needs_rebuild; })) {
        co_await asio::post(rebuild_pool_, use_awaitable);
        rebuild_marked_batches(out);
        co_await asio::post(executor_, use_awaitable);
        if (p->state != partition_state::active) continue;
      }
      for (auto& b : out.batches) {
        if (b.rebuilt) b.owner = hold(std::move(b.owner));
        p->buffered_bytes += b.bytes.size();
        buffered_bytes_ += b.bytes.size();
        p->ready.push_back(std::move(b));
      }
      p->counters.batches_rebuilt += out.counters.batches_rebuilt;
      p->counters.control_batches_dropped += out.counters.control_batches_dropped;
      p->counters.aborted_batches_dropped += out.counters.aborted_batches_dropped;
      p->fetch_offset = out.next_fetch_offset;
      if (out.failed) {
        // Batches before the bad one still go out; nothing after it does:
        // fetching stops now, the partition stops once they are acknowledged.
        p->stop_after_queued = out.error;
        if (p->idle()) fail_partition(*p, partition_state::failed, out.error);
      }
    }
  }
  finish(false);
  wake_sender();
}

// ---- producing ------------------------------------------------------------------------

asio::awaitable<bool> mirror_engine::ensure_producer_id() {
  if (producer_id_ >= 0) co_return true;
  if (producer_id_pending_) co_return false;
  producer_id_pending_ = true;
  using api = kafka::msg::init_producer_id_api;
  kafka::msg::init_producer_id_request request;
  request.transactional_id = std::nullopt;
  request.transaction_timeout_ms = std::numeric_limits<int32_t>::max();
  request.producer_id = -1;
  request.producer_epoch = -1;
  int failures = 0;
  while (!stopped_) {
    auto reply = co_await destination_.send_any<api>(request);
    if (reply && reply->body.error_code == 0) {
      producer_id_ = reply->body.producer_id;
      producer_epoch_ = reply->body.producer_epoch;
      log::info("idempotent producer ready", {{"link", options_.link_name},
                                              {"producer_id", producer_id_},
                                              {"producer_epoch", producer_epoch_}});
      break;
    }
    const std::string why =
        reply ? std::string(kafka::error_name(kafka::to_error_code(reply->body.error_code)))
              : reply.error().message;
    if (failures++ == 0) {
      log::warn("cannot get a producer id from the destination; retrying",
                {{"link", options_.link_name}, {"error", why}});
    }
    co_await sleep_for(backoff_for(failures));
  }
  producer_id_pending_ = false;
  wake_sender();
  co_return producer_id_ >= 0;
}

asio::awaitable<void> mirror_engine::send_scheduler() {
  constexpr int max_requests_per_broker = 5;
  while (!stopped_) {
    if (producer_id_ < 0) {
      if (!co_await ensure_producer_id()) continue;
    }
    const auto now = clock::now();
    auto next_retry = clock::time_point::max();
    bool need_metadata = false;
    struct request_plan {
      std::vector<produce_entry> entries;
      std::shared_ptr<std::vector<std::shared_ptr<kafka::byte_vector>>> owners;
      std::size_t bytes = 0;
    };
    std::map<int32_t, request_plan> plans;
    for (auto& p : partitions_) {
      if (p->state != partition_state::active || p->ready.empty() || p->round_failed) continue;
      if (static_cast<int>(p->in_flight.size()) >= options_.max_in_flight) continue;
      if (p->retry_after > now) {
        next_retry = std::min(next_retry, p->retry_after);
        continue;
      }
      auto leader = destination_.leader_of(p->mirror_topic, p->partition);
      if (!leader) {
        need_metadata = true;
        continue;
      }
      if (produce_requests_in_flight_[*leader] >= max_requests_per_broker) continue;
      auto& plan = plans[*leader];
      const std::size_t size = p->ready.front().bytes.size();
      if (!plan.entries.empty() && plan.bytes + size > options_.produce_request_max_bytes) continue;
      if (!plan.owners)
        plan.owners = std::make_shared<std::vector<std::shared_ptr<kafka::byte_vector>>>();

      outbound_batch batch = std::move(p->ready.front());
      p->ready.pop_front();
      if (batch.sequence < 0) {
        batch.sequence = p->next_sequence;
        // Sequences wrap at INT32_MAX like Kafka's producer.
        p->next_sequence = static_cast<int32_t>(
            (static_cast<int64_t>(p->next_sequence) + batch.record_count) % (int64_t{1} << 31));
        // The transform already validated this batch, so from_bytes cannot fail.
        auto view = kafka::record_batch_view::from_bytes(batch.bytes);
        kafka::rewrite_header_for_produce(*view, producer_id_, producer_epoch_, batch.sequence);
      }
      plan.entries.push_back({p.get(), batch.sequence});
      plan.owners->push_back(batch.owner);
      plan.bytes += size;
      p->in_flight.push_back(in_flight_batch{std::move(batch)});
      ++p->unanswered;
    }
    if (need_metadata) request_metadata_refresh(destination_);
    for (auto& [leader, plan] : plans) {
      ++produce_requests_in_flight_[leader];
      asio::co_spawn(executor_, produce_to(leader, std::move(plan.entries), std::move(plan.owners)),
                     asio::detached);
    }
    if (!plans.empty()) continue;  // more may be ready already
    send_wakeup_.expires_at(std::min(next_retry, clock::now() + std::chrono::seconds(1)));
    boost::system::error_code ec;
    co_await send_wakeup_.async_wait(asio::redirect_error(use_awaitable, ec));
  }
}

asio::awaitable<void> mirror_engine::produce_to(
    int32_t leader, std::vector<produce_entry> entries,
    std::shared_ptr<std::vector<std::shared_ptr<kafka::byte_vector>>> owners) {
  using api = kafka::msg::produce_api;
  using topic_data = decltype(kafka::msg::produce_request::topic_data)::value_type;
  using partition_data = decltype(topic_data::partition_data)::value_type;

  auto fail_all = [&](int16_t code, const std::string& message) {
    for (auto& e : entries)
      handle_produce_result(*e.partition, e.sequence, code, message, -1);
  };

  auto conn = co_await destination_.connection_to(leader);
  std::optional<int16_t> version;
  if (conn) version = (*conn)->version_for<api>();
  if (!conn || !version) {
    --produce_requests_in_flight_[leader];
    for (auto& e : entries)
      destination_.invalidate_leader(e.partition->mirror_topic, e.partition->partition);
    request_metadata_refresh(destination_);
    fail_all(
        static_cast<int16_t>(error_code::network_exception),
        conn ? "destination broker speaks no Produce version klink knows" : conn.error().message);
    co_return;
  }
  const bool by_id = *version >= 13;

  kafka::msg::produce_request request;
  request.transactional_id = std::nullopt;
  request.acks = acks_all;
  request.timeout_ms = static_cast<int32_t>(options_.request_timeout.count());
  std::map<std::pair<std::string, int32_t>, int32_t> sequence_of;
  for (auto& e : entries) {
    auto& p = *e.partition;
    const auto* meta = destination_.topic(p.mirror_topic);
    auto it = std::find_if(request.topic_data.begin(), request.topic_data.end(),
                           [&](const auto& t) { return t.name == p.mirror_topic; });
    if (it == request.topic_data.end()) {
      topic_data t;
      t.name = p.mirror_topic;
      if (meta) t.topic_id = meta->topic_id;
      request.topic_data.push_back(std::move(t));
      it = std::prev(request.topic_data.end());
    }
    auto batch = std::find_if(p.in_flight.begin(), p.in_flight.end(),
                              [&](const auto& b) { return b.batch.sequence == e.sequence; });
    partition_data pd;
    pd.index = p.partition;
    pd.records = kafka::bytes_view(batch->batch.bytes.data(), batch->batch.bytes.size());
    it->partition_data.push_back(std::move(pd));
    sequence_of[{p.mirror_topic, p.partition}] = e.sequence;
  }

  auto reply = co_await (*conn)->send<api>(request, owners);
  --produce_requests_in_flight_[leader];
  if (!reply) {
    for (auto& e : entries)
      destination_.invalidate_leader(e.partition->mirror_topic, e.partition->partition);
    request_metadata_refresh(destination_);
    fail_all(static_cast<int16_t>(error_code::network_exception), reply.error().message);
    wake_sender();
    co_return;
  }
  auto name_of_id = [&](const kafka::uuid& id) -> std::optional<std::string> {
    for (const auto& t : request.topic_data) {
      if (t.topic_id == id) return t.name;
    }
    return std::nullopt;
  };
  for (const auto& topic_response : reply->body.responses) {
    std::string name = topic_response.name;
    if (by_id) name = name_of_id(topic_response.topic_id).value_or(name);
    for (const auto& pr : topic_response.partition_responses) {
      auto key = std::make_pair(name, pr.index);
      auto seq = sequence_of.find(key);
      partition_mirror* p = find_by_mirror(name, pr.index);
      if (seq == sequence_of.end() || p == nullptr) continue;
      handle_produce_result(*p, seq->second, pr.error_code, pr.error_message.value_or(""),
                            pr.base_offset);
      sequence_of.erase(seq);
    }
  }
  // A partition the broker did not answer for counts as failed and is resent.
  for (const auto& [key, sequence] : sequence_of) {
    if (auto* p = find_by_mirror(key.first, key.second)) {
      handle_produce_result(*p, sequence, static_cast<int16_t>(error_code::unknown_server_error),
                            "missing from the Produce response", -1);
    }
  }
  wake_sender();
}

void mirror_engine::handle_produce_result(partition_mirror& p, int32_t sequence, int16_t code,
                                          const std::string& message, int64_t base_offset) {
  if (p.state != partition_state::active) return;
  auto it = std::find_if(p.in_flight.begin(), p.in_flight.end(),
                         [&](const auto& b) { return b.batch.sequence == sequence; });
  if (it == p.in_flight.end() || it->answered) return;
  it->answered = true;
  --p.unanswered;
  const auto error = kafka::to_error_code(code);
  if (error == error_code::none) {
    it->ok = true;
    it->destination_base_offset = base_offset;
  } else {
    const auto info = kafka::classify(error);
    if (info.action == error_action::fatal) {
      fail_partition(p, partition_state::failed,
                     "destination refused the batch from source offset " +
                         std::to_string(it->batch.source_base_offset) + ": " +
                         describe(code, message.empty() ? std::nullopt : std::optional(message)));
      return;
    }
    if (!p.round_failed) {
      log::debug("produce failed, will resend", {{"link", options_.link_name},
                                                 {"topic", p.source_topic},
                                                 {"partition", p.partition},
                                                 {"error", describe(code, message)}});
    }
    p.round_failed = true;
    if (info.action == error_action::refresh_metadata || error == error_code::network_exception) {
      destination_.invalidate_leader(p.mirror_topic, p.partition);
      request_metadata_refresh(destination_);
    }
  }
  commit_acknowledged(p);
  if (p.round_failed && p.unanswered == 0) {
    // Every answer of this round is in: resend whatever is not acknowledged,
    // in order, with the same sequences, so the broker drops what it already has.
    if (++p.consecutive_failures > 50) {
      fail_partition(p, partition_state::failed,
                     "produce kept failing after 50 attempts: " + describe(code, message));
      return;
    }
    ++p.counters.produce_retries;
    while (!p.in_flight.empty()) {
      p.ready.push_front(std::move(p.in_flight.back().batch));
      p.in_flight.pop_back();
    }
    p.round_failed = false;
    p.retry_after = clock::now() + backoff_for(p.consecutive_failures);
  }
  wake_sender();
}

void mirror_engine::commit_acknowledged(partition_mirror& p) {
  while (!p.in_flight.empty() && p.in_flight.front().answered && p.in_flight.front().ok) {
    auto& done = p.in_flight.front();
    if (p.next_destination_offset >= 0 &&
        done.destination_base_offset != p.next_destination_offset) {
      fail_partition(p, partition_state::diverged,
                     "batch from source offset " + std::to_string(done.batch.source_base_offset) +
                         " landed at destination offset " +
                         std::to_string(done.destination_base_offset) + ", expected " +
                         std::to_string(p.next_destination_offset) +
                         ": something else writes to the mirror topic");
      return;
    }
    p.next_destination_offset = done.destination_base_offset + done.batch.record_count;
    p.consecutive_failures = 0;
    ++p.counters.batches_produced;
    p.counters.records_produced += static_cast<uint64_t>(done.batch.record_count);
    p.counters.bytes_produced += done.batch.bytes.size();
    if (on_ack_) {
      const record_run whole{done.batch.source_base_offset, done.batch.record_count};
      std::span<const record_run> runs(&whole, 1);
      if (!done.batch.holey_source_runs.empty()) runs = done.batch.holey_source_runs;
      on_ack_(acknowledgement{p, done.batch.source_base_offset, done.batch.source_last_offset,
                              done.destination_base_offset, done.batch.record_count, runs});
    }
    const std::size_t bytes = done.batch.bytes.size();
    p.in_flight.pop_front();
    release(p, bytes);
  }
  if (!p.stop_after_queued.empty() && p.idle()) {
    fail_partition(p, partition_state::failed, p.stop_after_queued);
  }
}

}  // namespace klink::mirror
