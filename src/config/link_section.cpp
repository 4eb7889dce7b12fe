// One [[links]] table: its name, clusters, topic selection and the
// [links.mirror], [links.consumer_offsets] and [links.scale_out] settings.
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <regex>
#include <span>

#include "config/sections.h"

namespace klink::config::detail {

namespace {

constexpr std::int64_t kib = 1024;
constexpr std::int64_t gib = 1024 * 1024 * 1024;

// The name ends up in client ids, internal topic names and metric labels.
bool valid_link_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::ranges::all_of(name, [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

// Compiles each pattern here so that a bad one is blamed at its own position.
void check_patterns(const toml_reader& r, const scope& s, std::string_view key,
                    const std::vector<std::string>& patterns, std::string_view subject) {
  const toml::array& arr = *r.find(s, key)->as_array();
  for (std::size_t i = 0; i < patterns.size(); ++i) {
    const std::string path = s.child(key) + "[" + std::to_string(i) + "]";
    if (patterns[i].empty()) {
      r.fail(*arr.get(i), path,
             "empty pattern; write a " + std::string(subject) + " or an ECMAScript regex");
    }
    try {
      std::regex re(patterns[i], std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      r.fail(*arr.get(i), path,
             "invalid regular expression " + in_quotes(patterns[i]) + ": " + e.what() +
                 "; patterns are ECMAScript regexes matched against the whole " +
                 std::string(subject));
    }
  }
}

// Kafka's topic-name rules (legal characters, at most 249 characters) for
// the part every mirror name shares; the runtime checks each full name.
std::string read_prefix(const toml_reader& r, const scope& topics) {
  auto prefix = r.string(topics, "prefix");
  if (!prefix) return {};
  const toml::node& at = *r.find(topics, "prefix");
  const std::string key = topics.child("prefix");
  for (char c : *prefix) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      r.fail(at, key,
             "non-ASCII character in prefix " + in_quotes(*prefix) +
                 "; Kafka topic names allow only ASCII letters, digits, '.', '_' and '-'");
    }
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      r.fail(at, key,
             "invalid character " + in_quotes(std::string_view(&c, 1)) + " in prefix " +
                 in_quotes(*prefix) +
                 "; Kafka topic names allow only ASCII letters, digits, '.', '_' and '-'");
    }
  }
  if (prefix->size() >= 249) {
    r.fail(at, key,
           "prefix is " + std::to_string(prefix->size()) +
               " characters long; Kafka topic names are at most 249 characters and a mirror "
               "name is the prefix plus the source topic's name, so use at most 248");
  }
  if (prefix->starts_with("__")) {
    r.fail(at, key,
           "prefix " + in_quotes(*prefix) +
               " starts with \"__\", which marks internal topics (never mirrored, hidden by "
               "tools); choose another prefix");
  }
  return *prefix;
}

// One entry of sync_configs: `earlier` are the entries before it.
void check_sync_config(const toml_reader& r, const toml::node& at, const std::string& path,
                       const std::string& name, std::span<const std::string> earlier) {
  const bool shaped = !name.empty() && name.front() != '.' && name.back() != '.' &&
                      name.find("..") == std::string::npos && std::ranges::all_of(name, [](char c) {
                        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.';
                      });
  if (!shaped) {
    r.fail(at, path,
           in_quotes(name) +
               " is not a topic config name; write Kafka's names: lowercase letters, digits and "
               "dots, e.g. \"retention.ms\"");
  }
  if (name == "compression.type") {
    r.fail(at, path,
           "compression.type cannot be synced: mirrors keep compression.type=producer so that "
           "batches stay byte-for-byte as on the source; remove it");
  }
  if (name == "message.timestamp.before.max.ms" || name == "message.timestamp.after.max.ms") {
    r.fail(at, path,
           name +
               " cannot be synced: klink sets it on mirrors so that old records are accepted "
               "whatever their age; remove it");
  }
  for (std::size_t j = 0; j < earlier.size(); ++j) {
    if (earlier[j] == name) {
      r.fail(at, path,
             "duplicate " + in_quotes(name) + " (also sync_configs[" + std::to_string(j) +
                 "]); name each config once");
    }
  }
}

std::vector<std::string> read_sync_configs(const toml_reader& r, const scope& topics) {
  auto names =
      r.string_array(topics, "sync_configs", false, "sync_configs = [\"retention.ms\", ...]");
  const toml::array& arr = *r.find(topics, "sync_configs")->as_array();
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::string path = topics.child("sync_configs") + "[" + std::to_string(i) + "]";
    check_sync_config(r, *arr.get(i), path, names[i], std::span(names).first(i));
  }
  return names;
}

void read_topics(const toml_reader& r, const scope& link, link_config& out) {
  scope s = r.required_table(link, "topics", "[links.topics] with include = [\"regex\", ...]");
  r.check_keys(s, {"include", "exclude", "prefix", "refresh_interval_ms", "sync_configs"});
  auto include = r.string_array(s, "include", true, "include = [\"topic-regex\", ...]");
  auto exclude = r.string_array(s, "exclude", false, "exclude = [\"topic-regex\", ...]");
  check_patterns(r, s, "include", include, "topic name");
  if (!exclude.empty()) check_patterns(r, s, "exclude", exclude, "topic name");
  out.topics = topic_filter(std::move(include), std::move(exclude));
  out.topic_prefix = read_prefix(r, s);
  // Below 100 ms discovery would only load the source's controller; tests use short ones.
  if (auto v =
          r.integer(s, "refresh_interval_ms", 100, 86400000,
                    "milliseconds between topic discoveries and config syncs; default 30000")) {
    out.topic_refresh_interval_ms = static_cast<std::int32_t>(*v);
  }
  if (r.find(s, "sync_configs") != nullptr) out.sync_configs = read_sync_configs(r, s);
}

// The text of `start`: a string, or an unquoted TOML offset date-time written
// back as RFC 3339 so that both go through one parser.
std::string start_text(const toml_reader& r, const toml::node& n, const std::string& key,
                       const std::string& accepted) {
  if (const auto* v = n.as_string()) return v->get();
  const auto* dt = n.as_date_time();
  if (dt == nullptr) {
    r.fail(n, key, "expected a string, got " + std::string(type_name(n)) + "; " + accepted);
  }
  // A local date-time has no zone, so it names no single instant.
  const toml::date_time& d = dt->get();
  if (!d.offset) {
    r.fail(n, key, "this date-time has no UTC offset; add Z or +hh:mm/-hh:mm; " + accepted);
  }
  const int off = d.offset->minutes;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04u-%02u-%02uT%02u:%02u:%02u.%09u%c%02d:%02d",
                unsigned{d.date.year}, unsigned{d.date.month}, unsigned{d.date.day},
                unsigned{d.time.hour}, unsigned{d.time.minute}, unsigned{d.time.second},
                unsigned{d.time.nanosecond}, off < 0 ? '-' : '+', std::abs(off) / 60,
                std::abs(off) % 60);
  return buf;
}

void read_start(const toml_reader& r, const scope& mirror, mirror_config& out) {
  const toml::node* n = r.find(mirror, "start");
  if (n == nullptr) return;
  const std::string key = mirror.child("start");
  const std::string accepted =
      "expected earliest, latest or an RFC 3339 timestamp with a UTC offset, e.g. "
      "\"2026-11-01T00:00:00Z\", \"2026-11-01T00:00:00.250Z\" or \"2026-11-01T02:00:00+02:00\"";
  const std::string text = start_text(r, *n, key, accepted);
  if (text == "earliest") {
    out.start = start_position::earliest;
  } else if (text == "latest") {
    out.start = start_position::latest;
  } else if (auto ms = parse_rfc3339_ms(text)) {
    out.start = start_position::timestamp;
    out.start_timestamp_ms = *ms;
  } else if (!text.empty() && std::isdigit(static_cast<unsigned char>(text.front()))) {
    r.fail(*n, key, "invalid timestamp " + in_quotes(text) + ": " + ms.error() + "; " + accepted);
  } else {
    std::string message = accepted + "; got " + in_quotes(text);
    for (std::string_view word : {"earliest", "latest"}) {
      if (edit_distance(text, word) <= 2) message += " (did you mean " + in_quotes(word) + "?)";
    }
    r.fail(*n, key, std::move(message));
  }
}

void read_mirror_keys(const toml_reader& r, const scope& s, mirror_config& out) {
  read_start(r, s, out);
  if (auto v = r.integer(s, "fetch_max_wait_ms", 0, 60000, "milliseconds")) {
    out.fetch_max_wait_ms = static_cast<std::int32_t>(*v);
  }
  if (auto v = r.integer(s, "fetch_max_bytes", kib, gib, "1 KiB..1 GiB")) {
    out.fetch_max_bytes = static_cast<std::int32_t>(*v);
  }
  if (auto v = r.integer(s, "partition_fetch_max_bytes", kib, gib, "1 KiB..1 GiB")) {
    out.partition_fetch_max_bytes = static_cast<std::int32_t>(*v);
  }
  if (auto v =
          r.integer(s, "max_buffered_bytes", kib, std::numeric_limits<std::int64_t>::max(), "")) {
    out.max_buffered_bytes = *v;
  }
  if (auto v = r.integer(s, "max_in_flight", 1, 5,
                         "idempotent producers keep ordering with at most 5")) {
    out.max_in_flight = static_cast<std::int32_t>(*v);
  }
  if (auto v = r.integer(s, "request_timeout_ms", 1000, 600000, "milliseconds")) {
    out.request_timeout_ms = static_cast<std::int32_t>(*v);
  }
  if (auto v = r.one_of<source_gap_policy>(
          s, "on_source_gap",
          {{"fail", source_gap_policy::fail}, {"skip", source_gap_policy::skip}})) {
    out.on_source_gap = *v;
  }
}

// Cross-field bounds. Blame the key the user wrote; if they wrote only the
// other one, blame that and name the default it collides with.
void check_mirror_sizes(const toml_reader& r, const scope& s, const mirror_config& out) {
  if (out.partition_fetch_max_bytes > out.fetch_max_bytes) {
    if (r.find(s, "partition_fetch_max_bytes") != nullptr) {
      r.fail(*r.find(s, "partition_fetch_max_bytes"), s.child("partition_fetch_max_bytes"),
             std::to_string(out.partition_fetch_max_bytes) + " exceeds fetch_max_bytes (" +
                 std::to_string(out.fetch_max_bytes) +
                 "); a partition's share cannot exceed the whole request: lower it or raise "
                 "fetch_max_bytes");
    }
    r.fail(*r.find(s, "fetch_max_bytes"), s.child("fetch_max_bytes"),
           std::to_string(out.fetch_max_bytes) + " is below partition_fetch_max_bytes (default " +
               std::to_string(out.partition_fetch_max_bytes) +
               "); raise it or set partition_fetch_max_bytes to at most " +
               std::to_string(out.fetch_max_bytes));
  }
  if (out.max_buffered_bytes < out.partition_fetch_max_bytes) {
    if (r.find(s, "max_buffered_bytes") != nullptr) {
      r.fail(*r.find(s, "max_buffered_bytes"), s.child("max_buffered_bytes"),
             std::to_string(out.max_buffered_bytes) + " is below partition_fetch_max_bytes (" +
                 std::to_string(out.partition_fetch_max_bytes) +
                 "); the buffer must hold at least one partition's fetch: raise it");
    }
    r.fail(*r.find(s, "partition_fetch_max_bytes"), s.child("partition_fetch_max_bytes"),
           std::to_string(out.partition_fetch_max_bytes) + " exceeds max_buffered_bytes (default " +
               std::to_string(out.max_buffered_bytes) +
               "); raise max_buffered_bytes or lower this");
  }
}

mirror_config read_mirror(const toml_reader& r, const scope& link) {
  mirror_config out;
  auto s = r.table(link, "mirror", "[links.mirror]");
  if (!s) return out;
  r.check_keys(*s, {"start", "fetch_max_wait_ms", "fetch_max_bytes", "partition_fetch_max_bytes",
                    "max_buffered_bytes", "max_in_flight", "request_timeout_ms", "on_source_gap"});
  read_mirror_keys(r, *s, out);
  check_mirror_sizes(r, *s, out);
  return out;
}

consumer_offsets_config read_consumer_offsets(const toml_reader& r, const scope& link) {
  consumer_offsets_config out;
  auto s = r.table(link, "consumer_offsets", "[links.consumer_offsets]");
  if (!s) return out;
  r.check_keys(*s, {"sync", "include", "exclude", "interval_ms"});
  out.sync = r.boolean(*s, "sync").value_or(out.sync);
  if (r.find(*s, "include") != nullptr) {
    // An empty list would sync nothing while sync = true says otherwise.
    out.include = r.string_array(*s, "include", true, "include = [\"group-id-regex\", ...]");
    check_patterns(r, *s, "include", out.include, "group id");
  }
  out.exclude = r.string_array(*s, "exclude", false, "exclude = [\"group-id-regex\", ...]");
  if (!out.exclude.empty()) check_patterns(r, *s, "exclude", out.exclude, "group id");
  if (auto v = r.integer(*s, "interval_ms", 100, 3600000, "milliseconds")) {
    out.interval_ms = static_cast<std::int32_t>(*v);
  }
  return out;
}

scale_out_config read_scale_out(const toml_reader& r, const scope& link,
                                const std::string& link_name) {
  scale_out_config out;
  out.group_id = "klink." + link_name;
  auto s = r.table(link, "scale_out", "[links.scale_out]");
  if (!s) return out;
  r.check_keys(*s, {"enabled", "group_id", "session_timeout_ms"});
  out.enabled = r.boolean(*s, "enabled").value_or(out.enabled);
  if (auto id = r.string(*s, "group_id")) {
    // Printable ASCII without spaces: the id shows up in kafka-consumer-groups
    // listings, ACLs and klink's own logs and metrics.
    if (id->empty() || id->size() > 249 || !printable_ascii(*id)) {
      r.fail(*r.find(*s, "group_id"), s->child("group_id"),
             "invalid group id " + in_quotes(*id) + " for link " + in_quotes(link_name) +
                 "; use 1..249 printable ASCII characters without spaces, or remove the key for "
                 "the default " +
                 in_quotes(out.group_id));
    }
    out.group_id = *id;
  }
  // Brokers refuse a session outside group.min.session.timeout.ms (default
  // 6000) .. group.max.session.timeout.ms; above 5 minutes a dead instance's
  // partitions would stay unmirrored too long.
  if (auto v =
          r.integer(*s, "session_timeout_ms", 6000, 300000,
                    "milliseconds before a silent instance's partitions move to the others; "
                    "brokers refuse less than group.min.session.timeout.ms, 6000 by default")) {
    out.session_timeout_ms = static_cast<std::int32_t>(*v);
  }
  return out;
}

}  // namespace

link_config read_link(const toml_reader& r, const scope& s) {
  r.check_keys(
      s, {"name", "source", "destination", "topics", "mirror", "consumer_offsets", "scale_out"});
  link_config out;
  auto name = r.string(s, "name");
  if (!name) r.fail(s.pos, s.child("name"), "missing required key; add name = \"my-link\"");
  if (!valid_link_name(*name)) {
    r.fail(
        *r.find(s, "name"), s.child("name"),
        "invalid link name " + in_quotes(*name) + "; use 1..64 characters from A-Z a-z 0-9 . _ -");
  }
  out.name = *name;
  out.source = read_cluster(r, s, "source", false, out.name);
  out.destination = read_cluster(r, s, "destination", true, out.name);
  read_topics(r, s, out);
  out.mirror = read_mirror(r, s);
  out.consumer_offsets = read_consumer_offsets(r, s);
  out.scale_out = read_scale_out(r, s, out.name);
  return out;
}

}  // namespace klink::config::detail
