#include "admin/http_api.h"

#include <cctype>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

namespace klink::admin {

namespace {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  while (!path.empty()) {
    const auto slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

// Compares in time that depends only on the presented value's length, never
// on where it first differs from the token.
bool same_secret(std::string_view presented, std::string_view token) {
  std::size_t diff = presented.size() ^ token.size();
  for (std::size_t i = 0; i < presented.size(); ++i) {
    const char t = token.empty() ? '\0' : token[i % token.size()];
    diff |= static_cast<unsigned char>(presented[i] ^ t);
  }
  return diff == 0;
}

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\r\n");
  return s.substr(first, last - first + 1);
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    const int hi = hex(text[i + 1]);
    const int lo = hex(text[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

route parse_route(std::string_view target) {
  route r;
  const auto query = target.find_first_of("?#");
  std::string_view path = target.substr(0, query);
  if (path == "/healthz") r.kind = route_kind::healthz;
  if (path == "/readyz") r.kind = route_kind::readyz;
  if (path == "/metrics") r.kind = route_kind::metrics;
  if (r.kind != route_kind::not_found || (!path.starts_with("/v1/") && path != "/v1")) return r;
  r.v1 = true;
  if (path.ends_with('/') && path.size() > 1) path.remove_suffix(1);
  auto parts = split_path(path.substr(1));  // "v1", "links", ...
  if (parts.size() < 2 || parts[1] != "links") return r;
  if (parts.size() == 2) {
    r.kind = route_kind::links;
    return r;
  }
  auto link = percent_decode(parts[2]);
  if (!link || link->empty()) return r;
  if (parts.size() == 4) {
    if (parts[3] == "mirrors") {
      r.kind = route_kind::mirrors;
    } else if (parts[3] == "members") {
      r.kind = route_kind::members;
    } else if (parts[3].starts_with("mirrors:")) {
      r.kind = route_kind::mirrors_action;
      r.action = std::string(parts[3].substr(8));
    } else {
      return r;
    }
    r.link = std::move(*link);
    return r;
  }
  if (parts.size() == 6 && parts[3] == "groups" && parts[5] == "offsets") {
    auto group = percent_decode(parts[4]);
    if (!group || group->empty()) return r;
    r.kind = route_kind::group_offsets;
    r.group = std::move(*group);
    r.link = std::move(*link);
    return r;
  }
  if (parts.size() != 5 || parts[3] != "mirrors") return r;
  auto segment = percent_decode(parts[4]);
  if (!segment || segment->empty()) return r;
  const auto colon = segment->rfind(':');
  if (colon == std::string::npos) {
    r.kind = route_kind::mirror;
    r.topic = std::move(*segment);
  } else {
    r.kind = route_kind::mirror_action;
    r.topic = segment->substr(0, colon);
    r.action = segment->substr(colon + 1);
    if (r.topic.empty()) {
      r.kind = route_kind::not_found;
      return r;
    }
  }
  r.link = std::move(*link);
  return r;
}

std::string_view allowed_methods(route_kind kind) {
  switch (kind) {
    case route_kind::mirror_action:
    case route_kind::mirrors_action:
      return "POST";
    case route_kind::not_found:
      return "";
    default:
      return "GET";
  }
}

token_set token_set::parse(std::string_view text) {
  token_set out;
  std::istringstream in{std::string(text)};
  for (std::string line; std::getline(in, line);) {
    const auto token = trim(line);
    if (token.empty() || token.front() == '#') continue;
    out.tokens_.emplace_back(token);
  }
  return out;
}

token_set token_set::load(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw std::runtime_error("cannot read tokens file " + file.string());
  std::ostringstream text;
  text << in.rdbuf();
  auto out = parse(text.str());
  if (out.empty()) throw std::runtime_error("tokens file " + file.string() + " holds no token");
  return out;
}

bool token_set::accepts(std::string_view authorization) const {
  constexpr std::string_view scheme = "Bearer ";
  if (authorization.size() <= scheme.size()) return false;
  // The scheme name is case-insensitive (RFC 7235).
  for (std::size_t i = 0; i < scheme.size(); ++i) {
    const char c = authorization[i];
    const char want = scheme[i];
    if (std::tolower(static_cast<unsigned char>(c)) !=
        std::tolower(static_cast<unsigned char>(want)))
      return false;
  }
  const auto presented = trim(authorization.substr(scheme.size()));
  bool found = false;
  for (const auto& token : tokens_) {
    found |= same_secret(presented, token);
  }
  return found;
}

http_reply error_reply(unsigned status, std::string_view error_code, std::string_view message) {
  http_reply r;
  r.status = status;
  r.body = nlohmann::json{{"error_code", error_code}, {"message", message}}.dump();
  return r;
}

namespace {
// Reads "timeout_ms" if present; an error names what is wrong with it.
std::optional<std::string> read_timeout(const nlohmann::json& doc, int64_t& timeout_ms) {
  if (!doc.contains("timeout_ms")) return std::nullopt;
  const auto& t = doc["timeout_ms"];
  if (!t.is_number_integer() || t.get<int64_t>() < 1 || t.get<int64_t>() > max_timeout_ms) {
    return "\"timeout_ms\" must be an integer from 1 to " + std::to_string(max_timeout_ms);
  }
  timeout_ms = t.get<int64_t>();
  return std::nullopt;
}
}  // namespace

namespace {
bool is_reverse_field(const std::string& key) {
  return key == "start" || key == "divergent" || key == "copy_to";
}

// The fields only :reverse takes, checked together.
std::optional<std::string> read_reverse(const nlohmann::json& doc, reverse_fields& out) {
  if (doc.contains("start")) {
    if (!doc["start"].is_boolean()) return "\"start\" must be true or false";
    out.start = doc["start"].get<bool>();
  }
  if (doc.contains("divergent")) {
    const auto& d = doc["divergent"];
    if (!d.is_string() || (d != "refuse" && d != "keep" && d != "copy"))
      return "\"divergent\" must be \"refuse\", \"keep\" or \"copy\"";
    out.divergent = d.get<std::string>();
  }
  if (doc.contains("copy_to")) {
    if (!doc["copy_to"].is_string() || doc["copy_to"].get<std::string>().empty())
      return "\"copy_to\" must be a topic name";
    out.copy_to = doc["copy_to"].get<std::string>();
  }
  if (out.divergent == "copy" && out.copy_to.empty())
    return "\"divergent\": \"copy\" needs \"copy_to\": the topic on the new primary to copy "
           "the divergent records to";
  if (out.divergent != "copy" && !out.copy_to.empty())
    return "\"copy_to\" goes with \"divergent\": \"copy\" only";
  return std::nullopt;
}
}  // namespace

std::expected<action_options, std::string> parse_action_body(std::string_view body, bool reverse) {
  action_options out;
  if (trim(body).empty()) return out;
  const auto doc = nlohmann::json::parse(body, nullptr, false);
  if (doc.is_discarded()) return std::unexpected("the body is not valid JSON");
  if (!doc.is_object()) return std::unexpected("the body must be empty or a JSON object");
  for (const auto& [key, _] : doc.items()) {
    if (key != "timeout_ms" && !(reverse && is_reverse_field(key))) {
      return std::unexpected(
          "unknown field \"" + key + "\"; expected \"timeout_ms\"" +
          (reverse ? std::string(", \"start\", \"divergent\" or \"copy_to\"") : std::string()));
    }
  }
  if (auto error = read_timeout(doc, out.timeout_ms)) return std::unexpected(*error);
  if (reverse) {
    if (auto error = read_reverse(doc, out.reverse)) return std::unexpected(*error);
  }
  return out;
}

std::expected<batch_selection, std::string> parse_batch_body(std::string_view body, bool reverse) {
  const auto doc = nlohmann::json::parse(body, nullptr, false);
  if (doc.is_discarded()) return std::unexpected("the body is not valid JSON");
  if (!doc.is_object()) return std::unexpected("the body must be a JSON object");
  for (const auto& [key, _] : doc.items()) {
    if (key != "topics" && key != "all" && key != "timeout_ms" &&
        !(reverse && is_reverse_field(key))) {
      return std::unexpected("unknown field \"" + key +
                             "\"; expected \"topics\" or \"all\", and optionally \"timeout_ms\"");
    }
  }
  batch_selection out;
  if (auto error = read_timeout(doc, out.timeout_ms)) return std::unexpected(*error);
  if (reverse) {
    if (auto error = read_reverse(doc, out.reverse)) return std::unexpected(*error);
  }
  const bool has_all = doc.contains("all");
  const bool has_topics = doc.contains("topics");
  if (has_all == has_topics)
    return std::unexpected("give exactly one of {\"topics\": [...]} or {\"all\": true}");
  if (has_all) {
    if (!doc["all"].is_boolean() || !doc["all"].get<bool>())
      return std::unexpected("\"all\" must be true");
    out.all = true;
    return out;
  }
  const auto& topics = doc["topics"];
  if (!topics.is_array() || topics.empty())
    return std::unexpected("\"topics\" must be a non-empty array of topic names");
  for (const auto& t : topics) {
    if (!t.is_string() || t.get<std::string>().empty())
      return std::unexpected("\"topics\" must be a non-empty array of topic names");
    out.topics.push_back(t.get<std::string>());
  }
  return out;
}

}  // namespace klink::admin
