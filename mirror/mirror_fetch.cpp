// The fetching half of mirror_engine: one Fetch per source broker at a time,
// carrying all of that broker's partitions that have room in the budget. A
// partition is fetched from its leader, or from the replica the leader named
// for klink's rack (KIP-392).
#include <algorithm>
#include <optional>

#include "kafka/client/list_offsets.h"
#include "kafka/error_code.h"
#include "kafka/messages/fetch.h"
#include "log/log.h"
#include "mirror/batch_transform.h"
#include "mirror/mirror_engine.h"

namespace klink::mirror {

namespace {
using asio::use_awaitable;
using clock = std::chrono::steady_clock;
using kafka::error_code;
using fetch_api = kafka::msg::fetch_api;

// READ_COMMITTED: only committed transactional data, up to the last stable offset.
constexpr int8_t read_committed = 1;

// The batches of one partition's answer, as the transform reads them.
transform_input transform_input_of(
    const kafka::msg::fetch_response::fetchable_topic_response::partition_data& data,
    std::shared_ptr<kafka::byte_vector> held_response, int64_t fetch_offset) {
  // The records view points into the response buffer, which the fetching
  // coroutine owns exclusively: rewriting headers there in place is safe.
  auto* begin = const_cast<std::byte*>(data.records->data());
  transform_input input;
  input.owner = std::move(held_response);
  input.records = kafka::mutable_bytes_view(begin, data.records->size());
  input.fetch_offset = fetch_offset;
  if (data.aborted_transactions) {
    for (const auto& at : *data.aborted_transactions) {
      input.aborted.push_back({at.producer_id, at.first_offset});
    }
  }
  return input;
}
}  // namespace

asio::awaitable<void> mirror_engine::fetch_scheduler() {
  while (!fetching_stopped_ && !stopped_) {
    std::map<int32_t, std::vector<partition_mirror*>> by_broker;
    bool need_metadata = false;
    auto next_retry = clock::time_point::max();
    const auto now = clock::now();
    // Per-partition cap so one busy partition cannot take the whole budget.
    const std::size_t partition_cap = std::max<std::size_t>(
        static_cast<std::size_t>(options_.partition_fetch_max_bytes) * 2,
        options_.max_buffered_bytes / std::max<std::size_t>(1, partitions_.size()));
    for (auto& p : partitions_) {
      if (*held_bytes_ >= options_.max_buffered_bytes) break;
      if (p->state != partition_state::active || p->fetching || p->checking_range) continue;
      if (p->stop_after_queued || p->paused || p->stopping) continue;
      if (p->stop_at >= 0 && p->fetch_offset >= p->stop_at) continue;
      if (p->buffered_bytes >= partition_cap) continue;
      if (p->preferred_read_replica >= 0) {
        if (!source_.metadata().brokers.contains(p->preferred_read_replica)) {
          leave_read_replica(*p, "broker no longer in the source metadata");
        } else if (now >= p->read_replica_until) {
          leave_read_replica(*p, "periodic re-check with the leader", true);
        }
      }
      std::optional<int32_t> target;
      if (p->preferred_read_replica >= 0) {
        target = p->preferred_read_replica;
      } else {
        target = source_.leader_of(p->source_topic, p->partition);
      }
      if (!target) {
        need_metadata = true;
        continue;
      }
      if (fetch_in_flight_[*target]) continue;
      if (auto retry = fetch_retry_after_.find(*target);
          retry != fetch_retry_after_.end() && retry->second > now) {
        next_retry = std::min(next_retry, retry->second);
        continue;
      }
      by_broker[*target].push_back(p.get());
    }
    if (need_metadata) request_metadata_refresh(source_);
    for (auto& [broker, parts] : by_broker) {
      fetch_in_flight_[broker] = true;
      for (auto* p : parts)
        p->fetching = true;
      asio::co_spawn(executor_, fetch_from(broker, std::move(parts)), asio::detached);
    }
    fetch_wakeup_.expires_at(std::min(next_retry, clock::now() + std::chrono::seconds(1)));
    boost::system::error_code ec;
    co_await fetch_wakeup_.async_wait(asio::redirect_error(use_awaitable, ec));
  }
}

void mirror_engine::use_read_replica(partition_mirror& p, int32_t broker) {
  const bool news = broker != p.rechecked_read_replica;
  p.preferred_read_replica = broker;
  p.rechecked_read_replica = -1;
  p.read_replica_until = clock::now() + options_.read_replica_max_age;
  if (!news) return;
  log::info("fetching partition from a preferred read replica",
            {{"link", options_.link_name},
             {"topic", p.source_topic},
             {"partition", p.partition},
             {"broker", broker},
             {"reason", "the source leader named it for rack " + options_.rack_id}});
}

void mirror_engine::leave_read_replica(partition_mirror& p, std::string_view reason, bool recheck) {
  if (p.preferred_read_replica < 0) return;
  const int32_t broker = p.preferred_read_replica;
  p.preferred_read_replica = -1;
  p.rechecked_read_replica = recheck ? broker : -1;
  // A periodic re-check usually ends on the same replica: only a real change is news.
  (recheck ? log::debug : log::info)("fetching partition from its leader again",
                                     {{"link", options_.link_name},
                                      {"topic", p.source_topic},
                                      {"partition", p.partition},
                                      {"broker", broker},
                                      {"reason", reason}});
}

asio::awaitable<void> mirror_engine::fetch_from(int32_t broker,
                                                std::vector<partition_mirror*> parts) {
  fetch_round round;
  round.broker = broker;
  round.partitions = std::move(parts);
  auto conn = co_await source_.connection_to(broker);
  if (!conn) {
    fetch_failed(round, conn.error(), "cannot reach source broker", "cannot reach the replica: ");
    co_return;
  }
  const auto version = (*conn)->version_for<fetch_api>();
  if (!version) {
    log::error("source broker speaks no Fetch version klink knows",
               {{"link", options_.link_name}, {"broker", broker}});
    for (auto* p : round.partitions)
      leave_read_replica(*p, "the replica speaks no Fetch version klink knows");
    end_fetch(round, true);
    co_return;
  }
  round.by_id = *version >= 13;
  const auto request = fetch_request_for(round);

  const auto sent_at = clock::now();
  auto reply = co_await (*conn)->send<fetch_api>(request);
  if (!reply) {
    fetch_failed(round, reply.error(), "fetch failed", "fetch from the replica failed: ");
    co_return;
  }
  stats_.fetch_latency.observe(clock::now() - sent_at);
  round.held_response = hold(reply->buffer);
  const auto& body = reply->body;
  if (body.error_code != 0) {
    const auto code = kafka::to_error_code(body.error_code);
    count_error(klink::error(code, fetch_api::name).on(std::string(source_role)));
    const auto name = kafka::error_name(code);
    log::warn("fetch refused", {{"link", options_.link_name}, {"broker", broker}, {"error", name}});
    for (auto* p : round.partitions)
      if (round.from_replica(*p))
        leave_read_replica(*p, "the replica refused the fetch: " + std::string(name));
    end_fetch(round, true);
    co_return;
  }
  co_await take_fetched(round, body);
  end_fetch(round, false);
  wake_sender();
}

kafka::msg::fetch_request mirror_engine::fetch_request_for(fetch_round& round) {
  using fetch_topic = decltype(kafka::msg::fetch_request::topics)::value_type;
  auto& parts = round.partitions;
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
  request.session_epoch = -1;          // no fetch session: every request is a full fetch
  request.rack_id = options_.rack_id;  // v11+; older versions leave it out
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
    decltype(fetch_topic::partitions)::value_type fp;
    fp.partition = p->partition;
    fp.fetch_offset = p->fetch_offset;
    fp.partition_max_bytes = options_.partition_fetch_max_bytes;
    if (meta && static_cast<std::size_t>(p->partition) < meta->partitions.size()) {
      fp.current_leader_epoch =
          meta->partitions[static_cast<std::size_t>(p->partition)].leader_epoch;
      round.topic_ids[p->source_topic] = meta->topic_id;
    }
    topic->partitions.push_back(fp);
  }
  return request;
}

void mirror_engine::end_fetch(const fetch_round& round, bool failed) {
  for (auto* p : round.partitions)
    p->fetching = false;
  fetch_in_flight_[round.broker] = false;
  if (failed) {
    const int failures = ++fetch_failures_[round.broker];
    fetch_retry_after_[round.broker] = clock::now() + backoff_for(failures);
  } else {
    fetch_failures_[round.broker] = 0;
  }
  wake_fetcher();
}

void mirror_engine::fetch_failed(const fetch_round& round, const klink::error& failure,
                                 std::string_view log_message, std::string_view replica_reason) {
  klink::error failed = failure;
  failed.call = fetch_api::name;
  failed.cluster = source_role;
  count_error(failed);
  const std::string text = failed.message();
  log::debug(log_message,
             {{"link", options_.link_name}, {"broker", round.broker}, {"error", text}});
  // Partitions read from the broker as a replica go back to their leaders;
  // for the others the leader itself is in doubt.
  for (auto* p : round.partitions) {
    if (round.from_replica(*p)) {
      leave_read_replica(*p, std::string(replica_reason) + text);
    } else {
      source_.invalidate_leader(p->source_topic, p->partition);
    }
  }
  request_metadata_refresh(source_);
  end_fetch(round, true);
}

asio::awaitable<void> mirror_engine::take_fetched(fetch_round& round,
                                                  const kafka::msg::fetch_response& body) {
  for (const auto& topic_response : body.responses) {
    std::string topic_name = topic_response.topic;
    if (round.by_id) {
      for (const auto& [name, id] : round.topic_ids) {
        if (id == topic_response.topic_id) topic_name = name;
      }
    }
    for (const auto& data : topic_response.partitions) {
      partition_mirror* p = find_by_source(topic_name, data.partition_index);
      if (p == nullptr || p->state != partition_state::active) continue;
      if (std::ranges::find(round.partitions, p) == round.partitions.end()) continue;
      if (handle_fetch_error(round, *p, data)) continue;
      p->source_high_watermark = data.high_watermark;
      p->source_last_stable_offset = data.last_stable_offset;
      p->source_log_start_offset = data.log_start_offset;
      follow_read_replica(round, *p, data);
      // Paused while this Fetch was out: what it brought is fetched again on resume.
      if (p->stopping || p->paused || !data.records || data.records->empty()) continue;
      // Held at a promotion's cut by an earlier response: drop what this
      // one brought, so nothing past the cut reaches the destination.
      if (p->stop_at >= 0 && p->fetch_offset >= p->stop_at) continue;
      co_await queue_fetched(round, *p, data);
    }
  }
}

bool mirror_engine::handle_fetch_error(const fetch_round& round, partition_mirror& p,
                                       const fetched_partition& data) {
  const auto code = kafka::to_error_code(data.error_code);
  if (code == error_code::none) return false;
  klink::error refused = klink::error(code, fetch_api::name)
                             .on(std::string(source_role))
                             .at(p.source_topic, p.partition);
  count_error(refused);
  if (round.from_replica(p)) {
    // Whatever a replica says (it lags, it no longer has the partition,
    // its leader epoch differs) the leader is the authority: ask it. An
    // out-of-range offset here is a lagging follower, not lost data.
    leave_read_replica(p, kafka::error_name(code));
    if (code != error_code::offset_out_of_range && code != error_code::offset_not_available)
      request_metadata_refresh(source_);
  } else if (code == error_code::offset_out_of_range) {
    // Retention or DeleteRecords removed data klink had not copied yet (or
    // the source was truncated): a decision, on_source_gap.
    if (data.log_start_offset >= 0 && p.fetch_offset < data.log_start_offset) {
      source_records_deleted(p, data.log_start_offset);
    } else if (data.log_start_offset < 0) {
      // Newer brokers answer OFFSET_OUT_OF_RANGE without the log's bounds:
      // ask for them before deciding.
      p.checking_range = true;
      asio::co_spawn(executor_, check_source_range(p.source_topic, p.partition), asio::detached);
    } else {
      refused.detail = "fetch offset " + std::to_string(p.fetch_offset) +
                       " is out of range on the source (log start " +
                       std::to_string(data.log_start_offset) + ", high watermark " +
                       std::to_string(data.high_watermark) + ")";
      fail_partition(p, partition_state::failed, std::move(refused));
    }
  } else if (refused.action() == kafka::error_action::fatal) {
    fail_partition(p, partition_state::failed, std::move(refused).within("source refused fetch"));
  } else {
    source_.invalidate_leader(p.source_topic, p.partition);
    request_metadata_refresh(source_);
  }
  return true;
}

asio::awaitable<void> mirror_engine::check_source_range(std::string topic, int32_t partition) {
  using kafka::client::isolation;
  auto earliest = co_await kafka::client::list_offsets(
      source_, topic, kafka::client::earliest_timestamp, isolation::read_uncommitted);
  auto latest = co_await kafka::client::list_offsets(
      source_, topic, kafka::client::latest_timestamp, isolation::read_uncommitted);
  partition_mirror* p = find_by_source(topic, partition);
  if (p == nullptr || !p->checking_range) co_return;
  p->checking_range = false;
  wake_fetcher();
  const auto i = static_cast<std::size_t>(partition);
  if (!earliest || !latest || earliest->size() <= i || latest->size() <= i) {
    // Not known now: the next fetch asks again (and backs off if refused again).
    request_metadata_refresh(source_);
    co_return;
  }
  const int64_t log_start = (*earliest)[i];
  const int64_t end = (*latest)[i];
  if (p->state != partition_state::active) co_return;
  if (p->fetch_offset < log_start) {
    source_records_deleted(*p, log_start);
  } else if (p->fetch_offset > end) {
    fail_partition(
        *p, partition_state::failed,
        klink::error(error_code::offset_out_of_range, fetch_api::name,
                     "fetch offset " + std::to_string(p->fetch_offset) +
                         " is past the source's end " + std::to_string(end) + " (log start " +
                         std::to_string(log_start) + "): the source partition was truncated")
            .on(std::string(source_role))
            .at(topic, partition));
  }
  // In range again (a leader change raced the fetch): fetching continues.
}

void mirror_engine::source_records_deleted(partition_mirror& p, int64_t log_start_offset) {
  const int64_t from = p.fetch_offset;
  p.source_gap = source_offset_range{from, log_start_offset};
  if (!options_.skip_source_gaps) {
    fail_partition(p, partition_state::failed,
                   klink::error(errc::source_records_deleted, fetch_api::name,
                                "source offsets " + std::to_string(from) + ".." +
                                    std::to_string(log_start_offset - 1) +
                                    " were deleted before they were mirrored; set "
                                    "[links.mirror] on_source_gap = \"skip\" and reload to "
                                    "continue after them")
                       .on(std::string(source_role))
                       .at(p.source_topic, p.partition));
    return;
  }
  // The offset map records no destination offset for the gap: a consumer
  // position inside it translates to the first record after it.
  log::warn("source records deleted before they were mirrored: skipped (on_source_gap = skip)",
            {{"link", options_.link_name},
             {"topic", p.source_topic},
             {"partition", p.partition},
             {"from_offset", from},
             {"to_offset", log_start_offset}});
  p.counters.records_skipped += static_cast<uint64_t>(log_start_offset - from);
  p.fetch_offset = log_start_offset;
}

void mirror_engine::follow_read_replica(const fetch_round& round, partition_mirror& p,
                                        const fetched_partition& data) {
  // The leader names a replica in klink's rack; its answer then usually
  // carries no records. The fetch offset is unchanged, so the next fetch,
  // from the replica, picks up exactly here.
  if (data.preferred_read_replica >= 0 && data.preferred_read_replica != round.broker &&
      data.preferred_read_replica != p.preferred_read_replica) {
    if (source_.metadata().brokers.contains(data.preferred_read_replica)) {
      use_read_replica(p, data.preferred_read_replica);
    } else {
      // Not known yet: learn the broker's address first; the leader
      // names it again at the next fetch.
      request_metadata_refresh(source_);
    }
  } else if (data.preferred_read_replica < 0 && p.rechecked_read_replica >= 0 &&
             !round.from_replica(p)) {
    // The periodic re-check ended on the leader itself: that is news.
    log::info("fetching partition from its leader again",
              {{"link", options_.link_name},
               {"topic", p.source_topic},
               {"partition", p.partition},
               {"broker", p.rechecked_read_replica},
               {"reason", "the source leader named no replica at the periodic re-check"}});
    p.rechecked_read_replica = -1;
  }
}

asio::awaitable<void> mirror_engine::queue_fetched(const fetch_round& round, partition_mirror& p,
                                                   const fetched_partition& data) {
  auto out =
      transform_fetched_records(transform_input_of(data, round.held_response, p.fetch_offset));
  if (std::ranges::any_of(out.batches, &outbound_batch::needs_rebuild)) {
    co_await asio::post(rebuild_pool_, use_awaitable);
    rebuild_marked_batches(out);
    co_await asio::post(executor_, use_awaitable);
    if (p.state != partition_state::active || p.stopping || p.paused) co_return;
  }
  for (auto& b : out.batches) {
    if (b.rebuilt) b.owner = hold(std::move(b.owner));
    p.buffered_bytes += b.bytes.size();
    buffered_bytes_ += b.bytes.size();
    p.ready.push_back(std::move(b));
  }
  p.counters.batches_rebuilt += out.counters.batches_rebuilt;
  p.counters.control_batches_dropped += out.counters.control_batches_dropped;
  p.counters.aborted_batches_dropped += out.counters.aborted_batches_dropped;
  p.fetch_offset = out.next_fetch_offset;
  if (out.failure) {
    // Batches before the bad one still go out; nothing after it does:
    // fetching stops now, the partition stops once they are acknowledged.
    p.stop_after_queued =
        std::move(*out.failure).on(std::string(source_role)).at(p.source_topic, p.partition);
    if (p.idle()) fail_partition(p, partition_state::failed, *p.stop_after_queued);
  }
}

}  // namespace klink::mirror
