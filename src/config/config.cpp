// The loader's entry points and the top of the document: [log], [admin] and
// the [[links]] array; each link is read by link_section.cpp and checked
// against the others by cross_link_checks.cpp.
#include "config/config.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <utility>

#include "config/sections.h"

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

using detail::in_quotes;
using detail::position_of;
using detail::scope;
using detail::toml_reader;

log_config read_log(const toml_reader& r, const scope& root) {
  log_config out;
  auto s = r.table(root, "log", "[log]");
  if (!s) return out;
  r.check_keys(*s, {"level", "format"});
  out.level = r.one_of<log_level>(*s, "level",
                                  {{"trace", log_level::trace},
                                   {"debug", log_level::debug},
                                   {"info", log_level::info},
                                   {"warn", log_level::warn},
                                   {"error", log_level::error}})
                  .value_or(out.level);
  out.format =
      r.one_of<log_format>(*s, "format", {{"text", log_format::text}, {"json", log_format::json}})
          .value_or(out.format);
  return out;
}

// Checked here so that `klink validate` and `klink run` both refuse a
// tokens file the daemon could not use; the tokens themselves are never printed.
std::string read_tokens_file(const toml_reader& r, const scope& admin, const std::string& name) {
  const toml::node& at = *r.find(admin, "tokens_file");
  if (name.empty())
    r.fail(at, admin.child("tokens_file"),
           "must not be empty; remove the key to serve /v1 without tokens");
  const std::filesystem::path path = r.config_relative(name);
  std::ifstream in(path);
  if (!in || std::filesystem::is_directory(path)) {
    r.fail(at, admin.child("tokens_file"), "cannot read " + in_quotes(path.string()));
  }
  bool any = false;
  for (std::string line; std::getline(in, line);) {
    const auto first = line.find_first_not_of(" \t\r");
    if (first != std::string::npos && line[first] != '#') any = true;
  }
  if (!any) {
    r.fail(at, admin.child("tokens_file"),
           in_quotes(path.string()) + " holds no token; write one token per line");
  }
  return path.string();
}

admin_config read_admin(const toml_reader& r, const scope& root) {
  admin_config out;
  auto s = r.table(root, "admin", "[admin]");
  if (!s) return out;
  r.check_keys(*s, {"listen", "tokens_file", "tls"});
  out.tls = detail::read_admin_tls(r, *s);
  if (auto listen = r.string(*s, "listen")) {
    if (auto err = detail::parse_host_port(*listen, true, out.host, out.port)) {
      r.fail(*r.find(*s, "listen"), s->child("listen"), *err);
    }
  }
  if (auto tokens = r.string(*s, "tokens_file")) out.tokens_file = read_tokens_file(r, *s, *tokens);
  return out;
}

// The [[links]] array, before any link in it is read.
const toml::array& links_array(const toml_reader& r, const scope& root) {
  const toml::node* links = r.find(root, "links");
  if (links == nullptr) {
    r.fail(root.pos, "links", "missing required key; add at least one [[links]] table");
  }
  const toml::array* arr = links->as_array();
  if (arr != nullptr && arr->empty()) {
    r.fail(*links, "links", "at least one link is required; add a [[links]] table");
  }
  if (arr == nullptr || !arr->is_array_of_tables()) {
    const std::string got = arr == nullptr ? std::string(detail::type_name(*links))
                                           : std::string("an array of non-tables");
    r.fail(*links, "links", "expected an array of tables ([[links]]), got " + got);
  }
  return *arr;
}

// Where to blame a loop through this link: its prefix, else its [links.topics].
toml::source_position prefix_position(const toml::table& link, const scope& s) {
  const toml::node* topics = link.get("topics");
  const toml::node* prefix = topics->as_table()->get("prefix");
  return prefix != nullptr ? prefix->source().begin : position_of(*topics, s.pos);
}

// The group_id the user wrote, else the table that enabled the default one.
toml::source_position group_position(const toml::table& link, const scope& s) {
  toml::source_position group_pos = s.pos;
  if (const toml::table* so = link.get_as<toml::table>("scale_out")) {
    const toml::node* id = so->get("group_id");
    group_pos = id != nullptr ? id->source().begin : position_of(*so, s.pos);
  }
  return group_pos;
}

// Every link on its own, then the checks that need them all.
std::vector<link_config> read_links(const toml_reader& r, const scope& root) {
  const toml::array& arr = links_array(r, root);
  std::vector<link_config> out;
  std::map<std::string, toml::source_position> names;
  std::vector<toml::source_position> prefix_at;  // where to blame a loop, per link
  std::vector<toml::source_position> group_at;   // where to blame a shared group, per link
  for (std::size_t i = 0; i < arr.size(); ++i) {
    const toml::table& t = *arr.get(i)->as_table();
    scope s{t, "links[" + std::to_string(i) + "]", position_of(t, position_of(arr, root.pos))};
    link_config link = detail::read_link(r, s);
    const toml::node& name_node = *t.get("name");
    auto [it, inserted] = names.emplace(link.name, name_node.source().begin);
    if (!inserted) {
      r.fail(name_node, s.child("name"),
             "duplicate link name " + in_quotes(link.name) + " (first used at line " +
                 std::to_string(it->second.line) + "); link names must be unique");
    }
    out.push_back(std::move(link));
    prefix_at.push_back(prefix_position(t, s));
    group_at.push_back(group_position(t, s));
  }
  detail::check_loops(r, out, prefix_at);
  detail::check_groups(r, out, group_at);
  return out;
}

config read(const toml_reader& r, const toml::table& root_table) {
  scope root{root_table, "", position_of(root_table, {1, 1})};
  r.check_keys(root, {"log", "admin", "links"});
  config out;
  out.source_file = r.file();
  out.log = read_log(r, root);
  out.admin = read_admin(r, root);
  out.links = read_links(r, root);
  return out;
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
  return read(toml_reader(source_name), root);
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
