#include "config/toml_reader.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <limits>

#include "config/config.h"

namespace klink::config {

namespace {

std::string format_error(const std::string& file, std::uint32_t line, std::uint32_t column,
                         const std::string& key, const std::string& message) {
  std::string out = file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": ";
  if (!key.empty()) out += key + ": ";
  out += message;
  return out;
}

}  // namespace

config_error::config_error(std::string file, std::uint32_t line, std::uint32_t column,
                           std::string key, std::string message)
    : std::runtime_error(format_error(file, line, column, key, message)),
      file_(std::move(file)),
      line_(line),
      column_(column),
      key_(std::move(key)),
      message_(std::move(message)) {}

config_error::config_error(std::string file, std::string message)
    : std::runtime_error(file + ": " + message),
      file_(std::move(file)),
      message_(std::move(message)) {}

namespace detail {

std::string in_quotes(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      out += "\\x";
      constexpr char hex[] = "0123456789abcdef";
      out += hex[(c >> 4) & 0xf];
      out += hex[c & 0xf];
      continue;
    }
    out += c;
  }
  return out + "\"";
}

std::string_view type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      const bool same = std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                        std::tolower(static_cast<unsigned char>(b[j - 1]));
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (same ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

namespace {

std::string join(known_keys keys) {
  std::string out;
  for (auto k : keys) {
    if (!out.empty()) out += ", ";
    out += k;
  }
  return out;
}

}  // namespace

void toml_reader::fail(toml::source_position at, const std::string& key,
                       std::string message) const {
  if (at.line == 0) at = {1, 1};
  throw config_error(file_, at.line, at.column, key, std::move(message));
}

void toml_reader::check_keys(const scope& s, known_keys known) const {
  // Report the first unknown key in document order, not map order.
  const toml::key* first = nullptr;
  for (auto&& [k, v] : s.table) {
    if (std::ranges::find(known, std::string_view(k.str())) != known.end()) continue;
    if (first == nullptr || k.source().begin < first->source().begin) first = &k;
  }
  if (first == nullptr) return;

  std::string_view best;
  std::size_t best_distance = std::numeric_limits<std::size_t>::max();
  for (auto candidate : known) {
    const auto d = edit_distance(first->str(), candidate);
    if (d < best_distance) {
      best_distance = d;
      best = candidate;
    }
  }
  std::string message = "unknown key; ";
  if (best_distance <= std::max<std::size_t>(2, best.size() / 4)) {
    message += "did you mean " + in_quotes(best) + "?";
  } else {
    message += "expected one of: " + join(known);
  }
  fail(first->source().begin.line != 0 ? first->source().begin : s.pos, s.child(first->str()),
       std::move(message));
}

std::optional<scope> toml_reader::table(const scope& s, std::string_view key,
                                        std::string_view hint) const {
  const toml::node* n = find(s, key);
  if (n == nullptr) return std::nullopt;
  const toml::table* t = n->as_table();
  if (t == nullptr) {
    fail(*n, s.child(key),
         "expected a table (" + std::string(hint) + "), got " + std::string(type_name(*n)));
  }
  return scope{*t, s.child(key), position_of(*t, s.pos)};
}

scope toml_reader::required_table(const scope& s, std::string_view key,
                                  std::string_view hint) const {
  auto t = table(s, key, hint);
  if (!t) fail(s.pos, s.child(key), "missing required table; add " + std::string(hint));
  return *t;
}

std::optional<std::string> toml_reader::string(const scope& s, std::string_view key) const {
  const toml::node* n = find(s, key);
  if (n == nullptr) return std::nullopt;
  const auto* v = n->as_string();
  if (v == nullptr) {
    fail(*n, s.child(key), "expected a string, got " + std::string(type_name(*n)));
  }
  return v->get();
}

std::optional<bool> toml_reader::boolean(const scope& s, std::string_view key) const {
  const toml::node* n = find(s, key);
  if (n == nullptr) return std::nullopt;
  const auto* v = n->as_boolean();
  if (v == nullptr) {
    std::string message = "expected a boolean, got " + std::string(type_name(*n));
    if (n->is_string()) message += "; write true or false without quotes";
    fail(*n, s.child(key), std::move(message));
  }
  return v->get();
}

std::optional<std::int64_t> toml_reader::integer(const scope& s, std::string_view key,
                                                 std::int64_t lo, std::int64_t hi,
                                                 std::string_view range_hint) const {
  const toml::node* n = find(s, key);
  if (n == nullptr) return std::nullopt;
  const auto* v = n->as_integer();
  if (v == nullptr) {
    std::string message = "expected an integer, got " + std::string(type_name(*n));
    if (n->is_string()) message += "; write the number without quotes";
    fail(*n, s.child(key), std::move(message));
  }
  const std::int64_t value = v->get();
  if (value < lo || value > hi) {
    std::string message = std::to_string(value) + " is out of range; expected " +
                          std::to_string(lo) + ".." + std::to_string(hi);
    if (!range_hint.empty()) message += " (" + std::string(range_hint) + ")";
    fail(*n, s.child(key), std::move(message));
  }
  return value;
}

std::vector<std::string> toml_reader::string_array(const scope& s, std::string_view key,
                                                   bool required, std::string_view hint) const {
  const toml::node* n = find(s, key);
  if (n == nullptr) {
    if (required) {
      fail(s.pos, s.child(key), "missing required key; add " + std::string(hint));
    }
    return {};
  }
  const toml::array* a = n->as_array();
  if (a == nullptr) {
    fail(*n, s.child(key),
         "expected an array of strings, got " + std::string(type_name(*n)) + "; write " +
             std::string(hint));
  }
  if (required && a->empty()) {
    fail(*n, s.child(key), "must not be empty; add " + std::string(hint));
  }
  std::vector<std::string> out;
  out.reserve(a->size());
  for (std::size_t i = 0; i < a->size(); ++i) {
    const toml::node& e = *a->get(i);
    const std::string path = s.child(key) + "[" + std::to_string(i) + "]";
    const auto* v = e.as_string();
    if (v == nullptr) {
      fail(position_of(e, n->source().begin), path,
           "expected a string, got " + std::string(type_name(e)));
    }
    out.push_back(v->get());
  }
  return out;
}

std::filesystem::path toml_reader::config_relative(std::string_view name) const {
  std::filesystem::path path(name);
  if (path.is_relative()) path = std::filesystem::path(file_).parent_path() / path;
  return path;
}

std::string toml_reader::readable_file(const scope& s, std::string_view key) const {
  const toml::node& at = *find(s, key);
  auto name = string(s, key);
  if (name->empty()) fail(at, s.child(key), "must not be empty; remove the key or name a file");
  const std::filesystem::path path = config_relative(*name);
  std::ifstream in(path);
  if (!in || std::filesystem::is_directory(path)) {
    fail(at, s.child(key),
         "cannot read " + in_quotes(path.string()) + ": " +
             (std::filesystem::exists(path) ? "permission denied or not a file" : "no such file"));
  }
  return path.string();
}

}  // namespace detail

}  // namespace klink::config
