// What only shows with every link read: links that would mirror topics back
// into the cluster they came from, and scale-out links sharing a group.
#include <cctype>
#include <deque>

#include "config/sections.h"

namespace klink::config {

namespace {

// host:port in a form where equal strings mean the same listener.
std::string normalized_address(std::string_view entry) {
  std::string host;
  std::string port;
  if (!entry.empty() && entry.front() == '[') {
    const auto close = entry.find(']');
    host = std::string(entry.substr(1, close == std::string_view::npos ? entry.npos : close - 1));
    if (close != std::string_view::npos && close + 1 < entry.size()) {
      port = std::string(entry.substr(close + 2));
    }
  } else if (const auto colon = entry.rfind(':'); colon != std::string_view::npos) {
    host = std::string(entry.substr(0, colon));
    port = std::string(entry.substr(colon + 1));
  } else {
    host = std::string(entry);
  }
  std::ranges::transform(host, host.begin(),
                         [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (host == "127.0.0.1" || host == "::1") host = "localhost";
  return host + ":" + port;
}

// The first bootstrap entry of `a` that also names a listener of `b`.
std::optional<std::string> shared_address(const cluster_config& a, const cluster_config& b) {
  for (const auto& x : a.bootstrap_servers) {
    const std::string nx = normalized_address(x);
    for (const auto& y : b.bootstrap_servers) {
      if (nx == normalized_address(y)) return x;
    }
  }
  return std::nullopt;
}

using detail::in_quotes;
using detail::toml_reader;
using positions = std::vector<toml::source_position>;

// How messages name a link: both the name and where it is in the file.
std::string named(const std::vector<link_config>& links, std::size_t i) {
  return in_quotes(links[i].name) + " (links[" + std::to_string(i) + "])";
}

std::string prefix_key(std::size_t i) {
  return "links[" + std::to_string(i) + "].topics.prefix";
}

void check_self_loops(const toml_reader& r, const std::vector<link_config>& links,
                      const positions& prefix_at) {
  for (std::size_t i = 0; i < links.size(); ++i) {
    const auto shared = shared_address(links[i].source, links[i].destination);
    if (shared && links[i].topic_prefix.empty()) {
      r.fail(prefix_at[i], prefix_key(i),
             "link " + named(links, i) +
                 " mirrors a cluster into itself (source and destination share " +
                 in_quotes(*shared) +
                 ") without a prefix: it would mirror into its own source topics; set prefix = "
                 "\"...\" in [links.topics]");
    }
  }
}

// Links i and j in opposite directions between the same two clusters.
void check_opposite_links(const toml_reader& r, const std::vector<link_config>& links,
                          const positions& prefix_at) {
  for (std::size_t j = 0; j < links.size(); ++j) {
    for (std::size_t i = 0; i < j; ++i) {
      const auto forth = shared_address(links[i].source, links[j].destination);
      const auto back = shared_address(links[i].destination, links[j].source);
      if (!forth || !back) continue;
      const std::string& pi = links[i].topic_prefix;
      const std::string& pj = links[j].topic_prefix;
      std::string why;
      if (pi.empty() && pj.empty()) {
        why = "neither has a prefix";
      } else if (pi.empty() || pj.empty()) {
        why = in_quotes(links[pi.empty() ? i : j].name) + " has no prefix";
      } else if (pi == pj) {
        why = "both use prefix " + in_quotes(pi);
      } else {
        continue;
      }
      r.fail(prefix_at[j], prefix_key(j),
             "links " + named(links, i) + " and " + named(links, j) +
                 " mirror in opposite directions between the same two clusters (" +
                 in_quotes(*forth) + " and " + in_quotes(*back) + ") and " + why +
                 "; both need different non-empty prefix values in [links.topics] (e.g. "
                 "\"east.\" and \"west.\") so that neither mirrors the other's mirror topics "
                 "back");
    }
  }
}

// Longer cycles: a topic travels on through links without a prefix (its
// name unchanged, so it does not look like a mirror) and stops after the
// first link with one. Starting from `first`, look for a way back to its
// source through unprefixed links only (breadth-first, so the shortest).
void check_cycles_from(const toml_reader& r, const std::vector<link_config>& links,
                       const positions& prefix_at, std::size_t first) {
  std::vector<std::size_t> parent(links.size(), links.size());
  std::vector<bool> seen(links.size(), false);
  std::deque<std::size_t> queue;
  auto visit_from = [&](const cluster_config& at, std::size_t from) {
    for (std::size_t m = 0; m < links.size(); ++m) {
      if (m == first || seen[m] || !links[m].topic_prefix.empty()) continue;
      if (!same_cluster(links[m].source, at)) continue;
      seen[m] = true;
      parent[m] = from;
      queue.push_back(m);
    }
  };
  visit_from(links[first].destination, links.size());
  while (!queue.empty()) {
    const std::size_t m = queue.front();
    queue.pop_front();
    if (same_cluster(links[m].destination, links[first].source)) {
      std::vector<std::size_t> path{m};
      while (parent[path.back()] != links.size())
        path.push_back(parent[path.back()]);
      std::string names = in_quotes(links[first].name);
      for (auto it = path.rbegin(); it != path.rend(); ++it)
        names += " -> " + in_quotes(links[*it].name);
      r.fail(prefix_at[m], prefix_key(m),
             "links " + names + " form a cycle back to " + in_quotes(links[first].name) +
                 "'s source cluster, and every link after " + in_quotes(links[first].name) +
                 " has no prefix: its topics would be mirrored back into the cluster they came "
                 "from; give one of those links a prefix in [links.topics]");
    }
    visit_from(links[m].destination, m);
  }
}

}  // namespace

bool same_cluster(const cluster_config& a, const cluster_config& b) {
  return shared_address(a, b).has_value();
}

std::vector<std::string> mirror_prefixes_into_source(const config& cfg, const link_config& link) {
  std::vector<std::string> out;
  // Also when `link` is not (yet) one of cfg's links, e.g. while a reload is checked.
  if (!link.topic_prefix.empty() && same_cluster(link.source, link.destination)) {
    out.push_back(link.topic_prefix);
  }
  for (const auto& other : cfg.links) {
    if (other.topic_prefix.empty() || !same_cluster(other.destination, link.source)) continue;
    if (std::ranges::find(out, other.topic_prefix) == out.end()) out.push_back(other.topic_prefix);
  }
  return out;
}

namespace detail {

// Shortest loops first: a link into its own cluster, then pairs, then cycles.
void check_loops(const toml_reader& r, const std::vector<link_config>& links,
                 const positions& prefix_at) {
  check_self_loops(r, links, prefix_at);
  check_opposite_links(r, links, prefix_at);
  for (std::size_t first = 0; first < links.size(); ++first) {
    check_cycles_from(r, links, prefix_at, first);
  }
}

void check_groups(const toml_reader& r, const std::vector<link_config>& links,
                  const positions& group_at) {
  for (std::size_t j = 0; j < links.size(); ++j) {
    if (!links[j].scale_out.enabled) continue;
    for (std::size_t i = 0; i < j; ++i) {
      if (!links[i].scale_out.enabled || links[i].scale_out.group_id != links[j].scale_out.group_id)
        continue;
      r.fail(group_at[j], "links[" + std::to_string(j) + "].scale_out.group_id",
             "links " + named(links, i) + " and " + named(links, j) +
                 " both use the scale-out group " + in_quotes(links[j].scale_out.group_id) +
                 "; one group shares the partitions of one link, so give each link its own "
                 "group_id in [links.scale_out] (or remove group_id for the default "
                 "\"klink.<link name>\")");
    }
  }
}

}  // namespace detail

}  // namespace klink::config
