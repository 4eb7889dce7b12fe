// The offset book of a link: every running mirror partition's exact offset
// map, fed by the engine's acknowledgements, checkpointed to the destination,
// and the place a partition starts from (its checkpoint, advanced over what
// the destination holds beyond it: offsets/README.md, "Exact resume").
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kafka/asio.h"
#include "kafka/client/group_assignment.h"
#include "kafka/error.h"
#include "mirror/mirror_engine.h"
#include "offsets/checkpoint_store.h"
#include "offsets/offset_map.h"

namespace klink::linker {

struct link_context;
using kafka::client::topic_partition;

// Lives on the link's executor. A private part of the link (it names the
// data path's and the offset map's types).
class offset_book {
 public:
  explicit offset_book(link_context& context);

  // Reads every checkpoint in __klink_offsets (creating the topic if needed);
  // again at a scale-out take-over, for the previous owner's last ones.
  // `create`: false for a reverse link (see mirror_lifecycle::load).
  asio::awaitable<result<void>> load(bool create = true);
  // Whether the mirror of `topic` was checkpointed before (a record of it
  // exists even if its state record is missing).
  bool checkpointed(const std::string& topic) const;

  // Starts `partitions` of `topic` in the engine: each from its checkpoint
  // (advanced over the destination's tail), or from `fresh_starts[p]` when it
  // has none or `fresh` says its checkpoints belong to another mirror topic.
  // The starting maps are written before anything is sent. Each partition
  // continues the idempotent producer of its last batch on the destination:
  // a predecessor's writes still in flight (a crashed process, a deposed
  // scale-out instance) then land as duplicates the broker drops, or are
  // refused, never as a second copy.
  asio::awaitable<result<void>> start_partitions(const std::string& topic,
                                                 const std::vector<int32_t>& partitions,
                                                 const std::vector<int64_t>& fresh_starts,
                                                 bool fresh);

  // Failback: `topic`'s partitions start a new generation of its mirror at
  // starts[p] = (source offset, destination offset): those checkpoints are
  // written, replacing whatever an earlier generation left.
  asio::awaitable<result<void>> begin(const std::string& topic,
                                      const std::vector<std::pair<int64_t, int64_t>>& starts);
  // Extends the partition's map by one acknowledged batch.
  void record(const mirror::acknowledgement& ack);
  // Writes the maps that changed since they were last written.
  asio::awaitable<result<void>> write();
  // Forgets handed-over partitions (their maps are the next owner's now).
  void forget(const std::vector<topic_partition>& partitions);

  // The exact destination offset of the first mirrored record at or after
  // `source_offset` (offsets/README.md, "Translation rule"); nullopt when the
  // partition is not mirrored here or the offset lies before what is known.
  std::optional<int64_t> translate(const std::string& topic, int32_t partition,
                                   int64_t source_offset) const;
  bool has(const std::string& topic, int32_t partition) const;
  // Failback: the source offset a consumer at `destination_offset` on the
  // mirror continues from (offset_map::translate_back), from the running map
  // or the partition's last checkpoint (a switched mirror's).
  std::optional<int64_t> translate_back(const std::string& topic, int32_t partition,
                                        int64_t destination_offset) const;

 private:
  // The idempotent producer partition `p` continues (nullopt: the engine's own).
  asio::awaitable<result<std::optional<mirror::producer_identity>>> continued_producer(
      const std::string& topic, int32_t p, int64_t destination_end);
  // A partition whose checkpoint cannot be read: listed as failed, not started.
  void hold_unreadable(const std::string& topic, int32_t partition, const std::string& key,
                       error why);

  link_context& ctx_;
  offsets::checkpoint_store checkpoints_;
  std::map<topic_partition, offsets::offset_map> maps_;
  std::map<std::string, std::string> last_written_;  // checkpoint key -> value
};

}  // namespace klink::linker
