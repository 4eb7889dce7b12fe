// A Kafka cluster as klink sees it: brokers, connections to them, and cached metadata.
#pragma once

#include <chrono>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kafka/asio.h"
#include "kafka/connection.h"
#include "kafka/messages/metadata.h"
#include "kafka/protocol/wire.h"

namespace klink::kafka {

struct partition_metadata {
  int32_t partition = -1;
  int16_t error = 0;
  int32_t leader = -1;
  int32_t leader_epoch = -1;
  std::vector<int32_t> replicas;
};

struct topic_metadata {
  std::string name;
  uuid topic_id{};
  int16_t error = 0;
  bool is_internal = false;
  std::vector<partition_metadata> partitions;  // indexed by partition number
};

struct cluster_metadata {
  std::string cluster_id;
  int32_t controller_id = -1;
  std::map<int32_t, broker_address> brokers;
  std::map<std::string, topic_metadata> topics;
};

// Parses "host:port" ("[v6]:port" for IPv6); nullopt when malformed.
std::optional<broker_address> parse_broker_address(const std::string& text);

// Connections to the brokers of one cluster plus a metadata cache.
// Lives on its link's single-threaded executor.
class cluster {
 public:
  cluster(asio::any_io_executor executor, std::string role, std::vector<broker_address> bootstrap,
          connection_options options);

  // Refreshes metadata for `topics`, or for every topic when empty and `all` is set.
  asio::awaitable<result<void>> refresh_metadata(const std::vector<std::string>& topics,
                                                 bool all = false);
  // Called at the end of every metadata refresh, whoever asked for it (the
  // link's periodic one, the data path's after a failed Fetch or Produce),
  // with its failure, or null when the cluster answered: whether the cluster
  // is reachable, as soon as any part of klink finds out.
  void on_metadata_refreshed(std::function<void(const klink::error*)> observer) {
    refreshed_observer_ = std::move(observer);
  }

  // An open connection to the broker with this node id.
  asio::awaitable<result<std::shared_ptr<connection>>> connection_to(int32_t node_id);
  // Any reachable broker: known brokers first, then the bootstrap list.
  asio::awaitable<result<std::shared_ptr<connection>>> any_connection();

  template <class Api>
  asio::awaitable<result<response<typename Api::response>>> send_to(
      int32_t node_id, const typename Api::request& request,
      std::shared_ptr<const void> keepalive = {}) {
    auto conn = co_await connection_to(node_id);
    if (!conn) co_return std::unexpected(conn.error());
    co_return co_await (*conn)->template send<Api>(request, std::move(keepalive));
  }

  template <class Api>
  asio::awaitable<result<response<typename Api::response>>> send_any(
      const typename Api::request& request) {
    auto conn = co_await any_connection();
    if (!conn) co_return std::unexpected(conn.error());
    co_return co_await (*conn)->template send<Api>(request);
  }

  // Admin requests (CreateTopics, CreatePartitions) go to the controller the
  // last metadata named, or to any broker (which forwards) when none is known.
  template <class Api>
  asio::awaitable<result<response<typename Api::response>>> send_to_controller(
      const typename Api::request& request) {
    // Not `cond ? co_await a : co_await b`: g++ 12 miscompiles that form and
    // frees the result twice.
    result<response<typename Api::response>> reply;
    if (metadata_.controller_id >= 0) {
      reply = co_await send_to<Api>(metadata_.controller_id, request);
    } else {
      reply = co_await send_any<Api>(request);
    }
    co_return reply;
  }

  const cluster_metadata& metadata() const { return metadata_; }
  const topic_metadata* topic(const std::string& name) const;
  std::optional<int32_t> leader_of(const std::string& topic, int32_t partition) const;
  // Forgets a leader after NOT_LEADER so the next lookup waits for fresh metadata.
  void invalidate_leader(const std::string& topic, int32_t partition);
  const std::string& role() const { return role_; }
  void close();

 private:
  void retire_expiring();

  asio::any_io_executor executor_;
  std::string role_;
  std::vector<broker_address> bootstrap_;
  connection_options options_;
  cluster_metadata metadata_;
  std::map<int32_t, std::shared_ptr<connection>> connections_;
  std::size_t next_bootstrap_ = 0;
  bool closed_ = false;
  std::function<void(const klink::error*)> refreshed_observer_;
};

}  // namespace klink::kafka
