#include "linker/mirror_record.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>
#include <numeric>
#include <stdexcept>

namespace klink::linker {

namespace {

error unreadable(std::string text) {
  return error(errc::unreadable_state, {}, std::move(text));
}
using nlohmann::json;

constexpr std::pair<mirror_phase, std::string_view> phase_names[] = {
    {mirror_phase::active, "ACTIVE"},           {mirror_phase::paused, "PAUSED"},
    {mirror_phase::promoting, "PROMOTING"},     {mirror_phase::promoted, "PROMOTED"},
    {mirror_phase::failed_over, "FAILED_OVER"}, {mirror_phase::diverged, "DIVERGED"},
};

std::string rfc3339(int64_t ms) {
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[40];
  std::snprintf(out, sizeof out, "%s.%03dZ", text, static_cast<int>(ms % 1000));
  return out;
}

json result_fields(const switch_result& r) {
  json partitions = json::array();
  for (const auto& p : r.partitions) {
    partitions.push_back({{"partition", p.partition},
                          {"source_end_offset", p.source_end_offset},
                          {"mirrored_source_offset", p.mirrored_source_offset},
                          {"destination_end_offset", p.destination_end_offset},
                          {"abandoned_records", p.abandoned_records}});
  }
  json out{{"action", r.action},
           {"completed_at_ms", r.completed_at_ms},
           {"abandoned_records", r.abandoned_records()},
           {"partitions", partitions}};
  if (r.consumer_offsets_synced) {
    out["consumer_offsets"] = {{"groups_synced", r.consumer_groups_synced},
                               {"groups_failed", r.consumer_groups_failed},
                               {"errors", r.consumer_offset_errors}};
  }
  return out;
}
// nlohmann turns a JSON float into an integer with a cast, undefined beyond
// the integer's range: integer fields must be JSON integers.
int64_t integer(const json& v) {
  if (!v.is_number_integer()) throw std::invalid_argument("not an integer: " + v.dump());
  return v.get<int64_t>();
}
int64_t integer_or(const json& doc, const char* key, int64_t absent) {
  return doc.contains(key) ? integer(doc.at(key)) : absent;
}
int32_t partition_of(const json& p) {
  const int64_t partition = integer(p.at("partition"));
  if (partition < 0 || partition > INT32_MAX)
    throw std::invalid_argument("partition " + std::to_string(partition));
  return static_cast<int32_t>(partition);
}

switch_result parse_result(const json& r) {
  switch_result result;
  result.action = r.at("action").get<std::string>();
  result.completed_at_ms = integer(r.at("completed_at_ms"));
  for (const auto& p : r.at("partitions")) {
    const int64_t abandoned = integer(p.at("abandoned_records"));
    if (abandoned < 0) throw std::invalid_argument("negative abandoned_records");
    result.partitions.push_back({partition_of(p), integer(p.at("source_end_offset")),
                                 integer(p.at("mirrored_source_offset")),
                                 integer(p.at("destination_end_offset")), abandoned});
  }
  if (r.contains("consumer_offsets")) {
    const json& c = r.at("consumer_offsets");
    result.consumer_offsets_synced = true;
    result.consumer_groups_synced = integer(c.at("groups_synced"));
    result.consumer_groups_failed = integer(c.at("groups_failed"));
    result.consumer_offset_errors = c.at("errors").get<std::vector<std::string>>();
  }
  return result;
}

json range_fields(const divergent_range& r) {
  json out{{"partition", r.partition},
           {"start_offset", r.start_offset},
           {"end_offset", r.end_offset},
           {"records", r.records},
           {"generation", r.generation}};
  if (!r.copied_to.empty()) out["copied_to"] = r.copied_to;
  return out;
}
}  // namespace

std::string_view to_string(mirror_phase phase) {
  for (const auto& [p, name] : phase_names) {
    if (p == phase) return name;
  }
  return "UNKNOWN";
}

std::optional<mirror_phase> parse_phase(std::string_view name) {
  for (const auto& [p, n] : phase_names) {
    if (n == name) return p;
  }
  return std::nullopt;
}

int64_t switch_result::abandoned_records() const {
  // Each is >= 0; a sum beyond int64 (only a forged record has one) saturates.
  return std::accumulate(
      partitions.begin(), partitions.end(), int64_t{0}, [](int64_t sum, const partition_final& p) {
        return p.abandoned_records > INT64_MAX - sum ? INT64_MAX : sum + p.abandoned_records;
      });
}

int64_t wall_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string mirror_state_key(std::string_view link, std::string_view topic) {
  // Neither link nor topic names may contain '/'.
  return std::string(link) + "/" + std::string(topic);
}

std::string serialize(const mirror_record& record) {
  json doc{{"version", 1}, {"state", to_string(record.phase)}};
  if (!record.reason.empty()) doc["reason"] = record.reason;
  if (record.result) doc["result"] = result_fields(*record.result);
  if (!record.mirror_topic.empty()) doc["mirror_topic"] = record.mirror_topic;
  if (!record.source_topic_id.empty()) doc["source_topic_id"] = record.source_topic_id;
  if (!record.source_cluster_id.empty()) doc["source_cluster_id"] = record.source_cluster_id;
  if (record.held_until_ms > 0) {
    doc["held_by"] = record.held_by;
    doc["held_until_ms"] = record.held_until_ms;
  }
  if (record.generation > 0) doc["generation"] = record.generation;
  if (record.pause_epoch > 0) doc["pause_epoch"] = record.pause_epoch;
  if (!record.history.empty()) {
    doc["history"] = json::array();
    for (const auto& r : record.history)
      doc["history"].push_back(result_fields(r));
  }
  if (!record.divergent_ranges.empty()) {
    doc["divergent_ranges"] = json::array();
    for (const auto& r : record.divergent_ranges)
      doc["divergent_ranges"].push_back(range_fields(r));
  }
  return doc.dump();
}

result<mirror_record> parse_mirror_record(std::string_view text) {
  const json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return std::unexpected(unreadable("not a JSON object"));
  try {
    if (integer(doc.at("version")) != 1)
      return std::unexpected(unreadable("record version " + doc.at("version").dump() +
                                        ", and this klink reads only version 1 (a newer klink "
                                        "wrote it: run that version)"));
    mirror_record record;
    auto phase = parse_phase(doc.at("state").get<std::string>());
    if (!phase) return std::unexpected(unreadable("unknown state " + doc.at("state").dump()));
    // A promotion in progress is never final: whoever reads it resumes mirroring.
    record.phase = *phase == mirror_phase::promoting ? mirror_phase::active : *phase;
    record.reason = doc.value("reason", "");
    record.mirror_topic = doc.value("mirror_topic", "");
    record.source_topic_id = doc.value("source_topic_id", "");
    record.source_cluster_id = doc.value("source_cluster_id", "");
    // serialize writes a hold (who, until when) only while it is one.
    record.held_until_ms = std::max<int64_t>(integer_or(doc, "held_until_ms", 0), 0);
    if (record.held_until_ms > 0) record.held_by = doc.value("held_by", "");
    if (doc.contains("result")) record.result = parse_result(doc.at("result"));
    record.generation = integer_or(doc, "generation", 0);
    if (record.generation < 0)
      return std::unexpected(unreadable("negative generation " + doc.at("generation").dump()));
    record.pause_epoch = std::max<int64_t>(integer_or(doc, "pause_epoch", 0), 0);
    if (doc.contains("history")) {
      for (const auto& r : doc.at("history"))
        record.history.push_back(parse_result(r));
    }
    if (doc.contains("divergent_ranges")) {
      for (const auto& r : doc.at("divergent_ranges")) {
        record.divergent_ranges.push_back(
            {partition_of(r), integer(r.at("start_offset")), integer(r.at("end_offset")),
             integer(r.at("records")), r.value("copied_to", ""), integer_or(r, "generation", 0)});
      }
    }
    return record;
  } catch (const std::exception& e) {  // json::exception, or a field integer() refused
    return std::unexpected(unreadable(std::string("malformed mirror state record: ") + e.what()));
  }
}

json to_json(const switch_result& result) {
  json out = result_fields(result);
  out["completed_at"] = rfc3339(result.completed_at_ms);
  return out;
}

json to_json(const divergent_range& range) {
  return range_fields(range);
}

}  // namespace klink::linker
