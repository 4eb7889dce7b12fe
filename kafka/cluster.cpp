#include "kafka/cluster.h"

#include <charconv>

namespace klink::kafka {

std::optional<broker_address> parse_broker_address(const std::string& text) {
  std::string host;
  std::string port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos) return std::nullopt;
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (host.empty() || ec != std::errc{} || end != port_text.data() + port_text.size() ||
      port == 0 || port > 65535) {
    return std::nullopt;
  }
  return broker_address{host, static_cast<uint16_t>(port)};
}

cluster::cluster(asio::any_io_executor executor, std::string role,
                 std::vector<broker_address> bootstrap, connection_options options)
    : executor_(std::move(executor)),
      role_(std::move(role)),
      bootstrap_(std::move(bootstrap)),
      options_(std::move(options)) {}

const topic_metadata* cluster::topic(const std::string& name) const {
  auto it = metadata_.topics.find(name);
  return it == metadata_.topics.end() ? nullptr : &it->second;
}

std::optional<int32_t> cluster::leader_of(const std::string& topic_name, int32_t partition) const {
  const auto* t = topic(topic_name);
  if (t == nullptr || partition < 0 ||
      static_cast<std::size_t>(partition) >= t->partitions.size()) {
    return std::nullopt;
  }
  const auto& p = t->partitions[static_cast<std::size_t>(partition)];
  if (p.leader < 0) return std::nullopt;
  return p.leader;
}

void cluster::invalidate_leader(const std::string& topic_name, int32_t partition) {
  auto it = metadata_.topics.find(topic_name);
  if (it == metadata_.topics.end()) return;
  auto& parts = it->second.partitions;
  if (partition >= 0 && static_cast<std::size_t>(partition) < parts.size()) {
    parts[static_cast<std::size_t>(partition)].leader = -1;
  }
}

asio::awaitable<result<std::shared_ptr<connection>>> cluster::connection_to(int32_t node_id) {
  if (closed_) co_return std::unexpected(klink::error(client_errc::closed, {}, "cluster closed"));
  retire_expiring();
  auto existing = connections_.find(node_id);
  if (existing != connections_.end() && existing->second->is_closed()) {
    connections_.erase(existing);
  }
  existing = connections_.find(node_id);
  if (existing == connections_.end()) {
    auto broker = metadata_.brokers.find(node_id);
    if (broker == metadata_.brokers.end()) {
      co_return std::unexpected(
          klink::error(client_errc::no_broker, {},
                       role_ + " cluster has no known broker with id " + std::to_string(node_id)));
    }
    existing =
        connections_
            .emplace(node_id, connection::create(executor_, node_id, broker->second, options_))
            .first;
  }
  auto conn = existing->second;
  auto opened = co_await conn->ensure_open();
  if (!opened) {
    if (auto again = connections_.find(node_id);
        again != connections_.end() && again->second == conn) {
      connections_.erase(again);
    }
    co_return std::unexpected(opened.error());
  }
  co_return conn;
}

asio::awaitable<result<std::shared_ptr<connection>>> cluster::any_connection() {
  if (closed_) co_return std::unexpected(klink::error(client_errc::closed, {}, "cluster closed"));
  retire_expiring();
  for (auto& [node_id, conn] : connections_) {
    if (conn->is_open()) co_return conn;
  }
  klink::error last(client_errc::no_broker, {}, role_ + " cluster: no broker reachable");
  for (const auto& [node_id, address] : metadata_.brokers) {
    auto conn = co_await connection_to(node_id);
    if (conn) co_return conn;
    last = conn.error();
  }
  // Bootstrap connections get negative ids, so they never shadow a real broker.
  for (std::size_t attempt = 0; attempt < bootstrap_.size(); ++attempt) {
    const std::size_t index = next_bootstrap_++ % bootstrap_.size();
    auto conn = connection::create(executor_, -1 - static_cast<int32_t>(index), bootstrap_[index],
                                   options_);
    auto opened = co_await conn->ensure_open();
    if (opened) {
      connections_[conn->node_id()] = conn;
      co_return conn;
    }
    last = opened.error();
  }
  co_return std::unexpected(last);
}

asio::awaitable<result<void>> cluster::refresh_metadata(const std::vector<std::string>& topics,
                                                        bool all) {
  using api = msg::metadata_api;
  using request_topic = decltype(msg::metadata_request::topics)::value_type::value_type;
  msg::metadata_request request;
  request.allow_auto_topic_creation = false;
  if (all) {
    request.topics = std::nullopt;
  } else {
    request.topics.emplace();
    for (const auto& name : topics) {
      request_topic t;
      t.name = name;
      request.topics->push_back(std::move(t));
    }
  }
  auto reply = co_await send_any<api>(request);
  if (!reply) {
    if (refreshed_observer_) refreshed_observer_(&reply.error());
    co_return std::unexpected(reply.error());
  }
  const auto& body = reply->body;

  std::map<int32_t, broker_address> brokers;
  for (const auto& b : body.brokers) {
    brokers[b.node_id] = broker_address{b.host, static_cast<uint16_t>(b.port)};
  }
  // A broker whose address changed gets a fresh connection.
  for (auto it = connections_.begin(); it != connections_.end();) {
    auto known = brokers.find(it->first);
    if (it->first >= 0 && (known == brokers.end() || !(known->second == it->second->address()))) {
      it->second->close("broker left the cluster metadata");
      it = connections_.erase(it);
    } else {
      ++it;
    }
  }
  metadata_.brokers = std::move(brokers);
  if (body.cluster_id) metadata_.cluster_id = *body.cluster_id;
  metadata_.controller_id = body.controller_id;
  if (all) metadata_.topics.clear();
  for (const auto& t : body.topics) {
    if (!t.name) continue;
    topic_metadata meta;
    meta.name = *t.name;
    meta.topic_id = t.topic_id;
    meta.error = t.error_code;
    meta.is_internal = t.is_internal;
    for (const auto& p : t.partitions) {
      if (p.partition_index < 0) continue;
      if (static_cast<std::size_t>(p.partition_index) >= meta.partitions.size()) {
        meta.partitions.resize(static_cast<std::size_t>(p.partition_index) + 1);
      }
      auto& pm = meta.partitions[static_cast<std::size_t>(p.partition_index)];
      pm.partition = p.partition_index;
      pm.error = p.error_code;
      pm.leader = p.leader_id;
      pm.leader_epoch = p.leader_epoch;
      pm.replicas = p.replica_nodes;
    }
    metadata_.topics[meta.name] = std::move(meta);
  }
  if (refreshed_observer_) refreshed_observer_(nullptr);
  co_return result<void>{};
}

// KIP-368 re-authentication by replacement: a connection whose SASL session
// nears its end (85-90% of the lifetime the broker gave) is no longer handed
// out; a fresh connection (new TLS handshake, new SASL exchange, password and
// PEM files read again) takes its place, and the old one closes once its
// in-flight requests are answered. Callers ask the cluster for a connection
// per request, so nothing keeps sending on the old one. Chosen over in-band
// re-authentication (SaslHandshake + SaslAuthenticate again on the open
// connection) because that exchange must not interleave with other requests:
// every new request would have to be held back while it runs, on connections
// that are pipelined and rarely idle. The cost is one reconnect per session
// lifetime (hours, normally). See kafka/SECURITY.md.
void cluster::retire_expiring() {
  for (auto it = connections_.begin(); it != connections_.end();) {
    if (it->second->is_open() && it->second->reauthentication_due()) {
      it->second->retire();
      it = connections_.erase(it);
    } else {
      ++it;
    }
  }
}

void cluster::close() {
  closed_ = true;
  for (auto& [id, conn] : connections_)
    conn->close("shutting down");
  connections_.clear();
}

}  // namespace klink::kafka
