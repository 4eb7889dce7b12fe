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
#include "mirror/latency_histogram.h"
#include "mirror/partition_mirror.h"

namespace klink::mirror {

struct mirror_options {
  std::string link_name;
  std::chrono::milliseconds fetch_max_wait{500};
  int32_t fetch_max_bytes = 50 * 1024 * 1024;
  int32_t partition_fetch_max_bytes = 8 * 1024 * 1024;
  // Fetched but not yet acknowledged bytes, summed over the link: the
  // back-pressure bound. Fetching pauses above it.
  std::size_t max_buffered_bytes = 128u * 1024 * 1024;
  int max_in_flight = 5;  // per partition; the broker deduplicates at most 5
  std::size_t produce_request_max_bytes = 8u * 1024 * 1024;
  std::chrono::milliseconds request_timeout{30000};
  std::chrono::milliseconds retry_backoff{100};
  std::chrono::milliseconds retry_backoff_max{5000};
  // KIP-392: klink's rack, sent in Fetch so the source leader can point each
  // partition at a replica in the same rack.
  std::string rack_id;  // empty: always fetch from leaders
  // How long klink keeps fetching a partition from the replica the leader
  // named before asking the leader again (the Java consumer's metadata.max.age).
  std::chrono::milliseconds read_replica_max_age{std::chrono::minutes(5)};
  // Scale-out: a sequence the destination refuses for the first batch in
  // flight (OUT_OF_ORDER_SEQUENCE_NUMBER), or a producer epoch it refuses,
  // means another instance wrote to the partition since: the partition stops
  // as `fenced` instead of retrying.
  bool fence_on_sequence_conflict = false;
};

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
// Runs entirely on one single-threaded executor (the link's); not thread-safe.
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

  // Pausing stops fetching for the topic's partitions; batches already
  // fetched are still delivered. Returns false if the engine has no such topic.
  bool set_paused(const std::string& source_topic, bool paused);

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
  std::size_t buffered_bytes() const { return buffered_bytes_; }
  // Bytes of fetch-response and rebuilt buffers still referenced by queued or
  // in-flight batches: what back-pressure bounds by max_buffered_bytes.
  std::size_t held_bytes() const { return *held_bytes_; }
  const mirror_options& options() const { return options_; }
  // Request latencies and the Kafka errors received, since the engine was made.
  const engine_stats& stats() const { return stats_; }

 private:
  struct produce_entry {
    partition_mirror* partition;
    int32_t sequence;
  };

  asio::awaitable<void> fetch_scheduler();
  // One Fetch to `broker`: the leader of each partition, or the replica the
  // leader named for it.
  asio::awaitable<void> fetch_from(int32_t broker, std::vector<partition_mirror*> partitions);
  asio::awaitable<void> send_scheduler();
  asio::awaitable<void> produce_to(
      int32_t leader, std::vector<produce_entry> entries,
      std::shared_ptr<std::vector<std::shared_ptr<kafka::byte_vector>>> owners);
  asio::awaitable<bool> ensure_producer_id();
  asio::awaitable<void> refresh_metadata(kafka::cluster& cluster);

  void handle_produce_result(partition_mirror& p, int32_t sequence, int16_t error_code,
                             const std::string& message, int64_t base_offset);
  void commit_acknowledged(partition_mirror& p);
  void finish_stopping(partition_mirror& p);
  // Drops the batches not sent yet (they are fetched again), rewinding the
  // fetch position to the first of them.
  void drop_unsent(partition_mirror& p);
  void fail_partition(partition_mirror& p, partition_state state, const std::string& reason);
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
  void count_error(std::string_view cluster, std::string_view api, std::string_view error) {
    ++stats_.kafka_errors[{cluster, api, error}];
  }

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
  // network thread.
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
