#include "admin/admin_api.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <exception>
#include <map>
#include <nlohmann/json.hpp>
#include <tuple>

#include "admin/admin_json.h"
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

json unknown_topic(const linker::link& link, const std::string& topic) {
  return {{"error_code", "UNKNOWN_TOPIC"},
          {"message", "link " + link.name() + " mirrors no topic \"" + topic + "\""}};
}

// What keeps the link from both clusters, for operators reading /v1/links.
json link_error(const linker::link& l) {
  std::string out;
  for (const char* role : {"source", "destination"}) {
    const auto reason = l.health().unreachable_reason(role);
    if (reason.empty()) continue;
    if (!out.empty()) out += "; ";
    out += reason;
  }
  return out.empty() ? json(nullptr) : json(out);
}

bool known_action(const std::string& action) {
  return action == "pause" || action == "resume" || action == "promote" || action == "failover" ||
         action == "reverse";
}

bool switches(const std::string& action) {
  return action == "promote" || action == "failover" || action == "reverse";
}

linker::reverse_options reverse_options_of(const reverse_fields& fields) {
  linker::reverse_options out;
  out.start = fields.start;
  out.divergent = fields.divergent == "keep"   ? linker::divergent_choice::keep
                  : fields.divergent == "copy" ? linker::divergent_choice::copy
                                               : linker::divergent_choice::refuse;
  out.copy_to = fields.copy_to;
  return out;
}

// The HTTP status and error code of a promote/failover outcome.
std::pair<unsigned, std::string_view> status_of(const linker::switch_outcome& outcome) {
  using linker::switch_status;
  switch (outcome.status) {
    case switch_status::switched:
      return {200, ""};
    case switch_status::unknown_topic:
      return {404, "UNKNOWN_TOPIC"};
    case switch_status::conflict:
      return {409, "CONFLICT"};
    case switch_status::timed_out:
      return {409, "PROMOTE_TIMED_OUT"};
    case switch_status::source_unavailable:
      return {409, "SOURCE_UNAVAILABLE"};
    case switch_status::not_persisted:
      return {503, "STATE_NOT_PERSISTED"};
    case switch_status::divergent:
      return {409, "DIVERGENT_RECORDS"};
  }
  return {500, "INTERNAL"};
}

}  // namespace

admin_api::admin_api(const std::vector<std::unique_ptr<linker::link>>& links, token_set tokens)
    : links_(links), tokens_(std::move(tokens)) {}

asio::awaitable<http_reply> admin_api::handle(const http_request& request) {
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
      co_return reply;
    }
    if (r.kind == route_kind::not_found) {
      co_return error_reply(
          404, "NOT_FOUND",
          "no such endpoint: " + std::string(request.method) + " " + std::string(request.target));
    }
    if (request.method != allowed_methods(r.kind)) {
      auto reply =
          error_reply(405, "METHOD_NOT_ALLOWED",
                      "use " + std::string(allowed_methods(r.kind)) + " for this endpoint");
      reply.allow = allowed_methods(r.kind);
      co_return reply;
    }
    co_return co_await dispatch(r, request);
  } catch (const std::exception& e) {
    log::error("admin request failed", {{"target", request.target}, {"error", e.what()}});
    co_return error_reply(500, "INTERNAL", e.what());
  }
}

linker::link* admin_api::find_link(const std::string& name) const {
  for (const auto& l : links_) {
    if (l->name() == name) return l.get();
  }
  return nullptr;
}

asio::awaitable<http_reply> admin_api::dispatch(const route& r, const http_request& request) {
  switch (r.kind) {
    case route_kind::healthz:
      co_return json_reply(200, {{"status", "ok"}});
    case route_kind::readyz:
      co_return readyz();
    case route_kind::metrics: {
      metrics_.update(links_);
      http_reply reply;
      reply.content_type = "text/plain; version=0.0.4; charset=utf-8";
      reply.body = metrics_.serialize();
      co_return reply;
    }
    case route_kind::links:
      co_return list_links();
    default:
      break;
  }
  linker::link* link = find_link(r.link);
  if (link == nullptr)
    co_return error_reply(404, "UNKNOWN_LINK", "no link named \"" + r.link + "\"");
  switch (r.kind) {
    case route_kind::mirrors:
      co_return list_mirrors(*link);
    case route_kind::mirror:
      co_return one_mirror(*link, link->source_topic_named(r.topic));
    case route_kind::mirror_action:
      co_return co_await mirror_action(*link, link->source_topic_named(r.topic), r.action,
                                       request.body);
    case route_kind::mirrors_action:
      co_return co_await mirrors_action(*link, r.action, request.body);
    case route_kind::group_offsets:
      co_return co_await group_offsets(*link, r.group);
    case route_kind::members:
      co_return co_await members(*link);
    default:
      co_return error_reply(404, "NOT_FOUND", "no such endpoint");
  }
}

http_reply admin_api::readyz() const {
  std::string reasons;
  for (const auto& l : links_) {
    for (const char* role : {"source", "destination"}) {
      const auto reason = l->health().unreachable_reason(role);
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
    auto cluster_id = [&](const char* role) {
      return l->health().reachable(role) && !l->cluster_id(role).empty() ? json(l->cluster_id(role))
                                                                         : json(nullptr);
    };
    out.push_back(
        {{"name", l->name()},
         {"state", l->state()},
         {"source_cluster_id", cluster_id("source")},
         {"destination_cluster_id", cluster_id("destination")},
         {"source_reachable", l->health().reachable("source")},
         {"destination_reachable", l->health().reachable("destination")},
         {"mirror_count", l->mirror_topics().size()},
         {"reason", l->health().failure_reason().empty() ? json(nullptr)
                                                         : json(l->health().failure_reason())},
         {"error", link_error(*l)},
         {"lag_records", l->lag_records()}});
    if (l->scale_out() != nullptr) {
      json scale_out = this_member_json(*l);
      scale_out["group_id"] = l->scale_out()->group_id();
      out.back()["scale_out"] = std::move(scale_out);
    }
  }
  return json_reply(200, {{"links", out}});
}

http_reply admin_api::list_mirrors(linker::link& link) {
  json out = json::array();
  for (const auto& m : link.mirrors())
    out.push_back(mirror_json(m));
  return json_reply(200, {{"link", link.name()}, {"mirrors", out}});
}

http_reply admin_api::one_mirror(linker::link& link, const std::string& topic) {
  const auto m = link.mirror(topic);
  if (!m) return json_reply(404, unknown_topic(link, topic));
  return json_reply(200, mirror_json(*m));
}

asio::awaitable<std::pair<unsigned, json>> admin_api::apply(linker::link& link,
                                                            const std::string& topic,
                                                            const std::string& action,
                                                            int64_t timeout_ms) {
  const auto before = link.mirror(topic);
  if (!before) co_return std::pair<unsigned, json>{404, unknown_topic(link, topic)};
  const auto state = before->state;
  if (state != "ACTIVE" && state != "PAUSED" && state != "SOURCE_UNAVAILABLE") {
    co_return std::pair<unsigned, json>{
        409,
        {{"error_code", "CONFLICT"},
         {"message", "mirror " + topic + " is " + std::string(state) +
                         "; pause and resume apply to running mirrors only"}}};
  }
  if (action == "resume") {
    link.resume_mirror(topic);
    co_return std::pair<unsigned, json>{200, mirror_json(*link.mirror(topic))};
  }
  // Exact: nothing is written into the mirror after this answer.
  const auto paused = co_await link.pause_mirror(topic, std::chrono::milliseconds(timeout_ms));
  if (!paused.settled) {
    const std::string what = paused.problem.empty()
                                 ? "batches sent before the pause are still unanswered after " +
                                       std::to_string(timeout_ms) +
                                       " ms (is the destination reachable?)"
                                 : paused.problem + " after " + std::to_string(timeout_ms) + " ms";
    co_return std::pair<unsigned, json>{
        503,
        {{"error_code", "PAUSE_NOT_SETTLED"},
         {"message", "mirror " + topic + " is paused, but " + what +
                         "; writes may still land: call again to wait for them"}}};
  }
  co_return std::pair<unsigned, json>{200, mirror_json(*link.mirror(topic))};
}

asio::awaitable<std::map<std::string, std::pair<unsigned, json>>> admin_api::switch_topics(
    linker::link& link, const std::string& action, const std::vector<std::string>& topics,
    int64_t timeout_ms, const reverse_fields& reverse) {
  const std::chrono::milliseconds timeout(timeout_ms);
  auto outcomes =
      co_await link.switch_mirrors(action, topics, timeout, reverse_options_of(reverse));
  std::map<std::string, std::pair<unsigned, json>> out;
  for (const auto& [topic, outcome] : outcomes) {
    const auto [status, code] = status_of(outcome);
    if (status == 200) {
      auto m = link.mirror(topic);
      if (!m) {
        // Switched, and no longer listed (the filters do not select it).
        m.emplace();
        m->source_topic = topic;
        m->mirror_topic = link.mirror_name(topic);
        m->state = linker::to_string(link.lifecycle().phase(topic));
        if (const auto* record = link.lifecycle().record_of(topic)) m->result = record->result;
      }
      out[topic] = {200, mirror_json(*m)};
    } else {
      json error{{"error_code", code}, {"message", outcome.message}};
      // What keeps the mirror from switching, for a caller deciding to wait or force.
      if (status == 409) error["lag_records"] = outcome.lag_records;
      if (outcome.status == linker::switch_status::divergent) {
        json ranges = json::array();
        int64_t total = 0;
        for (const auto& r : outcome.divergent) {
          ranges.push_back(linker::to_json(r));
          total += r.records;
        }
        error["divergent_records"] = total;
        error["partitions"] = std::move(ranges);
      }
      out[topic] = {status, std::move(error)};
    }
  }
  co_return out;
}

asio::awaitable<http_reply> admin_api::mirror_action(linker::link& link, const std::string& topic,
                                                     const std::string& action,
                                                     std::string_view body) {
  if (!known_action(action)) {
    co_return error_reply(
        404, "UNKNOWN_ACTION",
        "no action \"" + action +
            "\" on a mirror; expected pause, resume, promote, failover or reverse");
  }
  auto options = parse_action_body(body, action == "reverse");
  if (!options) co_return error_reply(400, "BAD_REQUEST", options.error());
  if (!switches(action)) {
    auto [status, result] = co_await apply(link, topic, action, options->timeout_ms);
    co_return json_reply(status, result);
  }
  const std::vector<std::string> topics{topic};
  auto results =
      co_await switch_topics(link, action, topics, options->timeout_ms, options->reverse);
  auto& [status, result] = results.at(topic);
  co_return json_reply(status, result);
}

asio::awaitable<http_reply> admin_api::mirrors_action(linker::link& link, const std::string& action,
                                                      std::string_view body) {
  if (!known_action(action)) {
    co_return error_reply(
        404, "UNKNOWN_ACTION",
        "no batch action \"" + action + "\"; expected pause, resume, promote, failover or reverse");
  }
  auto selection = parse_batch_body(body, action == "reverse");
  if (!selection) co_return error_reply(400, "BAD_REQUEST", selection.error());
  std::vector<std::string> topics = selection->topics;
  if (selection->all) {
    for (const auto& topic : link.mirror_topics())
      topics.push_back(topic);
  }
  std::map<std::string, std::pair<unsigned, json>> answers;
  if (switches(action)) {
    answers =
        co_await switch_topics(link, action, topics, selection->timeout_ms, selection->reverse);
  } else {
    for (const auto& topic : topics)
      answers[topic] = co_await apply(link, topic, action, selection->timeout_ms);
  }
  json results = json::array();
  for (const auto& topic : topics) {
    auto& [status, result] = answers.at(topic);
    json entry{{"topic", topic}, {"status", status}};
    if (status == 200) {
      entry["state"] = result["state"];
      entry["lag_records"] = result["lag_records"];
      if (result.contains("result"))
        entry["abandoned_records"] = result["result"]["abandoned_records"];
    } else {
      entry["error_code"] = result["error_code"];
      entry["message"] = result["message"];
      if (result.contains("lag_records")) entry["lag_records"] = result["lag_records"];
      if (result.contains("partitions")) {
        entry["divergent_records"] = result["divergent_records"];
        entry["partitions"] = result["partitions"];
      }
    }
    results.push_back(std::move(entry));
  }
  co_return json_reply(200, {{"link", link.name()}, {"results", results}});
}

asio::awaitable<http_reply> admin_api::members(linker::link& link) {
  auto* scale_out = link.scale_out();
  if (scale_out == nullptr) {
    co_return error_reply(404, "SCALE_OUT_DISABLED",
                          "link " + link.name() +
                              " does not run scale-out; set [links.scale_out] enabled = true on "
                              "every instance");
  }
  std::string group_state;
  auto shares = co_await scale_out->describe_members(&group_state);
  if (!shares) {
    co_return error_reply(503, "GROUP_UNAVAILABLE",
                          "cannot describe scale-out group " + scale_out->group_id() + " of link " +
                              link.name() + ": " + shares.error().message());
  }
  std::ranges::sort(*shares, [](const linker::member_share& a, const linker::member_share& b) {
    return std::tie(a.instance, a.member_id) < std::tie(b.instance, b.member_id);
  });
  json members = json::array();
  for (const auto& share : *shares)
    members.push_back(member_json(share));
  co_return json_reply(200, {{"link", link.name()},
                             {"group_id", scale_out->group_id()},
                             {"group_state", group_state},
                             {"this_member", this_member_json(link)},
                             {"members", members}});
}

asio::awaitable<http_reply> admin_api::group_offsets(linker::link& link, const std::string& group) {
  auto offsets = co_await link.group_offsets(group);
  if (!offsets) {
    co_return error_reply(
        503, "SOURCE_UNAVAILABLE",
        "cannot read group " + group + "'s offsets: " + offsets.error().message());
  }
  if (offsets->empty()) {
    co_return error_reply(404, "UNKNOWN_GROUP",
                          "the source has no committed offsets of group \"" + group +
                              "\" on topics link " + link.name() + " mirrors");
  }
  json topics = json::array();
  for (const auto& o : *offsets) {
    if (topics.empty() || topics.back()["topic"] != o.topic)
      topics.push_back({{"topic", o.topic},
                        {"mirror_topic", link.mirror_name(o.topic)},
                        {"partitions", json::array()}});
    topics.back()["partitions"].push_back(
        {{"partition", o.partition},
         {"source_offset", o.source_offset},
         {"destination_offset",
          o.destination_offset ? json(*o.destination_offset) : json(nullptr)}});
  }
  co_return json_reply(200, {{"link", link.name()}, {"group", group}, {"topics", topics}});
}

}  // namespace klink::admin
