#include "daemon.h"

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <thread>
#include <vector>

#include "admin/admin_server.h"
#include "kafka/asio.h"
#include "kafka/cluster.h"
#include "linker/link.h"
#include "log/log.h"

namespace klink {

namespace {

// How long phase one of shutdown may take before unacknowledged batches are
// abandoned (they are fetched again after a restart).
constexpr std::chrono::seconds drain_deadline{30};

std::vector<kafka::broker_address> to_addresses(const std::vector<std::string>& servers) {
  std::vector<kafka::broker_address> out;
  for (const auto& s : servers) {
    // The config loader already rejected malformed entries.
    if (auto address = kafka::parse_broker_address(s)) out.push_back(*address);
  }
  return out;
}

kafka::security_options to_security(const config::cluster_config& cfg) {
  kafka::security_options out;
  if (cfg.tls) {
    out.tls.enabled = true;
    out.tls.ca_file = cfg.tls->ca_file;
    out.tls.cert_file = cfg.tls->cert_file;
    out.tls.key_file = cfg.tls->key_file;
    out.tls.verify_hostname = cfg.tls->verify_hostname;
  }
  if (cfg.sasl) {
    switch (cfg.sasl->mechanism) {
      case config::sasl_mechanism::plain:
        out.sasl.mechanism = kafka::sasl_mechanism::plain;
        break;
      case config::sasl_mechanism::scram_sha_256:
        out.sasl.mechanism = kafka::sasl_mechanism::scram_sha_256;
        break;
      case config::sasl_mechanism::scram_sha_512:
        out.sasl.mechanism = kafka::sasl_mechanism::scram_sha_512;
        break;
    }
    out.sasl.username = cfg.sasl->username;
    out.sasl.password_file = cfg.sasl->password_file;
    out.sasl.password_env = cfg.sasl->password_env;
  }
  return out;
}

linker::link_options to_link_options(const config::link_config& cfg) {
  linker::link_options o;
  o.name = cfg.name;
  o.source_bootstrap = to_addresses(cfg.source.bootstrap_servers);
  o.destination_bootstrap = to_addresses(cfg.destination.bootstrap_servers);
  const auto timeout = std::chrono::milliseconds(cfg.mirror.request_timeout_ms);
  // Fetch waits up to fetch_max_wait on the broker: the timeout must cover it.
  o.source_connection.client_id = cfg.source.client_id;
  o.source_connection.request_timeout =
      timeout + std::chrono::milliseconds(cfg.mirror.fetch_max_wait_ms);
  o.destination_connection.client_id = cfg.destination.client_id;
  o.destination_connection.request_timeout = timeout;
  o.source_connection.security = to_security(cfg.source);
  o.destination_connection.security = to_security(cfg.destination);
  // Undocumented on purpose: a debugging aid (see connection_options::capture_dir).
  if (const char* dir = std::getenv("KLINK_PROTOCOL_CAPTURE_DIR")) {
    o.source_connection.capture_dir = std::string(dir) + "/source";
    o.destination_connection.capture_dir = std::string(dir) + "/destination";
    std::filesystem::create_directories(o.source_connection.capture_dir);
    std::filesystem::create_directories(o.destination_connection.capture_dir);
  }
  o.topic_filter = [filter = cfg.topics](const std::string& topic) {
    return filter.matches(topic);
  };
  o.include_patterns = cfg.topics.include();
  o.start = cfg.mirror.start == config::start_position::earliest ? linker::start_position::earliest
                                                                 : linker::start_position::latest;
  o.replication_factor = cfg.destination.replication_factor;
  o.mirror.link_name = cfg.name;
  o.mirror.fetch_max_wait = std::chrono::milliseconds(cfg.mirror.fetch_max_wait_ms);
  o.mirror.fetch_max_bytes = cfg.mirror.fetch_max_bytes;
  o.mirror.partition_fetch_max_bytes = cfg.mirror.partition_fetch_max_bytes;
  o.mirror.max_buffered_bytes = static_cast<std::size_t>(cfg.mirror.max_buffered_bytes);
  o.mirror.max_in_flight = cfg.mirror.max_in_flight;
  o.mirror.request_timeout = timeout;
  o.sync_consumer_offsets = cfg.consumer_offsets.sync;
  o.consumer_groups =
      offsets::group_filter(cfg.consumer_offsets.include, cfg.consumer_offsets.exclude);
  o.consumer_offsets_interval = std::chrono::milliseconds(cfg.consumer_offsets.interval_ms);
  return o;
}

}  // namespace

int run_daemon(const config::config& cfg) {
  // One thread runs every link: the data path never blocks, and a single
  // executor means no locks on partition state.
  asio::io_context io(1);
  std::vector<std::unique_ptr<linker::link>> links;
  for (const auto& link_cfg : cfg.links) {
    links.push_back(std::make_unique<linker::link>(io.get_executor(), to_link_options(link_cfg)));
  }
  // Listens before the links start, so a taken port fails start-up at once.
  admin::admin_server admin(io.get_executor(), cfg.admin, links);

  asio::signal_set signals(io, SIGINT, SIGTERM);
  bool shutting_down = false;
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int signal_number) {
        if (ec) return;
        if (shutting_down) {
          // A second signal skips the drain: exit now, unacknowledged batches
          // are fetched again after a restart.
          log::warn("second signal: stopping without waiting for in-flight batches",
                    {{"signal", signal_number}});
          io.stop();
          return;
        }
        shutting_down = true;
        log::info("shutting down: draining in-flight batches (send the signal again to skip)",
                  {{"signal", signal_number}});
        signals.async_wait(on_signal);
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
              for (auto& l : links)
                co_await l->shutdown(drain_deadline);
              log::info("klink stopped");
              io.stop();
            },
            asio::detached);
      };
  signals.async_wait(on_signal);

  for (const auto& l : links) {
    log::info("link starting", {{"link", l->name()}});
    l->start();
  }
  admin.start();
  log::info("admin endpoint listening",
            {{"host", cfg.admin.host},
             {"port", admin.port()},
             {"scheme", admin.https() ? "https" : "http"},
             {"client_certificates", cfg.admin.tls && !cfg.admin.tls->client_ca_file.empty()},
             {"auth", cfg.admin.tokens_file.empty() ? "none" : "bearer tokens"}});
  log::info("klink running", {{"links", cfg.links.size()}, {"config", cfg.source_file}});
  io.run();
  return 0;
}

}  // namespace klink
