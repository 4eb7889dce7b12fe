#include "link_options.h"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string_view>

namespace klink {

namespace {

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

}  // namespace

linker::link_options to_link_options(const config::config& whole, const config::link_config& cfg) {
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
  switch (cfg.mirror.start) {
    case config::start_position::earliest:
      o.start = linker::start_position::earliest;
      break;
    case config::start_position::latest:
      o.start = linker::start_position::latest;
      break;
    case config::start_position::timestamp:
      o.start = linker::start_position::timestamp;
      break;
  }
  o.start_timestamp_ms = cfg.mirror.start_timestamp_ms;
  o.topic_prefix = cfg.topic_prefix;
  o.mirror_prefixes = config::mirror_prefixes_into_source(whole, cfg);
  o.synced_configs = cfg.sync_configs;
  o.topic_refresh_interval = std::chrono::milliseconds(cfg.topic_refresh_interval_ms);
  o.mirror.rack_id = cfg.source.client_rack;
  o.replication_factor = cfg.destination.replication_factor;
  o.mirror.link_name = cfg.name;
  o.mirror.fetch_max_wait = std::chrono::milliseconds(cfg.mirror.fetch_max_wait_ms);
  o.mirror.fetch_max_bytes = cfg.mirror.fetch_max_bytes;
  o.mirror.partition_fetch_max_bytes = cfg.mirror.partition_fetch_max_bytes;
  o.mirror.max_buffered_bytes = static_cast<std::size_t>(cfg.mirror.max_buffered_bytes);
  o.mirror.max_in_flight = cfg.mirror.max_in_flight;
  o.mirror.skip_source_gaps = cfg.mirror.on_source_gap == config::source_gap_policy::skip;
  o.mirror.request_timeout = timeout;
  o.sync_consumer_offsets = cfg.consumer_offsets.sync;
  o.consumer_groups =
      offsets::group_filter(cfg.consumer_offsets.include, cfg.consumer_offsets.exclude);
  o.consumer_offsets_interval = std::chrono::milliseconds(cfg.consumer_offsets.interval_ms);
  o.scale_out.enabled = cfg.scale_out.enabled;
  // The loader applies the default; a config built in code may not have.
  o.scale_out.group_id =
      cfg.scale_out.group_id.empty() ? "klink." + cfg.name : cfg.scale_out.group_id;
  o.scale_out.session_timeout = std::chrono::milliseconds(cfg.scale_out.session_timeout_ms);
  // Test hook, documented in linker/README.md: lets a deposed instance keep
  // producing so that tests see the destination's fencing refuse it.
  if (const char* unguarded = std::getenv("KLINK_SCALE_OUT_UNGUARDED")) {
    o.scale_out.unguarded = std::string_view(unguarded) == "1";
  }
  return o;
}

bool same_except_topic_selection(const config::link_config& a, const config::link_config& b) {
  return a.name == b.name && a.source == b.source && a.destination == b.destination &&
         a.mirror == b.mirror && a.consumer_offsets == b.consumer_offsets &&
         a.topic_prefix == b.topic_prefix && a.scale_out == b.scale_out;
}

}  // namespace klink
