// Reading and writing one partition outside the data path: an immediate
// Fetch (re-reading the source at resume, reading a mirror partition's last
// batch, reading klink's state topics) and a one-batch Produce (writing
// klink's state topics). The data path's pipelined Fetch and Produce live in
// mirror/.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kafka/asio.h"
#include "kafka/client/call.h"
#include "kafka/client/list_offsets.h"
#include "kafka/cluster.h"
#include "kafka/error.h"
#include "kafka/protocol/bytes.h"

namespace klink::kafka::client {

struct aborted_transaction {
  int64_t producer_id = -1;
  int64_t first_offset = -1;
};

// One partition's part of a Fetch answer. `records` points into `buffer`,
// which the caller owns from here (batch headers may be rewritten in place).
struct fetched_partition {
  std::shared_ptr<byte_vector> buffer;
  mutable_bytes_view records;  // empty when there is nothing at the offset yet
  int64_t high_watermark = -1;
  int64_t last_stable_offset = -1;
  int64_t log_start_offset = -1;
  // OFFSET_OUT_OF_RANGE: retention or DeleteRecords removed the offset
  // (log_start_offset says where the log starts now); no records.
  bool out_of_range = false;
  std::vector<aborted_transaction> aborted;  // read_committed only
};

// One Fetch of one partition from its leader in the cached metadata, without
// waiting for data (max_wait 0). Fails when the partition has no known
// leader, the request fails, or the leader answers an error other than
// OFFSET_OUT_OF_RANGE.
asio::awaitable<result<fetched_partition>> fetch_partition(cluster& c, const std::string& topic,
                                                           int32_t partition, int64_t offset,
                                                           int32_t max_bytes, isolation level);

// Appends one record batch (built with kafka/records.h) to a partition with
// acks=all and returns its base offset. On failure the partition's leader is
// forgotten, so that the next call asks the metadata again.
asio::awaitable<result<int64_t>> produce_batch(cluster& c, const std::string& topic,
                                               int32_t partition,
                                               std::shared_ptr<const byte_vector> batch);

}  // namespace klink::kafka::client
