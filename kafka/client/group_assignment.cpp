#include "kafka/client/group_assignment.h"

#include <cstring>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace klink::kafka::client {

namespace {
using nlohmann::json;

constexpr std::string_view metadata_call = "member metadata";
constexpr std::string_view assignment_call = "member assignment";

error corrupt(std::string_view call, std::string what) {
  return error(errc::corrupt_data, call, std::move(what));
}

// [["topic", [partitions...]], ...] keeps the blobs small for many
// partitions of few topics, and (unlike an object keyed by topic) keeps the
// list's order: consecutive partitions of one topic share an entry.
json partitions_to_json(const std::vector<topic_partition>& partitions) {
  json out = json::array();
  for (const auto& [topic, partition] : partitions) {
    if (out.empty() || out.back()[0] != topic) out.push_back(json::array({topic, json::array()}));
    out.back()[1].push_back(partition);
  }
  return out;
}

std::vector<topic_partition> partitions_from_json(const json& j) {
  std::vector<topic_partition> out;
  if (!j.is_array()) throw std::invalid_argument("partitions: not an array");
  for (const auto& entry : j) {
    if (!entry.is_array() || entry.size() != 2 || !entry[0].is_string() || !entry[1].is_array())
      throw std::invalid_argument("partitions: expected [topic, [partition, ...]]");
    const auto topic = entry[0].get<std::string>();
    for (const auto& p : entry[1]) {
      if (!p.is_number_integer()) throw std::invalid_argument("partitions: not an integer");
      out.emplace_back(topic, p.get<int32_t>());
    }
  }
  return out;
}

byte_vector to_bytes(const json& j) {
  const std::string text = j.dump();
  byte_vector out(text.size());
  std::memcpy(out.data(), text.data(), text.size());
  return out;
}

result<json> parse_blob(std::string_view call, bytes_view blob) {
  if (blob.empty()) return std::unexpected(corrupt(call, "empty blob"));
  json j = json::parse(reinterpret_cast<const char*>(blob.data()),
                       reinterpret_cast<const char*>(blob.data()) + blob.size(), nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return std::unexpected(corrupt(call, "not a JSON object"));
  if (!j.contains("v") || !j["v"].is_number_integer() || j["v"].get<int>() < 1)
    return std::unexpected(corrupt(call, "no version"));
  return j;
}

// Parses the blob and lets `read` fill in a T from it; json's type errors
// (a field of the wrong type) become corrupt_data too.
template <class T, class Read>
result<T> decode_blob(std::string_view call, bytes_view blob, Read read) {
  auto j = parse_blob(call, blob);
  if (!j) return std::unexpected(std::move(j.error()));
  try {
    return read(*j);
  } catch (const std::exception& e) {
    return std::unexpected(corrupt(call, e.what()));
  }
}

}  // namespace

byte_vector encode_member_metadata(const member_metadata& metadata) {
  return to_bytes(json{{"v", blob_version},
                       {"instance", metadata.instance},
                       {"generation", metadata.generation},
                       {"owned", partitions_to_json(metadata.owned)}});
}

result<member_metadata> decode_member_metadata(bytes_view blob) {
  return decode_blob<member_metadata>(metadata_call, blob, [](const json& j) {
    member_metadata out;
    out.instance = j.value("instance", std::string());
    out.generation = j.value("generation", -1);
    if (j.contains("owned")) out.owned = partitions_from_json(j["owned"]);
    return out;
  });
}

byte_vector encode_member_assignment(const member_assignment& assignment) {
  return to_bytes(json{{"v", blob_version},
                       {"generation", assignment.generation},
                       {"leader", assignment.leader},
                       {"partitions", partitions_to_json(assignment.partitions)}});
}

result<member_assignment> decode_member_assignment(bytes_view blob) {
  return decode_blob<member_assignment>(assignment_call, blob, [](const json& j) {
    member_assignment out;
    out.generation = j.value("generation", -1);
    out.leader = j.value("leader", std::string());
    if (j.contains("partitions")) out.partitions = partitions_from_json(j["partitions"]);
    return out;
  });
}

}  // namespace klink::kafka::client
