#include "config/config.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <utility>

#include <toml++/toml.h>

#include "config/sections.h"
#include "config/toml_reader.h"

namespace klink::config {

topic_filter::topic_filter(std::vector<std::string> include, std::vector<std::string> exclude)
    : include_(std::move(include)), exclude_(std::move(exclude)) {
  include_re_.reserve(include_.size());
  for (const auto& p : include_)
    include_re_.emplace_back(p, std::regex::ECMAScript);
  exclude_re_.reserve(exclude_.size());
  for (const auto& p : exclude_)
    exclude_re_.emplace_back(p, std::regex::ECMAScript);
}

bool topic_filter::matches(std::string_view topic) const {
  if (topic.starts_with("__")) return false;
  auto whole = [topic](const std::regex& re) {
    return std::regex_match(topic.begin(), topic.end(), re);
  };
  return std::ranges::any_of(include_re_, whole) && std::ranges::none_of(exclude_re_, whole);
}

std::string_view to_string(security_protocol protocol) noexcept {
  switch (protocol) {
    case security_protocol::plaintext:
      return "PLAINTEXT";
    case security_protocol::ssl:
      return "SSL";
    case security_protocol::sasl_plaintext:
      return "SASL_PLAINTEXT";
    case security_protocol::sasl_ssl:
      return "SASL_SSL";
  }
  return "PLAINTEXT";
}

std::string_view to_string(start_position start) noexcept {
  switch (start) {
    case start_position::earliest:
      return "earliest";
    case start_position::latest:
      return "latest";
    case start_position::timestamp:
      return "timestamp";
  }
  return "earliest";
}

std::expected<std::int64_t, std::string> parse_rfc3339_ms(std::string_view text) {
  std::size_t i = 0;
  auto number = [&](std::size_t n, int& value) {
    if (i + n > text.size()) return false;
    value = 0;
    for (std::size_t k = 0; k < n; ++k) {
      const char c = text[i + k];
      if (c < '0' || c > '9') return false;
      value = value * 10 + (c - '0');
    }
    i += n;
    return true;
  };
  auto one_of_chars = [&](std::string_view chars) {
    if (i >= text.size() || chars.find(text[i]) == std::string_view::npos) return false;
    ++i;
    return true;
  };
  using std::unexpected;
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!number(4, year) || !one_of_chars("-") || !number(2, month) || !one_of_chars("-") ||
      !number(2, day)) {
    return unexpected("the date must be YYYY-MM-DD");
  }
  // RFC 3339 allows a lowercase 't' and, as TOML does, a space.
  if (!one_of_chars("Tt ")) return unexpected("a 'T' and a time must follow the date");
  if (!number(2, hour) || !one_of_chars(":") || !number(2, minute) || !one_of_chars(":") ||
      !number(2, second)) {
    return unexpected("the time must be hh:mm:ss");
  }
  int millis = 0;
  if (one_of_chars(".")) {
    const std::size_t first = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (i - first < 3) millis = millis * 10 + (text[i] - '0');
      ++i;
    }
    if (i == first) return unexpected("a '.' must be followed by fraction digits");
    for (std::size_t k = i - first; k < 3; ++k)
      millis *= 10;
  }
  int offset_minutes = 0;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
    const int sign = text[i] == '-' ? -1 : 1;
    ++i;
    int oh = 0, om = 0;
    if (!number(2, oh) || !one_of_chars(":") || !number(2, om)) {
      return unexpected("the UTC offset must be +hh:mm or -hh:mm");
    }
    if (oh > 23 || om > 59) return unexpected("the UTC offset is out of range");
    offset_minutes = sign * (oh * 60 + om);
  } else if (!one_of_chars("Zz")) {
    return unexpected(i == text.size() ? "a UTC offset must follow the time: Z, +hh:mm or -hh:mm"
                                       : "a UTC offset (Z, +hh:mm or -hh:mm) must follow the time");
  }
  if (i != text.size()) return unexpected("unexpected text after the UTC offset");

  const std::chrono::year_month_day date{std::chrono::year(year),
                                         std::chrono::month(static_cast<unsigned>(month)),
                                         std::chrono::day(static_cast<unsigned>(day))};
  if (!date.ok()) return unexpected("no such date");
  // 60 is a leap second; it counts as the first second of the next minute.
  if (hour > 23 || minute > 59 || second > 60) return unexpected("the time is out of range");
  const std::int64_t days = std::chrono::sys_days(date).time_since_epoch().count();
  const std::int64_t ms =
      ((days * 24 + hour) * 60 + minute - offset_minutes) * 60000 + second * 1000 + millis;
  if (ms < 0) return unexpected("it is before 1970-01-01T00:00:00Z");
  return ms;
}

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

namespace {

using detail::in_quotes;
using detail::position_of;
using detail::scope;
using detail::type_name;

// Walks the parsed document and turns it into a config, with the primitives
// of toml_reader.
// Owned by whoever calls the loader (config parsing is single-threaded).
class reader : public detail::toml_reader {
 public:
  using toml_reader::toml_reader;

  config read(const toml::table& root);

 private:
  log_config read_log(const scope& root) const;
  admin_config read_admin(const scope& root) const;
  // Links that would mirror topics back where they came from; needs every link.
  void check_loops(const std::vector<link_config>& links,
                   const std::vector<toml::source_position>& prefix_at) const;
  // Two scale-out links joining one group; needs every link.
  void check_groups(const std::vector<link_config>& links,
                    const std::vector<toml::source_position>& group_at) const;
};

log_config reader::read_log(const scope& root) const {
  log_config out;
  auto s = table(root, "log", "[log]");
  if (!s) return out;
  check_keys(*s, {"level", "format"});
  out.level = one_of<log_level>(*s, "level",
                                {{"trace", log_level::trace},
                                 {"debug", log_level::debug},
                                 {"info", log_level::info},
                                 {"warn", log_level::warn},
                                 {"error", log_level::error}})
                  .value_or(out.level);
  out.format =
      one_of<log_format>(*s, "format", {{"text", log_format::text}, {"json", log_format::json}})
          .value_or(out.format);
  return out;
}

admin_config reader::read_admin(const scope& root) const {
  admin_config out;
  auto s = table(root, "admin", "[admin]");
  if (!s) return out;
  check_keys(*s, {"listen", "tokens_file", "tls"});
  out.tls = detail::read_admin_tls(*this, *s);
  if (auto listen = string(*s, "listen")) {
    if (auto err = detail::parse_host_port(*listen, true, out.host, out.port)) {
      fail(*find(*s, "listen"), s->child("listen"), *err);
    }
  }
  if (auto tokens = string(*s, "tokens_file")) {
    const toml::node& at = *find(*s, "tokens_file");
    if (tokens->empty())
      fail(at, s->child("tokens_file"),
           "must not be empty; remove the key to serve /v1 without tokens");
    const std::filesystem::path path = config_relative(*tokens);
    // Checked here so that `klink validate` and `klink run` both refuse a
    // tokens file the daemon could not use; the tokens themselves are never printed.
    std::ifstream in(path);
    if (!in || std::filesystem::is_directory(path)) {
      fail(at, s->child("tokens_file"), "cannot read " + in_quotes(path.string()));
    }
    bool any = false;
    for (std::string line; std::getline(in, line);) {
      const auto first = line.find_first_not_of(" \t\r");
      if (first != std::string::npos && line[first] != '#') any = true;
    }
    if (!any) {
      fail(at, s->child("tokens_file"),
           in_quotes(path.string()) + " holds no token; write one token per line");
    }
    out.tokens_file = path.string();
  }
  return out;
}

void reader::check_groups(const std::vector<link_config>& links,
                          const std::vector<toml::source_position>& group_at) const {
  auto named = [&](std::size_t i) {
    return in_quotes(links[i].name) + " (links[" + std::to_string(i) + "])";
  };
  for (std::size_t j = 0; j < links.size(); ++j) {
    if (!links[j].scale_out.enabled) continue;
    for (std::size_t i = 0; i < j; ++i) {
      if (!links[i].scale_out.enabled || links[i].scale_out.group_id != links[j].scale_out.group_id)
        continue;
      fail(group_at[j], "links[" + std::to_string(j) + "].scale_out.group_id",
           "links " + named(i) + " and " + named(j) + " both use the scale-out group " +
               in_quotes(links[j].scale_out.group_id) +
               "; one group shares the partitions of one link, so give each link its own "
               "group_id in [links.scale_out] (or remove group_id for the default "
               "\"klink.<link name>\")");
    }
  }
}

config reader::read(const toml::table& root_table) {
  scope root{root_table, "", position_of(root_table, {1, 1})};
  check_keys(root, {"log", "admin", "links"});
  config out;
  out.source_file = file();
  out.log = read_log(root);
  out.admin = read_admin(root);

  const toml::node* links = find(root, "links");
  if (links == nullptr) {
    fail(root.pos, "links", "missing required key; add at least one [[links]] table");
  }
  const toml::array* arr = links->as_array();
  if (arr != nullptr && arr->empty()) {
    fail(*links, "links", "at least one link is required; add a [[links]] table");
  }
  if (arr == nullptr || !arr->is_array_of_tables()) {
    const std::string got =
        arr == nullptr ? std::string(type_name(*links)) : std::string("an array of non-tables");
    fail(*links, "links", "expected an array of tables ([[links]]), got " + got);
  }
  std::map<std::string, toml::source_position> names;
  std::vector<toml::source_position> prefix_at;  // where to blame a loop, per link
  std::vector<toml::source_position> group_at;   // where to blame a shared group, per link
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const toml::table& t = *arr->get(i)->as_table();
    scope s{t, "links[" + std::to_string(i) + "]", position_of(t, position_of(*arr, root.pos))};
    link_config link = detail::read_link(*this, s);
    const toml::node& name_node = *t.get("name");
    auto [it, inserted] = names.emplace(link.name, name_node.source().begin);
    if (!inserted) {
      fail(name_node, s.child("name"),
           "duplicate link name " + in_quotes(link.name) + " (first used at line " +
               std::to_string(it->second.line) + "); link names must be unique");
    }
    out.links.push_back(std::move(link));
    const toml::node* topics = t.get("topics");
    const toml::node* prefix = topics->as_table()->get("prefix");
    prefix_at.push_back(prefix != nullptr ? prefix->source().begin : position_of(*topics, s.pos));
    // The group_id the user wrote, else the table that enabled the default one.
    toml::source_position group_pos = s.pos;
    if (const toml::table* so = t.get_as<toml::table>("scale_out")) {
      const toml::node* id = so->get("group_id");
      group_pos = id != nullptr ? id->source().begin : position_of(*so, s.pos);
    }
    group_at.push_back(group_pos);
  }
  check_loops(out.links, prefix_at);
  check_groups(out.links, group_at);
  return out;
}

void reader::check_loops(const std::vector<link_config>& links,
                         const std::vector<toml::source_position>& prefix_at) const {
  auto prefix_key = [](std::size_t i) { return "links[" + std::to_string(i) + "].topics.prefix"; };
  auto named = [&](std::size_t i) {
    return in_quotes(links[i].name) + " (links[" + std::to_string(i) + "])";
  };
  for (std::size_t i = 0; i < links.size(); ++i) {
    const auto shared = shared_address(links[i].source, links[i].destination);
    if (shared && links[i].topic_prefix.empty()) {
      fail(prefix_at[i], prefix_key(i),
           "link " + named(i) + " mirrors a cluster into itself (source and destination share " +
               in_quotes(*shared) +
               ") without a prefix: it would mirror into its own source topics; set prefix = "
               "\"...\" in [links.topics]");
    }
  }
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
      fail(prefix_at[j], prefix_key(j),
           "links " + named(i) + " and " + named(j) +
               " mirror in opposite directions between the same two clusters (" +
               in_quotes(*forth) + " and " + in_quotes(*back) + ") and " + why +
               "; both need different non-empty prefix values in [links.topics] (e.g. "
               "\"east.\" and \"west.\") so that neither mirrors the other's mirror topics "
               "back");
    }
  }
  // Longer cycles: a topic travels on through links without a prefix (its
  // name unchanged, so it does not look like a mirror) and stops after the
  // first link with one. Starting from each link, look for a way back to its
  // source through unprefixed links only.
  for (std::size_t first = 0; first < links.size(); ++first) {
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
        fail(prefix_at[m], prefix_key(m),
             "links " + names + " form a cycle back to " + in_quotes(links[first].name) +
                 "'s source cluster, and every link after " + in_quotes(links[first].name) +
                 " has no prefix: its topics would be mirrored back into the cluster they came "
                 "from; give one of those links a prefix in [links.topics]");
      }
      visit_from(links[m].destination, m);
    }
  }
}

}  // namespace

config parse_config(std::string_view toml_text, const std::string& source_name) {
  toml::table root;
  try {
    root = toml::parse(toml_text, std::string_view(source_name));
  } catch (const toml::parse_error& e) {
    auto at = e.source().begin;
    if (at.line == 0) at = {1, 1};
    throw config_error(source_name, at.line, at.column, "",
                       "TOML syntax error: " + std::string(e.description()));
  }
  return reader(source_name).read(root);
}

config load_config(const std::filesystem::path& path) {
  const std::string name = path.string();
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw config_error(name, "cannot read config file: is a directory");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw config_error(name, std::string("cannot read config file: ") + std::strerror(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    throw config_error(name, std::string("cannot read config file: ") + std::strerror(errno));
  }
  return parse_config(text.str(), name);
}

}  // namespace klink::config