// The producing half of mirror_engine: idempotent, pipelined Produce per
// destination broker, in-order resend, and acknowledgement bookkeeping.
#include <algorithm>

#include "kafka/client/producer_id.h"
#include "kafka/error_code.h"
#include "kafka/record_batch.h"
#include "kafka/sleep.h"
#include "log/log.h"
#include "mirror/mirror_engine.h"

namespace klink::mirror {

namespace {
using asio::use_awaitable;
using clock = std::chrono::steady_clock;
using kafka::error_code;
using produce_api = kafka::msg::produce_api;

constexpr int16_t acks_all = -1;
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
    klink::error failed = std::move(identity.error());
    // The client layer leaves the call out when it could not connect at all.
    if (failed.call.empty()) failed.call = "InitProducerId";
    count_error(failed);
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
      if (batch.sequence < 0) stamp_for_first_send(*p, batch);
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

std::optional<producer_identity> mirror_engine::producer_of(const partition_mirror& p) const {
  if (p.producer_id >= 0)
    return producer_identity{p.producer_id, p.producer_epoch, p.next_sequence};
  if (producer_id_ < 0) return std::nullopt;
  return producer_identity{producer_id_, producer_epoch_, p.next_sequence};
}

void mirror_engine::stamp_for_first_send(partition_mirror& p, outbound_batch& batch) {
  batch.sequence = p.next_sequence;
  // Sequences wrap at INT32_MAX like Kafka's producer.
  p.next_sequence = static_cast<int32_t>(
      (static_cast<int64_t>(p.next_sequence) + batch.record_count) % (int64_t{1} << 31));
  // The transform already validated this batch, so from_bytes cannot fail.
  auto view = kafka::record_batch_view::from_bytes(batch.bytes);
  const bool own = p.producer_id < 0;
  kafka::rewrite_header_for_produce(*view, own ? producer_id_ : p.producer_id,
                                    own ? producer_epoch_ : p.producer_epoch, batch.sequence);
}

asio::awaitable<void> mirror_engine::produce_to(
    int32_t leader, std::vector<produce_entry> entries,
    std::shared_ptr<std::vector<std::shared_ptr<kafka::byte_vector>>> owners) {
  // Not answered as a whole: the leader is in doubt, and every batch is resent.
  auto request_failed = [&](const std::string& why) {
    for (auto& e : entries)
      destination_.invalidate_leader(e.partition->mirror_topic, e.partition->partition);
    request_metadata_refresh(destination_);
    fail_entries(entries, error_code::network_exception, why);
  };
  auto conn = co_await destination_.connection_to(leader);
  std::optional<int16_t> version;
  if (conn) version = (*conn)->version_for<produce_api>();
  if (!conn || !version) {
    if (!conn)
      count_error(
          klink::error(conn.error().code, produce_api::name).on(std::string(destination_role)));
    --produce_requests_in_flight_[leader];
    request_failed(conn ? "destination broker speaks no Produce version klink knows"
                        : conn.error().message());
    co_return;
  }
  const auto request = produce_request_for(entries);
  // Scale-out: the lease may have run out while connecting.
  if (write_guard_ && !write_guard_()) {
    --produce_requests_in_flight_[leader];
    fail_entries(entries, error_code::network_exception,
                 "not sent: this instance's lease on its partitions ran out");
    co_return;
  }

  const auto sent_at = clock::now();
  // Asked again right before the bytes are written: the request may wait
  // behind others on the socket, and the lease may end meanwhile.
  auto reply = co_await (*conn)->send<produce_api>(request, owners, std::nullopt, write_guard_);
  --produce_requests_in_flight_[leader];
  if (!reply) {
    count_error(
        klink::error(reply.error().code, produce_api::name).on(std::string(destination_role)));
    request_failed(reply.error().message());
    wake_sender();
    co_return;
  }
  stats_.produce_latency.observe(clock::now() - sent_at);
  take_produce_answer(entries, request, reply->body, *version >= 13);
  wake_sender();
}

kafka::msg::produce_request mirror_engine::produce_request_for(
    const std::vector<produce_entry>& entries) const {
  using topic_data = decltype(kafka::msg::produce_request::topic_data)::value_type;
  kafka::msg::produce_request request;
  request.transactional_id = std::nullopt;
  request.acks = acks_all;
  request.timeout_ms = static_cast<int32_t>(options_.request_timeout.count());
  for (const auto& e : entries) {
    const auto& p = *e.partition;
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
    decltype(topic_data::partition_data)::value_type pd;
    pd.index = p.partition;
    pd.records = kafka::bytes_view(batch->batch.bytes.data(), batch->batch.bytes.size());
    it->partition_data.push_back(std::move(pd));
  }
  return request;
}

void mirror_engine::take_produce_answer(const std::vector<produce_entry>& entries,
                                        const kafka::msg::produce_request& request,
                                        const kafka::msg::produce_response& body, bool by_id) {
  // The partitions by name as the response names them; pointers, not
  // lookups: a partition handed over meanwhile is no longer in the engine's maps.
  std::map<std::pair<std::string, int32_t>, produce_entry> entry_of;
  for (const auto& e : entries)
    entry_of.emplace(std::make_pair(e.partition->mirror_topic, e.partition->partition), e);
  auto name_of_id = [&](const kafka::uuid& id) -> std::optional<std::string> {
    for (const auto& t : request.topic_data) {
      if (t.topic_id == id) return t.name;
    }
    return std::nullopt;
  };
  for (const auto& topic_response : body.responses) {
    std::string name = topic_response.name;
    if (by_id) name = name_of_id(topic_response.topic_id).value_or(name);
    for (const auto& pr : topic_response.partition_responses) {
      klink::result<int64_t> landed = pr.base_offset;
      if (pr.error_code != 0) {
        landed = std::unexpected(klink::error(kafka::to_error_code(pr.error_code),
                                              produce_api::name, pr.error_message.value_or(""))
                                     .on(std::string(destination_role))
                                     .at(name, pr.index));
        count_error(landed.error());
      }
      auto entry = entry_of.find(std::make_pair(name, pr.index));
      if (entry == entry_of.end()) continue;
      handle_produce_result(*entry->second.partition, entry->second.sequence, landed);
      entry_of.erase(entry);
    }
  }
  // A partition the broker did not answer for counts as failed and is resent.
  std::vector<produce_entry> unanswered;
  for (const auto& [key, entry] : entry_of)
    unanswered.push_back(entry);
  fail_entries(unanswered, error_code::unknown_server_error, "missing from the Produce response");
}

void mirror_engine::fail_entries(const std::vector<produce_entry>& entries, kafka::error_code code,
                                 const std::string& detail) {
  for (const auto& e : entries) {
    handle_produce_result(
        *e.partition, e.sequence,
        std::unexpected(klink::error(code, produce_api::name, detail)
                            .on(std::string(destination_role))
                            .at(e.partition->mirror_topic, e.partition->partition)));
  }
}

void mirror_engine::handle_produce_result(partition_mirror& p, int32_t sequence,
                                          const klink::result<int64_t>& landed) {
  if (p.state != partition_state::active) return;
  auto it = std::find_if(p.in_flight.begin(), p.in_flight.end(),
                         [&](const auto& b) { return b.batch.sequence == sequence; });
  if (it == p.in_flight.end() || it->answered) return;
  it->answered = true;
  --p.unanswered;
  if (landed) {
    it->ok = true;
    it->destination_base_offset = *landed;
  } else {
    const klink::error& refused = landed.error();
    if (fenced(p, *it, refused)) return;
    if (refused.action() == kafka::error_action::fatal) {
      fail_partition(
          p, partition_state::failed,
          klink::error(refused).within("destination refused the batch from source offset " +
                                       std::to_string(it->batch.source_base_offset)));
      return;
    }
    if (!p.round_failed) {
      log::debug("produce failed, will resend", {{"link", options_.link_name},
                                                 {"topic", p.source_topic},
                                                 {"partition", p.partition},
                                                 {"error", refused.message()}});
    }
    p.round_failed = true;
    if (refused.action() == kafka::error_action::refresh_metadata ||
        refused.is(error_code::network_exception)) {
      destination_.invalidate_leader(p.mirror_topic, p.partition);
      request_metadata_refresh(destination_);
    }
  }
  commit_acknowledged(p);
  if (p.round_failed && p.unanswered == 0) {
    // The answer that ends the round may be a success; the old text said NONE then.
    end_failed_round(p, landed ? klink::error(error_code::none, produce_api::name)
                                     .on(std::string(destination_role))
                                     .at(p.mirror_topic, p.partition)
                               : landed.error());
    return;
  }
  wake_sender();
}

bool mirror_engine::fenced(partition_mirror& p, const in_flight_batch& batch,
                           const klink::error& refused) {
  // Scale-out fencing (linker/README.md): the destination's producer state for
  // this partition moved past what this instance wrote, so another instance
  // wrote to it since. Not for a batch behind another unanswered or failed
  // one: that OUT_OF_ORDER is just the pipeline (the earlier batch is resent).
  const bool sequence_conflict =
      (refused.is(error_code::out_of_order_sequence_number) && &batch == &p.in_flight.front()) ||
      refused.is(error_code::invalid_producer_epoch) || refused.is(error_code::producer_fenced);
  if (!options_.fence_on_sequence_conflict || !sequence_conflict) return false;
  log::error(
      "write refused by the destination: another instance owns this partition now "
      "(fenced); this instance stops writing to it",
      {{"link", options_.link_name},
       {"topic", p.source_topic},
       {"partition", p.partition},
       {"mirror_topic", p.mirror_topic},
       {"source_offset", batch.batch.source_base_offset},
       {"sequence", batch.batch.sequence},
       {"error", refused.message()}});
  fail_partition(p, partition_state::fenced, klink::error(refused).within("fenced"));
  return true;
}

void mirror_engine::end_failed_round(partition_mirror& p, const klink::error& last) {
  // Every answer of this round is in: resend whatever is not acknowledged,
  // in order, with the same sequences, so the broker drops what it already has.
  if (++p.consecutive_failures > 50) {
    fail_partition(p, partition_state::failed,
                   klink::error(last).within("produce kept failing after 50 attempts"));
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
  wake_sender();
}

void mirror_engine::commit_acknowledged(partition_mirror& p) {
  while (!p.in_flight.empty() && p.in_flight.front().answered && p.in_flight.front().ok) {
    auto& done = p.in_flight.front();
    if (p.next_destination_offset >= 0 &&
        done.destination_base_offset != p.next_destination_offset) {
      fail_partition(
          p, partition_state::diverged,
          klink::error(klink::errc::state_mismatch, produce_api::name,
                       "batch from source offset " + std::to_string(done.batch.source_base_offset) +
                           " landed at destination offset " +
                           std::to_string(done.destination_base_offset) + ", expected " +
                           std::to_string(p.next_destination_offset) +
                           ": something else writes to the mirror topic")
              .on(std::string(destination_role))
              .at(p.mirror_topic, p.partition));
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
  if (p.stop_after_queued && p.idle()) {
    fail_partition(p, partition_state::failed, *p.stop_after_queued);
  }
  finish_stopping(p);
}

}  // namespace klink::mirror
