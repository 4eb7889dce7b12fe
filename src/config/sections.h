// The loader's section readers and cross-link checks, shared by the files of
// src/config only. They run in document order and the first failure is the
// one reported, so the order of the calls is part of the behaviour.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/toml_reader.h"

namespace klink::config::detail {

// Printable ASCII without spaces: client ids, racks and group ids end up in
// broker logs, ACLs and metric labels.
inline bool printable_ascii(std::string_view s) {
  return std::ranges::all_of(s, [](char c) { return c >= 0x21 && c <= 0x7e; });
}

// cluster_section.cpp

// Parses "host:port" or "[ipv6]:port". Returns an error message, or nothing on success.
std::optional<std::string> parse_host_port(std::string_view text, bool allow_port_zero,
                                           std::string& host, std::uint16_t& port);
// [links.source] / [links.destination] (`key`), with its TLS and SASL tables.
cluster_config read_cluster(const toml_reader& r, const scope& link, std::string_view key,
                            bool destination, const std::string& link_name);
std::optional<admin_tls_config> read_admin_tls(const toml_reader& r, const scope& admin);

// link_section.cpp

// One [[links]] table, on its own; what needs every link is in cross_link_checks.cpp.
link_config read_link(const toml_reader& r, const scope& s);

// cross_link_checks.cpp: run after every link is read. `prefix_at` and
// `group_at` hold, per link, where to blame a loop and a shared group.

// Links that would mirror topics back where they came from.
void check_loops(const toml_reader& r, const std::vector<link_config>& links,
                 const std::vector<toml::source_position>& prefix_at);
// Two scale-out links joining one group.
void check_groups(const toml_reader& r, const std::vector<link_config>& links,
                  const std::vector<toml::source_position>& group_at);

}  // namespace klink::config::detail
