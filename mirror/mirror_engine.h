// Moves batches from source partitions to mirror partitions for one link.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "kafka/asio.h"
#include "kafka/cluster.h"
#include "kafka/error.h"
#include "kafka/messages/fetch.h"
#include "kafka/messages/produce.h"
#include "mirror/latency_histogram.h"
#include "mirror/mirror_options.h"
#include "mirror/partition_mirror.h"

namespace klink::mirror {

// The idempotent-producer identity a partition continues with.
struct producer_identity {
  int64_t id = -1;
  int16_t epoch = -1;
  int32_t next_sequence = 0;
};

struct partition_start {
  std::string source_topic;
  std::string mirror_topic;
  int32_t partition = 0;
  int64_t source_offset = 0;  // first source offset to copy
  int64_t destination_offset =
      -1;  // where the first copied batch must land (-1: take it as it comes)
  // Absent: the engine's own producer id, sequences from 0.
  std::optional<producer_identity> producer;
  // Set: the partition cannot start (its durable state is unreadable); it is
  // listed as failed with this error and never fetched.
  std::optional<klink::error> failure;
};

// One acknowledged batch: its source range and where it landed.
struct acknowledgement {
  const partition_mirror& partition;
  int64_t source_base_offset;
  int64_t source_last_offset;
  int64_t destination_base_offset;
  int32_t record_count;
  // Where the records sat on the source, in order: one run base..base+count-1
  // for an ordinary batch, several for a compacted batch with holes.
  std::span<const record_run> source_runs;
};

// Fetch -> transform -> produce -> acknowledge for every partition of a link.
// Owned by the link's single-threaded executor, where all of it runs (not
// thread-safe); only the slow-path rebuild of a batch runs on its rebuild pool.
class mirror_engine {
 public:
  mirror_engine(asio::any_io_executor executor, kafka::cluster& source, kafka::cluster& destination,
                mirror_options options);
  ~mirror_engine();

  void add_partition(const partition_start& start);
  // Called for every acknowledged batch, in source order per partition.
  void on_acknowledged(std::function<void(const acknowledgement&)> callback) {
    on_ack_ = std::move(callback);
  }

  // Called when a partition stops on an error (failed or diverged).
  void on_partition_stopped(std::function<void(const partition_mirror&)> callback) {
    on_stopped_ = std::move(callback);
  }

  // Scale-out: nothing is sent while this answers false (the instance's lease
  // on its partitions ran out); batches wait.
  void set_write_guard(std::function<bool()> guard) { write_guard_ = std::move(guard); }
  // Scale-out hand-over, phase one: the partitions fetch nothing more and
  // their unsent batches are dropped (the next owner fetches them again);
  // batches in flight are still answered and recorded. Returns when none is
  // in flight (true) or at the deadline (false: the rest is abandoned).
  asio::awaitable<bool> release_partitions(
      const std::vector<std::pair<std::string, int32_t>>& which,
      std::chrono::milliseconds deadline);
  // Phase two: the engine forgets them. Their objects live on in `retired_`,
  // so a late answer still finds them (stopped, so it changes nothing).
  void remove_partitions(const std::vector<std::pair<std::string, int32_t>>& which);

  void start();
  // Phase one of shutdown: no new fetches; queued batches still go out.
  void stop_fetching();
  // Phase two: waits until everything fetched is acknowledged (true), or the
  // deadline passes (false). Stops the engine either way.
  asio::awaitable<bool> drain(std::chrono::milliseconds deadline);

  // Pausing stops the topic's partitions exactly: nothing more is fetched,
  // batches fetched but not sent are dropped (fetched again on resume), and a
  // Fetch answering later brings nothing in; batches already sent still get
  // their answers. Returns false if the engine has no such topic.
  bool set_paused(const std::string& source_topic, bool paused);
  // Waits until every batch of the paused topic sent before the pause is
  // answered (true), or the deadline passes (false).
  asio::awaitable<bool> settle_paused(const std::string& source_topic,
                                      std::chrono::milliseconds deadline);

  // For a promotion: fetch nothing at or past `source_offset` on this
  // partition (-1 lifts the hold).
  void hold_at(const std::string& source_topic, int32_t partition, int64_t source_offset);
  // Stops the topic for good: no more fetches and unsent batches dropped,
  // while batches in flight are still answered and recorded (so the offset
  // map knows where they landed); each partition is `stopped` once none is
  // in flight. Partitions already failed or diverged keep their state.
  void stop_topic(const std::string& source_topic);
  // Stops the topic's partitions now, abandoning whatever is in flight.
  void force_stop(const std::string& source_topic);

  const std::vector<std::unique_ptr<partition_mirror>>& partitions() const { return partitions_; }
  // One topic's partitions in partition order, without walking the others
  // (a batch promotion of thousands of topics asks once per topic).
  std::vector<partition_mirror*> partitions_of(const std::string& source_topic) const;
  // The producer `p` writes as and the sequence of its next batch; nullopt
  // while the engine has no producer id yet. A partition added again later
  // (a mirror reversed back to this link) continues it: the destination
  // remembers the producer's last sequence.
  std::optional<producer_identity> producer_of(const partition_mirror& p) const;
  std::size_t buffered_bytes() const { return buffered_bytes_; }
  // Bytes of fetch-response and rebuilt buffers still referenced by queued or
  // in-flight batches: what back-pressure bounds by max_buffered_bytes.
  std::size_t held_bytes() const { return *held_bytes_; }
  const mirror_options& options() const { return options_; }
  // Request latencies and the Kafka errors received, since the engine was made.
  const engine_stats& stats() const { return stats_; }

 private:
  static constexpr std::string_view source_role = "source";
  static constexpr std::string_view destination_role = "destination";

  struct produce_entry {
    partition_mirror* partition;
    int32_t sequence;
  };
  using fetched_partition = kafka::msg::fetch_response::fetchable_topic_response::partition_data;
  // One Fetch to one source broker while it is out (mirror_fetch.cpp). Its
  // partitions are `fetching`: nothing else touches them meanwhile.
  struct fetch_round {
    int32_t broker = -1;
    std::vector<partition_mirror*> partitions;
    // The ids of the topics the request names: from v13 the answer names
    // topics by id only.
    std::map<std::string, kafka::uuid> topic_ids;
    bool by_id = false;
    // The answer's buffer, counted against the budget until its last batch is
    // acknowledged: that is the memory really held.
    std::shared_ptr<kafka::byte_vector> held_response;
    // Whether this request reads `p` from a replica rather than its leader.
    bool from_replica(const partition_mirror& p) const {
      return p.preferred_read_replica >= 0 && p.preferred_read_replica == broker;
    }
  };

  // Fetching (mirror_fetch.cpp).
  asio::awaitable<void> fetch_scheduler();
  // One Fetch to `broker`: the leader of each partition, or the replica the
  // leader named for it.
  asio::awaitable<void> fetch_from(int32_t broker, std::vector<partition_mirror*> partitions);
  kafka::msg::fetch_request fetch_request_for(fetch_round& round);
  void end_fetch(const fetch_round& round, bool failed);
  // The request failed as a whole (no connection, no answer).
  void fetch_failed(const fetch_round& round, const klink::error& failure,
                    std::string_view log_message, std::string_view replica_reason);
  asio::awaitable<void> take_fetched(fetch_round& round, const kafka::msg::fetch_response& body);
  // A partition's error code: back to the leader, a reset, a stop or a
  // metadata refresh. False when there is none.
  bool handle_fetch_error(const fetch_round& round, partition_mirror& p,
                          const fetched_partition& data);
  void follow_read_replica(const fetch_round& round, partition_mirror& p,
                           const fetched_partition& data);
  // Transform, slow-path rebuild on the rebuild pool, then the ready queue.
  asio::awaitable<void> queue_fetched(const fetch_round& round, partition_mirror& p,
                                      const fetched_partition& data);

  // Producing (mirror_produce.cpp).
  asio::awaitable<void> send_scheduler();
  // The first send of `batch`: its sequence, and klink's producer in its header.
  void stamp_for_first_send(partition_mirror& p, outbound_batch& batch);
  asio::awaitable<void> produce_to(
      int32_t leader, std::vector<produce_entry> entries,
      std::shared_ptr<std::vector<std::shared_ptr<kafka::byte_vector>>> owners);
  kafka::msg::produce_request produce_request_for(const std::vector<produce_entry>& entries) const;
  void take_produce_answer(const std::vector<produce_entry>& entries,
                           const kafka::msg::produce_request& request,
                           const kafka::msg::produce_response& body, bool by_id);
  // Every batch of a request that was not answered fails with `code`
  // (NETWORK_EXCEPTION: it may have been written; resent idempotently).
  void fail_entries(const std::vector<produce_entry>& entries, kafka::error_code code,
                    const std::string& detail);
  asio::awaitable<bool> ensure_producer_id();

  // A batch's answer: where it landed, or why not.
  void handle_produce_result(partition_mirror& p, int32_t sequence,
                             const klink::result<int64_t>& landed);
  // Scale-out fencing; true when `refused` stopped the partition as fenced.
  bool fenced(partition_mirror& p, const in_flight_batch& batch, const klink::error& refused);
  // Every answer of a failed round is in: resend what is unacknowledged.
  void end_failed_round(partition_mirror& p, const klink::error& last);
  void commit_acknowledged(partition_mirror& p);

  asio::awaitable<void> refresh_metadata(kafka::cluster& cluster);
  void finish_stopping(partition_mirror& p);
  // Drops the batches not sent yet (they are fetched again), rewinding the
  // fetch position to the first of them.
  void drop_unsent(partition_mirror& p);
  void fail_partition(partition_mirror& p, partition_state state, klink::error why);
  // OFFSET_OUT_OF_RANGE without the log's bounds: asks the source for them,
  // then treats a deleted start as source_records_deleted.
  asio::awaitable<void> check_source_range(std::string topic, int32_t partition);
  // The source's log starts past `p`'s fetch offset: fail or skip (on_source_gap).
  void source_records_deleted(partition_mirror& p, int64_t log_start_offset);
  void request_metadata_refresh(kafka::cluster& cluster);
  // KIP-392: fetch `p` from `broker` (a replica the leader named) from now on.
  void use_read_replica(partition_mirror& p, int32_t broker);
  // Back to the leader; `recheck` marks the periodic return, not a failure.
  void leave_read_replica(partition_mirror& p, std::string_view reason, bool recheck = false);
  void release(partition_mirror& p, std::size_t bytes);
  std::shared_ptr<kafka::byte_vector> hold(std::shared_ptr<kafka::byte_vector> buffer);
  void wake_fetcher();
  void wake_sender();
  partition_mirror* find_by_mirror(const std::string& mirror_topic, int32_t partition);
  partition_mirror* find_by_source(const std::string& source_topic, int32_t partition);
  std::chrono::milliseconds backoff_for(int failures) const;
  // Counts `e` as its cluster ("source"/"destination"), call and Kafka code
  // name; a request that failed as a whole (no Kafka code) is a NETWORK_EXCEPTION.
  void count_error(const klink::error& e);

  asio::any_io_executor executor_;
  kafka::cluster& source_;
  kafka::cluster& destination_;
  mirror_options options_;
  // Declared before everything that holds buffers, so it outlives them.
  // Atomic: a rebuild on the worker thread may drop the last reference.
  std::shared_ptr<std::atomic<std::size_t>> held_bytes_ =
      std::make_shared<std::atomic<std::size_t>>(0);
  std::vector<std::unique_ptr<partition_mirror>> partitions_;
  std::vector<std::unique_ptr<partition_mirror>> retired_;  // handed over (scale-out)
  std::function<bool()> write_guard_;
  std::map<std::pair<std::string, int32_t>, partition_mirror*> by_source_;
  std::map<std::pair<std::string, int32_t>, partition_mirror*> by_mirror_;
  std::function<void(const acknowledgement&)> on_ack_;
  std::function<void(const partition_mirror&)> on_stopped_;

  // The slow path (rebuilding batches) runs here so it never stalls the
  // link's executor.
  asio::thread_pool rebuild_pool_{1};
  asio::steady_timer fetch_wakeup_;
  asio::steady_timer send_wakeup_;
  std::map<int32_t, bool> fetch_in_flight_;  // per source broker
  std::map<int32_t, std::chrono::steady_clock::time_point> fetch_retry_after_;
  std::map<int32_t, int> fetch_failures_;
  std::map<int32_t, int> produce_requests_in_flight_;  // per destination leader
  std::size_t rotate_ = 0;
  std::size_t buffered_bytes_ = 0;
  bool fetching_stopped_ = false;
  bool stopped_ = false;
  bool source_refresh_running_ = false;
  bool destination_refresh_running_ = false;
  std::chrono::steady_clock::time_point source_refresh_after_{};
  std::chrono::steady_clock::time_point destination_refresh_after_{};

  engine_stats stats_;

  int64_t producer_id_ = -1;
  int16_t producer_epoch_ = -1;
  bool producer_id_pending_ = false;
};

}  // namespace klink::mirror
