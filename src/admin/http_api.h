// The admin endpoint's pure parts: routes, bearer tokens, JSON errors, request bodies.
// No I/O here, so the unit tests cover them without a socket.
#pragma once

#include <expected>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace klink::admin {

// What the HTTP layer hands to the API, and what it sends back.
struct http_request {
  std::string_view method;  // "GET", "POST", ...
  std::string_view target;  // path and optional query
  std::string_view body;
  std::string_view authorization;  // the Authorization header, empty if absent
};

struct http_reply {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  bool www_authenticate = false;  // a 401 names the Bearer scheme
  std::string allow;              // a 405 names the methods the endpoint takes
};

enum class route_kind {
  not_found,
  healthz,
  readyz,
  metrics,
  links,           // /v1/links
  mirrors,         // /v1/links/{link}/mirrors
  mirror,          // /v1/links/{link}/mirrors/{topic}
  mirror_action,   // /v1/links/{link}/mirrors/{topic}:{action}
  mirrors_action,  // /v1/links/{link}/mirrors:{action}
  group_offsets,   // /v1/links/{link}/groups/{group}/offsets
  members,         // /v1/links/{link}/members (scale-out)
};

struct route {
  route_kind kind = route_kind::not_found;
  std::string link;
  std::string topic;
  std::string action;  // "pause", "resume", "promote", "failover"; others are answered 404
  std::string group;
  bool v1 = false;  // under /v1: needs a token when tokens are configured
};

// Splits a request target into a route. The query string is ignored; path
// segments are percent-decoded (a topic name has no ':' or '/', so the action
// suffix is unambiguous). Malformed escapes give not_found.
route parse_route(std::string_view target);

std::optional<std::string> percent_decode(std::string_view text);

// The methods a route answers; anything else is 405.
std::string_view allowed_methods(route_kind kind);

// Bearer tokens, one per line; blank lines and lines starting with '#' are
// skipped, surrounding whitespace trimmed. Tokens are never logged.
class token_set {
 public:
  token_set() = default;
  static token_set parse(std::string_view text);
  // Throws std::runtime_error if the file cannot be read or holds no token.
  static token_set load(const std::filesystem::path& file);

  bool empty() const { return tokens_.empty(); }
  std::size_t size() const { return tokens_.size(); }
  // Whether `authorization` is "Bearer <token>" for a known token. Every
  // token is compared in full, in time independent of where they differ.
  bool accepts(std::string_view authorization) const;

 private:
  std::vector<std::string> tokens_;
};

http_reply error_reply(unsigned status, std::string_view error_code, std::string_view message);

// How long a promote or failover may take when the body does not say.
inline constexpr int64_t default_timeout_ms = 30000;
inline constexpr int64_t max_timeout_ms = 3'600'000;

// The body of a call on one mirror: empty, or {"timeout_ms": N}.
// :reverse also takes "start" (false: reversed but paused), "divergent"
// ("refuse", "keep" or "copy") and, with "copy", "copy_to".
struct reverse_fields {
  bool start = true;
  std::string divergent = "refuse";
  std::string copy_to;
};
struct action_options {
  int64_t timeout_ms = default_timeout_ms;
  reverse_fields reverse;
};
std::expected<action_options, std::string> parse_action_body(std::string_view body,
                                                             bool reverse = false);

// The body of a batch call: {"topics": ["a", "b"]} or {"all": true}, and
// optionally "timeout_ms".
struct batch_selection {
  bool all = false;
  std::vector<std::string> topics;
  int64_t timeout_ms = default_timeout_ms;
  reverse_fields reverse;
};
std::expected<batch_selection, std::string> parse_batch_body(std::string_view body,
                                                             bool reverse = false);

}  // namespace klink::admin
