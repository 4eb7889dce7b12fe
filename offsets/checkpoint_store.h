// Durable checkpoints of every mirror partition's offset map, kept in a
// compacted topic on the destination so that a replacement instance with an
// empty disk resumes exactly where the last one stopped.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kafka/asio.h"
#include "kafka/cluster.h"
#include "kafka/error.h"

namespace klink::offsets {

// Internal topics start with "__": klink never mirrors them.
inline constexpr std::string_view checkpoint_topic = "__klink_offsets";

std::string checkpoint_key(std::string_view link, std::string_view topic, int32_t partition);

// Reads and writes the checkpoint topic through the client layer
// (kafka/client: CreateTopics, Fetch, Produce). Lives on its link's executor.
class checkpoint_store {
 public:
  // `topic`: the compacted topic on the destination holding the entries
  // (one partition); the same store keeps klink's other durable state.
  checkpoint_store(kafka::cluster& destination, int16_t replication_factor,
                   std::string_view topic = checkpoint_topic);

  const std::string& topic() const { return topic_; }

  // Reads every checkpoint in the topic. `create`: creates it when it is
  // missing; false: a missing topic reads as empty and is not created (for a
  // cluster klink only reads from, such as a link's source).
  asio::awaitable<result<void>> load(bool create = true);

  // The last checkpoint written under `key`, if any.
  const std::string* find(const std::string& key) const;
  // Every entry loaded, by key.
  const std::map<std::string, std::string>& entries() const { return loaded_; }
  // Where the entry under `key` was read or written, for errors about it:
  // "__klink_offsets partition 0 offset 57" ("__klink_offsets" when unknown).
  std::string location_of(const std::string& key) const;

  // Writes the entries as one batch with acks=all; returns once the
  // destination acknowledged them (find() answers them from then on).
  // Compaction keeps the newest per key.
  asio::awaitable<result<void>> write(
      const std::vector<std::pair<std::string, std::string>>& entries);

 private:
  asio::awaitable<result<void>> ensure_topic();
  asio::awaitable<result<void>> read_all();

  kafka::cluster& destination_;
  int16_t replication_factor_;
  std::string topic_;
  std::map<std::string, std::string> loaded_;
  std::map<std::string, int64_t> offsets_;  // the offset each loaded entry was read at
};

}  // namespace klink::offsets
