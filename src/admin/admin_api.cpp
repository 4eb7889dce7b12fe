#include "admin/admin_api.h"

#include <cctype>
#include <exception>
#include <nlohmann/json.hpp>

#include "log/log.h"

namespace klink::admin {

namespace {

using nlohmann::json;

http_reply json_reply(unsigned status, const json& body) {
  http_reply r;
  r.status = status;
  r.body = body.dump();
  return r;
}

json nullable(int64_t offset) {
  return offset < 0 ? json(nullptr) : json(offset);
}

std::string partition_state_name(const mirror::partition_mirror& p) {
  if (p.state == mirror::partition_state::active) return p.paused ? "PAUSED" : "ACTIVE";
  std::string s(mirror::to_string(p.state));
  for (auto& c : s)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

bool known_action(const std::string& action) {
  return action == "pause" || action == "resume";
}

}  // namespace

admin_api::admin_api(const std::vector<std::unique_ptr<linker::link>>& links, token_set tokens)
    : links_(links), tokens_(std::move(tokens)), metrics_(clock_) {}

http_reply admin_api::handle(const http_request& request) {
  try {
    const route r = parse_route(request.target);
    // Before routing: an unauthenticated caller learns nothing, not even
    // which links exist.
    if (r.v1 && !tokens_.empty() && !tokens_.accepts(request.authorization)) {
      auto reply = error_reply(401, "UNAUTHORIZED",
                               request.authorization.empty()
                                   ? "this endpoint needs Authorization: Bearer <token>"
                                   : "the bearer token is not valid");
      reply.www_authenticate = true;
      return reply;
    }
    if (r.kind == route_kind::not_found) {
      return error_reply(
          404, "NOT_FOUND",
          "no such endpoint: " + std::string(request.method) + " " + std::string(request.target));
    }
    if (request.method != allowed_methods(r.kind)) {
      auto reply =
          error_reply(405, "METHOD_NOT_ALLOWED",
                      "use " + std::string(allowed_methods(r.kind)) + " for this endpoint");
      reply.allow = allowed_methods(r.kind);
      return reply;
    }
    return dispatch(r, request);
  } catch (const std::exception& e) {
    log::error("admin request failed", {{"target", request.target}, {"error", e.what()}});
    return error_reply(500, "INTERNAL", e.what());
  }
}

linker::link* admin_api::find_link(const std::string& name) const {
  for (const auto& l : links_) {
    if (l->name() == name) return l.get();
  }
  return nullptr;
}

http_reply admin_api::dispatch(const route& r, const http_request& request) {
  switch (r.kind) {
    case route_kind::healthz:
      return json_reply(200, {{"status", "ok"}});
    case route_kind::readyz:
      return readyz();
    case route_kind::metrics: {
      metrics_.update(links_);
      http_reply reply;
      reply.content_type = "text/plain; version=0.0.4; charset=utf-8";
      reply.body = metrics_.serialize();
      return reply;
    }
    case route_kind::links:
      return list_links();
    default:
      break;
  }
  linker::link* link = find_link(r.link);
  if (link == nullptr) return error_reply(404, "UNKNOWN_LINK", "no link named \"" + r.link + "\"");
  switch (r.kind) {
    case route_kind::mirrors:
      return list_mirrors(*link);
    case route_kind::mirror:
      return one_mirror(*link, r.topic);
    case route_kind::mirror_action:
      return mirror_action(*link, r.topic, r.action, request.body);
    case route_kind::mirrors_action:
      return mirrors_action(*link, r.action, request.body);
    default:
      return error_reply(404, "NOT_FOUND", "no such endpoint");
  }
}

http_reply admin_api::readyz() const {
  std::string reasons;
  for (const auto& l : links_) {
    for (const char* role : {"source", "destination"}) {
      const auto reason = l->unreachable_reason(role);
      if (reason.empty()) continue;
      if (!reasons.empty()) reasons += "; ";
      reasons += "link " + l->name() + ": " + reason;
    }
  }
  if (!reasons.empty()) return error_reply(503, "NOT_READY", reasons);
  return json_reply(200, {{"status", "ready"}});
}

http_reply admin_api::list_links() const {
  json out = json::array();
  for (const auto& l : links_) {
    auto cluster_id = [&](const kafka::cluster& c, const char* role) {
      return l->reachable(role) && !c.metadata().cluster_id.empty() ? json(c.metadata().cluster_id)
                                                                    : json(nullptr);
    };
    out.push_back({{"name", l->name()},
                   {"state", l->state()},
                   {"source_cluster_id", cluster_id(l->source(), "source")},
                   {"destination_cluster_id", cluster_id(l->destination(), "destination")},
                   {"source_reachable", l->reachable("source")},
                   {"destination_reachable", l->reachable("destination")},
                   {"mirror_count", partitions_by_topic(*l).size()},
                   {"lag_records", l->lag_records()}});
  }
  return json_reply(200, {{"links", out}});
}

json admin_api::mirror_json(const linker::link& link, const std::string& topic,
                            const std::vector<const mirror::partition_mirror*>& partitions) {
  const auto now = std::chrono::system_clock::now();
  json ps = json::array();
  int64_t lag = 0;
  std::string mirror_topic = topic;
  for (const auto* p : partitions) {
    mirror_topic = p->mirror_topic;
    lag += p->lag_records();
    ps.push_back({{"partition", p->partition},
                  {"state", partition_state_name(*p)},
                  {"source_end_offset", nullable(source_end_offset(*p))},
                  {"mirrored_source_offset", p->mirrored_source_offset()},
                  {"destination_end_offset", nullable(p->next_destination_offset)},
                  {"lag_records", p->lag_records()},
                  {"lag_seconds", clock_.lag_seconds(link.name(), *p, now)},
                  {"last_error", p->error.empty() ? json(nullptr) : json(p->error)}});
  }
  return {{"source_topic", topic},
          {"mirror_topic", mirror_topic},
          {"state", mirror_state(link, partitions)},
          {"lag_records", lag},
          {"partitions", ps}};
}

http_reply admin_api::list_mirrors(const linker::link& link) {
  json out = json::array();
  for (const auto& [topic, partitions] : partitions_by_topic(link))
    out.push_back(mirror_json(link, topic, partitions));
  return json_reply(200, {{"link", link.name()}, {"mirrors", out}});
}

http_reply admin_api::one_mirror(const linker::link& link, const std::string& topic) {
  const auto all = partitions_by_topic(link);
  auto it = all.find(topic);
  if (it == all.end()) {
    return error_reply(404, "UNKNOWN_TOPIC",
                       "link " + link.name() + " mirrors no topic \"" + topic + "\"");
  }
  return json_reply(200, mirror_json(link, topic, it->second));
}

std::pair<unsigned, json> admin_api::apply(linker::link& link, const std::string& topic,
                                           const std::string& action) {
  const auto all = partitions_by_topic(link);
  auto it = all.find(topic);
  if (it == all.end()) {
    return {404,
            {{"error_code", "UNKNOWN_TOPIC"},
             {"message", "link " + link.name() + " mirrors no topic \"" + topic + "\""}}};
  }
  const auto state = mirror_state(link, it->second);
  if (state == "FAILED" || state == "DIVERGED") {
    return {409,
            {{"error_code", "CONFLICT"},
             {"message", "mirror " + topic + " is " + std::string(state) +
                             "; pause and resume apply to running mirrors only"}}};
  }
  if (action == "pause") {
    link.pause(topic);
  } else {
    link.resume(topic);
  }
  return {200, mirror_json(link, topic, it->second)};
}

http_reply admin_api::mirror_action(linker::link& link, const std::string& topic,
                                    const std::string& action, std::string_view body) {
  if (!known_action(action)) {
    return error_reply(404, "UNKNOWN_ACTION",
                       "no action \"" + action + "\" on a mirror; expected pause or resume");
  }
  if (!body.empty()) {
    const auto doc = json::parse(body, nullptr, false);
    if (doc.is_discarded() || !doc.is_object())
      return error_reply(400, "BAD_REQUEST", "the body must be empty or a JSON object");
  }
  auto [status, result] = apply(link, topic, action);
  return json_reply(status, result);
}

http_reply admin_api::mirrors_action(linker::link& link, const std::string& action,
                                     std::string_view body) {
  if (!known_action(action)) {
    return error_reply(404, "UNKNOWN_ACTION",
                       "no batch action \"" + action + "\"; expected pause or resume");
  }
  auto selection = parse_batch_body(body);
  if (!selection) return error_reply(400, "BAD_REQUEST", selection.error());
  std::vector<std::string> topics = selection->topics;
  if (selection->all) {
    for (const auto& [topic, _] : partitions_by_topic(link))
      topics.push_back(topic);
  }
  json results = json::array();
  for (const auto& topic : topics) {
    auto [status, result] = apply(link, topic, action);
    json entry{{"topic", topic}, {"status", status}};
    if (status == 200) {
      entry["state"] = result["state"];
      entry["lag_records"] = result["lag_records"];
    } else {
      entry["error_code"] = result["error_code"];
      entry["message"] = result["message"];
    }
    results.push_back(std::move(entry));
  }
  return json_reply(200, {{"link", link.name()}, {"results", results}});
}

}  // namespace klink::admin
