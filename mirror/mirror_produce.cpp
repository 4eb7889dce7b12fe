// The producing half of mirror_engine: idempotent, pipelined Produce per
// destination broker, in-order resend, and acknowledgement bookkeeping.
#include <algorithm>

#include "kafka/client/producer_id.h"
#include "kafka/error_code.h"
#include "kafka/messages/produce.h"
#include "kafka/record_batch.h"
#include "kafka/sleep.h"
#include "log/log.h"
#include "mirror/mirror_engine.h"

namespace klink::mirror {

namespace {
using asio::use_awaitable;
using clock = std::chrono::steady_clock;
using kafka::error_action;
using kafka::error_code;

constexpr int16_t acks_all = -1;

constexpr std::string_view destination_role = "destination";
const std::string_view network_exception = kafka::error_name(error_code::network_exception);

std::string describe(int16_t code, const std::optional<std::string>& message) {
  std::string text(kafka::error_name(kafka::to_error_code(code)));
  if (message && !message->empty()) text += ": " + *message;
  return text;
}
}  // namespace

asio::awaitable<bool> mirror_engine::ensure_producer_id() {
  if (producer_id_ >= 0) co_return true;
  if (producer_id_pending_) co_return false;
  producer_id_pending_ = true;
  int failures = 0;
  while (!stopped_) {
    auto identity = co_await kafka::client::init_producer_id(destination_, {.attempts = 1});
    if (identity) {
      producer_id_ = identity->id;
      producer_epoch_ = identity->epoch;
      log::info("idempotent producer ready", {{"link", options_.link_name},
                                              {"producer_id", producer_id_},
                                              {"producer_epoch", producer_epoch_}});
      break;
    }
    const klink::error& failed = identity.error();
    count_error(destination_role, "InitProducerId",
                failed.code.category() == kafka::kafka_category()
                    ? kafka::error_name(static_cast<error_code>(failed.code.value()))
                    : network_exception);
    if (failures++ == 0) {
      log::warn("cannot get a producer id from the destination; retrying",
                {{"link", options_.link_name}, {"error", failed.message()}});
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
    if (write_guard_ && !write_guard_()) {
      // Scale-out: the lease ran out; nothing is sent until it is back.
      send_wakeup_.expires_after(std::chrono::milliseconds(100));
      boost::system::error_code ec;
      co_await send_wakeup_.async_wait(asio::redirect_error(use_awaitable, ec));
      continue;
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
        const bool own = p->producer_id < 0;
        kafka::rewrite_header_for_produce(*view, own ? producer_id_ : p->producer_id,
                                          own ? producer_epoch_ : p->producer_epoch,
                                          batch.sequence);
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
    if (!conn) count_error(destination_role, api::name, network_exception);
    --produce_requests_in_flight_[leader];
    for (auto& e : entries)
      destination_.invalidate_leader(e.partition->mirror_topic, e.partition->partition);
    request_metadata_refresh(destination_);
    fail_all(
        static_cast<int16_t>(error_code::network_exception),
        conn ? "destination broker speaks no Produce version klink knows" : conn.error().message());
    co_return;
  }
  const bool by_id = *version >= 13;

  kafka::msg::produce_request request;
  request.transactional_id = std::nullopt;
  request.acks = acks_all;
  request.timeout_ms = static_cast<int32_t>(options_.request_timeout.count());
  // The partitions by name as the response names them; pointers, not
  // lookups: a partition handed over meanwhile is no longer in the engine's maps.
  std::map<std::pair<std::string, int32_t>, produce_entry> entry_of;
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
    entry_of.emplace(std::make_pair(p.mirror_topic, p.partition), e);
  }
  // Scale-out: the lease may have run out while connecting.
  if (write_guard_ && !write_guard_()) {
    --produce_requests_in_flight_[leader];
    fail_all(static_cast<int16_t>(error_code::network_exception),
             "not sent: this instance's lease on its partitions ran out");
    co_return;
  }

  const auto sent_at = clock::now();
  auto reply = co_await (*conn)->send<api>(request, owners);
  --produce_requests_in_flight_[leader];
  if (!reply) {
    count_error(destination_role, api::name, network_exception);
    for (auto& e : entries)
      destination_.invalidate_leader(e.partition->mirror_topic, e.partition->partition);
    request_metadata_refresh(destination_);
    fail_all(static_cast<int16_t>(error_code::network_exception), reply.error().message());
    wake_sender();
    co_return;
  }
  stats_.produce_latency.observe(clock::now() - sent_at);
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
      auto entry = entry_of.find(std::make_pair(name, pr.index));
      if (pr.error_code != 0)
        count_error(destination_role, api::name,
                    kafka::error_name(kafka::to_error_code(pr.error_code)));
      if (entry == entry_of.end()) continue;
      handle_produce_result(*entry->second.partition, entry->second.sequence, pr.error_code,
                            pr.error_message.value_or(""), pr.base_offset);
      entry_of.erase(entry);
    }
  }
  // A partition the broker did not answer for counts as failed and is resent.
  for (const auto& [key, entry] : entry_of) {
    handle_produce_result(*entry.partition, entry.sequence,
                          static_cast<int16_t>(error_code::unknown_server_error),
                          "missing from the Produce response", -1);
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
  // Scale-out fencing (linker/README.md): the destination's producer state for
  // this partition moved past what this instance wrote, so another instance
  // wrote to it since. Not for a batch behind another unanswered or failed
  // one: that OUT_OF_ORDER is just the pipeline (the earlier batch is resent).
  const bool sequence_conflict =
      (error == error_code::out_of_order_sequence_number && it == p.in_flight.begin()) ||
      error == error_code::invalid_producer_epoch || error == error_code::producer_fenced;
  if (options_.fence_on_sequence_conflict && sequence_conflict) {
    log::error(
        "write refused by the destination: another instance owns this partition now "
        "(fenced); this instance stops writing to it",
        {{"link", options_.link_name},
         {"topic", p.source_topic},
         {"partition", p.partition},
         {"mirror_topic", p.mirror_topic},
         {"source_offset", it->batch.source_base_offset},
         {"sequence", sequence},
         {"error", describe(code, message)}});
    fail_partition(
        p, partition_state::fenced,
        "fenced: " + describe(code, message.empty() ? std::nullopt : std::optional(message)));
    return;
  }
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
    // Being handed over (scale-out): not resent here; the next owner fetches
    // these again and resumes from what the destination holds.
    if (p.handing_over) {
      drop_unsent(p);
      finish_stopping(p);
      return;
    }
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
  finish_stopping(p);
}

}  // namespace klink::mirror
