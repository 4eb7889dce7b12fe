// How a link's data path behaves: fetch sizes, the back-pressure bound,
// pipelining, timeouts, nearest-replica fetching, scale-out fencing. The
// linker re-exports this header: the daemon fills it in from the config.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

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
  // Source records deleted (retention, DeleteRecords) before they were
  // copied: false stops the partition as failed (SOURCE_RECORDS_DELETED);
  // true continues after the gap and counts the records skipped.
  bool skip_source_gaps = false;
};

}  // namespace klink::mirror
