// Reading TOML tables with positions, shared by the loader's files in
// src/config only: every failure becomes a config_error that points at the
// offending value (FILE:LINE:COL: KEY: MESSAGE).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <toml++/toml.h>

namespace klink::config::detail {

// `s` in double quotes, with quotes, backslashes and control characters
// escaped, so that a value in a message cannot be mistaken for the text around it.
std::string in_quotes(std::string_view s);

// "a string", "an integer", ...: the article reads well after "got".
std::string_view type_name(const toml::node& n);

// Case-insensitive Levenshtein distance, for "did you mean" hints.
std::size_t edit_distance(std::string_view a, std::string_view b);

// Where `n` starts, or `fallback` for a node the parser gave no position
// (an implicit table such as the [links] in [links.topics]).
inline toml::source_position position_of(const toml::node& n, toml::source_position fallback) {
  return n.source().begin.line == 0 ? fallback : n.source().begin;
}

using known_keys = std::initializer_list<std::string_view>;

// A table being read, with the dotted path used in messages and the position
// to blame when a required key is missing from it.
// Owned by whoever calls the loader (config parsing is single-threaded).
struct scope {
  const toml::table& table;
  std::string path;
  toml::source_position pos;

  std::string child(std::string_view key) const {
    return path.empty() ? std::string(key) : path + "." + std::string(key);
  }
};

// The typed getters every section reads with. Each fails on the first problem
// with a message that says where it is and what to write instead; absent
// optional keys come back empty so that the caller keeps its default.
// Owned by whoever calls the loader (config parsing is single-threaded, no shared state).
class toml_reader {
 public:
  explicit toml_reader(std::string file) : file_(std::move(file)) {}

  const std::string& file() const noexcept { return file_; }

  [[noreturn]] void fail(toml::source_position at, const std::string& key,
                         std::string message) const;
  [[noreturn]] void fail(const toml::node& at, const std::string& key, std::string message) const {
    fail(at.source().begin, key, std::move(message));
  }

  // Unknown keys are reported before any value of the table is read.
  void check_keys(const scope& s, known_keys known) const;
  const toml::node* find(const scope& s, std::string_view key) const { return s.table.get(key); }

  std::optional<scope> table(const scope& s, std::string_view key, std::string_view hint) const;
  scope required_table(const scope& s, std::string_view key, std::string_view hint) const;

  std::optional<std::string> string(const scope& s, std::string_view key) const;
  std::optional<bool> boolean(const scope& s, std::string_view key) const;
  std::optional<std::int64_t> integer(const scope& s, std::string_view key, std::int64_t lo,
                                      std::int64_t hi, std::string_view range_hint) const;
  std::vector<std::string> string_array(const scope& s, std::string_view key, bool required,
                                        std::string_view hint) const;
  template <typename E>
  std::optional<E> one_of(const scope& s, std::string_view key,
                          std::initializer_list<std::pair<std::string_view, E>> choices) const;

  // Paths in the config are taken from the config file's folder, so that a
  // config and the files it names can move together.
  std::filesystem::path config_relative(std::string_view name) const;
  // A file the daemon will read: relative to the config's folder, readable,
  // not a directory. Its content is never printed.
  std::string readable_file(const scope& s, std::string_view key) const;

 private:
  std::string file_;
};

template <typename E>
std::optional<E> toml_reader::one_of(
    const scope& s, std::string_view key,
    std::initializer_list<std::pair<std::string_view, E>> choices) const {
  auto value = string(s, key);
  if (!value) return std::nullopt;
  for (const auto& [name, e] : choices) {
    if (*value == name) return e;
  }
  std::string names;
  for (const auto& [name, e] : choices) {
    if (!names.empty()) names += ", ";
    names += name;
  }
  fail(*find(s, key), s.child(key), "expected one of: " + names + "; got " + in_quotes(*value));
}

}  // namespace klink::config::detail
