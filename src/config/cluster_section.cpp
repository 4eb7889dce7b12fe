// [links.source], [links.destination] and the security settings of a
// connection: addresses, TLS, SASL, and [admin.tls].
#include <cctype>
#include <charconv>
#include <cstdlib>

#include "config/sections.h"

namespace klink::config::detail {

namespace {

// The host of "[ipv6]:port"; `port_part` gets what follows the colon.
std::optional<std::string> split_bracketed(std::string_view text, std::string_view& host_part,
                                           std::string_view& port_part) {
  const auto close = text.find(']');
  if (close == std::string_view::npos) {
    return in_quotes(text) + " has no closing ']'; write IPv6 addresses as \"[::1]:9092\"";
  }
  host_part = text.substr(1, close - 1);
  if (host_part.empty()) return in_quotes(text) + " has an empty host";
  for (char c : host_part) {
    if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.' && c != '%') {
      return in_quotes(text) + " is not a valid IPv6 address in brackets";
    }
  }
  const auto rest = text.substr(close + 1);
  if (rest.empty() || rest.front() != ':') {
    return in_quotes(text) + " has no port; expected \"[host]:port\", e.g. \"[::1]:9092\"";
  }
  port_part = rest.substr(1);
  return std::nullopt;
}

// The host of "host:port"; `port_part` gets what follows the last colon.
std::optional<std::string> split_plain(std::string_view text, const std::string& example,
                                       std::string_view& host_part, std::string_view& port_part) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return in_quotes(text) + " has no port; expected host:port, e.g. " + example;
  }
  host_part = text.substr(0, colon);
  port_part = text.substr(colon + 1);
  if (host_part.find(':') != std::string_view::npos) {
    return in_quotes(text) + " looks like an IPv6 address; put it in brackets, e.g. \"[" +
           std::string(host_part) + "]:" + std::string(port_part) + "\"";
  }
  if (host_part.empty()) {
    return in_quotes(text) + " has an empty host; expected host:port, e.g. " + example;
  }
  for (char c : host_part) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') {
      return in_quotes(text) + " has an invalid character " + in_quotes(std::string_view(&c, 1)) +
             " in the host; expected a hostname or an IP address";
    }
  }
  return std::nullopt;
}

tls_config read_tls(const toml_reader& r, const scope& cluster) {
  tls_config out;
  auto s = r.table(cluster, "tls", "[" + cluster.path + ".tls]");
  if (!s) return out;  // the system trust store, hostname verification on
  r.check_keys(*s, {"ca_file", "cert_file", "key_file", "verify_hostname"});
  if (r.find(*s, "ca_file")) out.ca_file = r.readable_file(*s, "ca_file");
  if (r.find(*s, "cert_file")) out.cert_file = r.readable_file(*s, "cert_file");
  if (r.find(*s, "key_file")) out.key_file = r.readable_file(*s, "key_file");
  if (out.cert_file.empty() != out.key_file.empty()) {
    const std::string_view given = out.cert_file.empty() ? "key_file" : "cert_file";
    const std::string_view missing = out.cert_file.empty() ? "cert_file" : "key_file";
    r.fail(*r.find(*s, given), s->child(given),
           "a client certificate needs both cert_file and key_file; add " + std::string(missing));
  }
  out.verify_hostname = r.boolean(*s, "verify_hostname").value_or(out.verify_hostname);
  return out;
}

// Exactly one of password_file and password_env, and one the daemon can use.
void read_password(const toml_reader& r, const scope& s, sasl_config& out) {
  const bool has_file = r.find(s, "password_file") != nullptr;
  const bool has_env = r.find(s, "password_env") != nullptr;
  if (has_file == has_env) {
    r.fail(has_file ? r.find(s, "password_env")->source().begin : s.pos, s.child("password_file"),
           "give exactly one of password_file = \"path\" or password_env = \"VARIABLE\"");
  }
  if (has_file) {
    out.password_file = r.readable_file(s, "password_file");
    return;
  }
  out.password_env = *r.string(s, "password_env");
  const char* value = std::getenv(out.password_env.c_str());
  if (out.password_env.empty() || value == nullptr || *value == '\0') {
    r.fail(*r.find(s, "password_env"), s.child("password_env"),
           "environment variable " + in_quotes(out.password_env) +
               " is not set or empty; export it before starting klink");
  }
}

sasl_config read_sasl(const toml_reader& r, const scope& cluster) {
  const std::string hint =
      "[" + cluster.path + ".sasl] with mechanism, username and password_file or password_env";
  scope s = r.required_table(cluster, "sasl", hint);
  // Before the unknown-key check, so the message says why rather than "unknown key".
  if (const auto* p = r.find(s, "password")) {
    r.fail(*p, s.child("password"),
           "passwords are not accepted in the config file; put it in a file (password_file = "
           "\"path\") or an environment variable (password_env = \"NAME\")");
  }
  r.check_keys(s, {"mechanism", "username", "password_file", "password_env"});
  sasl_config out;
  auto mechanism = r.one_of<sasl_mechanism>(s, "mechanism",
                                            {{"PLAIN", sasl_mechanism::plain},
                                             {"SCRAM-SHA-256", sasl_mechanism::scram_sha_256},
                                             {"SCRAM-SHA-512", sasl_mechanism::scram_sha_512}});
  if (!mechanism) {
    r.fail(s.pos, s.child("mechanism"),
           "missing required key; add mechanism = \"SCRAM-SHA-512\" (or \"SCRAM-SHA-256\", "
           "\"PLAIN\")");
  }
  out.mechanism = *mechanism;
  auto username = r.string(s, "username");
  if (!username || username->empty()) {
    r.fail(username ? r.find(s, "username")->source().begin : s.pos, s.child("username"),
           "missing required key; add username = \"...\"");
  }
  out.username = *username;
  read_password(r, s, out);
  return out;
}

// The source and destination take different keys; a misplaced client_rack
// gets its own message instead of "unknown key".
void check_cluster_keys(const toml_reader& r, const scope& s, bool destination) {
  if (!destination) {
    r.check_keys(
        s, {"bootstrap_servers", "client_id", "client_rack", "security_protocol", "tls", "sasl"});
    return;
  }
  // Before the unknown-key check, so the message says why rather than "unknown key".
  if (const auto* rack = r.find(s, "client_rack")) {
    r.fail(*rack, s.child("client_rack"),
           "client_rack applies to fetching from the source (KIP-392: read from the nearest "
           "replica); klink only produces to the destination, so set it in [links.source] or "
           "remove it");
  }
  r.check_keys(s, {"bootstrap_servers", "client_id", "replication_factor", "security_protocol",
                   "tls", "sasl"});
}

std::string read_client_rack(const toml_reader& r, const scope& source) {
  auto rack = r.string(source, "client_rack");
  if (!rack) return {};
  if (rack->empty() || rack->size() > 255 || !printable_ascii(*rack)) {
    r.fail(*r.find(source, "client_rack"), source.child("client_rack"),
           "invalid rack " + in_quotes(*rack) +
               "; use the broker.rack value of the source brokers nearest to klink: 1..255 "
               "printable ASCII characters without spaces (remove the key to fetch from "
               "leaders)");
  }
  return *rack;
}

// security_protocol, and the [tls] and [sasl] tables it asks for (and only those).
void read_security(const toml_reader& r, const scope& s, cluster_config& out) {
  out.protocol = r.one_of<security_protocol>(s, "security_protocol",
                                             {{"PLAINTEXT", security_protocol::plaintext},
                                              {"SSL", security_protocol::ssl},
                                              {"SASL_PLAINTEXT", security_protocol::sasl_plaintext},
                                              {"SASL_SSL", security_protocol::sasl_ssl}})
                     .value_or(out.protocol);
  const bool wants_tls =
      out.protocol == security_protocol::ssl || out.protocol == security_protocol::sasl_ssl;
  const bool wants_sasl = out.protocol == security_protocol::sasl_plaintext ||
                          out.protocol == security_protocol::sasl_ssl;
  const std::string protocol_name(to_string(out.protocol));
  if (const auto* t = r.find(s, "tls"); t != nullptr && !wants_tls) {
    r.fail(*t, s.child("tls"),
           "TLS settings with security_protocol = " + in_quotes(protocol_name) +
               "; set security_protocol = \"SSL\" or \"SASL_SSL\", or remove the table");
  }
  if (const auto* t = r.find(s, "sasl"); t != nullptr && !wants_sasl) {
    r.fail(*t, s.child("sasl"),
           "SASL settings with security_protocol = " + in_quotes(protocol_name) +
               "; set security_protocol = \"SASL_SSL\" or \"SASL_PLAINTEXT\", or remove the table");
  }
  if (wants_tls) out.tls = read_tls(r, s);
  if (wants_sasl) out.sasl = read_sasl(r, s);
}

std::vector<std::string> read_bootstrap_servers(const toml_reader& r, const scope& s) {
  auto servers =
      r.string_array(s, "bootstrap_servers", true, "bootstrap_servers = [\"host:port\", ...]");
  const toml::array& nodes = *r.find(s, "bootstrap_servers")->as_array();
  for (std::size_t i = 0; i < servers.size(); ++i) {
    std::string host;
    std::uint16_t port = 0;
    if (auto err = parse_host_port(servers[i], false, host, port)) {
      r.fail(*nodes.get(i), s.child("bootstrap_servers") + "[" + std::to_string(i) + "]", *err);
    }
  }
  return servers;
}

std::string read_client_id(const toml_reader& r, const scope& s, const std::string& link_name) {
  auto id = r.string(s, "client_id");
  if (!id) return "klink-" + link_name;
  if (id->empty() || id->size() > 255 || !printable_ascii(*id)) {
    r.fail(*r.find(s, "client_id"), s.child("client_id"),
           "invalid client id " + in_quotes(*id) +
               "; use 1..255 printable ASCII characters without spaces");
  }
  return *id;
}

std::optional<std::int16_t> read_replication_factor(const toml_reader& r, const scope& s) {
  auto rf =
      r.integer(s, "replication_factor", -1, 32767, "-1 for the broker default, else 1..32767");
  if (!rf) return std::nullopt;
  if (*rf == 0) {
    r.fail(*r.find(s, "replication_factor"), s.child("replication_factor"),
           "0 is not a valid replication factor; expected -1 (broker default) or 1..32767");
  }
  return static_cast<std::int16_t>(*rf);
}

}  // namespace

std::optional<std::string> parse_host_port(std::string_view text, bool allow_port_zero,
                                           std::string& host, std::uint16_t& port) {
  const std::string example = allow_port_zero ? "\"127.0.0.1:8083\"" : "\"127.0.0.1:9092\"";
  if (text.empty()) return "empty address; expected host:port, e.g. " + example;
  std::string_view host_part;
  std::string_view port_part;
  auto err = text.front() == '[' ? split_bracketed(text, host_part, port_part)
                                 : split_plain(text, example, host_part, port_part);
  if (err) return err;
  unsigned value = 0;
  const auto* first = port_part.data();
  const auto* last = first + port_part.size();
  const auto [ptr, ec] = std::from_chars(first, last, value);
  const unsigned min_port = allow_port_zero ? 0 : 1;
  if (port_part.empty() || ec != std::errc{} || ptr != last || value < min_port || value > 65535) {
    return "port " + in_quotes(port_part) + " in " + in_quotes(text) + " is not a number in " +
           std::to_string(min_port) + "..65535";
  }
  host = std::string(host_part);
  port = static_cast<std::uint16_t>(value);
  return std::nullopt;
}

cluster_config read_cluster(const toml_reader& r, const scope& link, std::string_view key,
                            bool destination, const std::string& link_name) {
  const std::string hint = "[links." + std::string(key) + "] with bootstrap_servers";
  scope s = r.required_table(link, key, hint);
  cluster_config out;
  check_cluster_keys(r, s, destination);
  if (!destination) out.client_rack = read_client_rack(r, s);
  read_security(r, s, out);
  out.bootstrap_servers = read_bootstrap_servers(r, s);
  out.client_id = read_client_id(r, s, link_name);
  if (destination) {
    out.replication_factor = read_replication_factor(r, s).value_or(out.replication_factor);
  }
  return out;
}

std::optional<admin_tls_config> read_admin_tls(const toml_reader& r, const scope& admin) {
  auto s = r.table(admin, "tls", "[admin.tls] with cert_file and key_file");
  if (!s) return std::nullopt;
  r.check_keys(*s, {"cert_file", "key_file", "client_ca_file"});
  admin_tls_config out;
  for (auto key : {"cert_file", "key_file"}) {
    if (!r.find(*s, key)) {
      r.fail(s->pos, s->child(key),
             "missing required key; HTTPS needs cert_file and key_file (PEM)");
    }
  }
  out.cert_file = r.readable_file(*s, "cert_file");
  out.key_file = r.readable_file(*s, "key_file");
  if (r.find(*s, "client_ca_file")) out.client_ca_file = r.readable_file(*s, "client_ca_file");
  return out;
}

}  // namespace klink::config::detail
