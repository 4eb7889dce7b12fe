#include "admin/http_api.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

using klink::admin::parse_batch_body;
using klink::admin::parse_route;
using klink::admin::route_kind;
using klink::admin::token_set;

TEST(admin_route, fixed_paths_and_query_strings) {
  EXPECT_EQ(parse_route("/healthz").kind, route_kind::healthz);
  EXPECT_EQ(parse_route("/readyz?verbose=1").kind, route_kind::readyz);
  EXPECT_EQ(parse_route("/metrics").kind, route_kind::metrics);
  EXPECT_FALSE(parse_route("/metrics").v1);
  EXPECT_EQ(parse_route("/").kind, route_kind::not_found);
  EXPECT_EQ(parse_route("/healthz/x").kind, route_kind::not_found);
  EXPECT_EQ(parse_route("").kind, route_kind::not_found);
  EXPECT_EQ(parse_route("*").kind, route_kind::not_found);
}

TEST(admin_route, v1_links_and_mirrors) {
  auto r = parse_route("/v1/links");
  EXPECT_EQ(r.kind, route_kind::links);
  EXPECT_TRUE(r.v1);
  EXPECT_EQ(parse_route("/v1/links/").kind, route_kind::links);

  r = parse_route("/v1/links/dr/mirrors");
  EXPECT_EQ(r.kind, route_kind::mirrors);
  EXPECT_EQ(r.link, "dr");

  r = parse_route("/v1/links/dr/mirrors/demo.orders");
  EXPECT_EQ(r.kind, route_kind::mirror);
  EXPECT_EQ(r.link, "dr");
  EXPECT_EQ(r.topic, "demo.orders");

  r = parse_route("/v1/links/dr/mirrors/demo.orders:pause");
  EXPECT_EQ(r.kind, route_kind::mirror_action);
  EXPECT_EQ(r.topic, "demo.orders");
  EXPECT_EQ(r.action, "pause");

  // A client may escape the colon.
  r = parse_route("/v1/links/dr/mirrors/demo.orders%3Aresume");
  EXPECT_EQ(r.kind, route_kind::mirror_action);
  EXPECT_EQ(r.action, "resume");

  r = parse_route("/v1/links/dr/mirrors:resume");
  EXPECT_EQ(r.kind, route_kind::mirrors_action);
  EXPECT_EQ(r.link, "dr");
  EXPECT_EQ(r.action, "resume");
}

TEST(admin_route, unknown_v1_paths_are_not_found_but_still_v1) {
  for (const char* target : {"/v1", "/v1/", "/v1/nope", "/v1/links/dr", "/v1/links/dr/groups",
                             "/v1/links/dr/mirrors/a/b", "/v1/links/dr/mirrors/:pause",
                             "/v1/links/%zz/mirrors", "/v1/links/dr/mirrors/a%2"}) {
    const auto r = parse_route(target);
    EXPECT_EQ(r.kind, route_kind::not_found) << target;
    EXPECT_TRUE(r.v1) << target;  // a token is checked before a 404 says anything
  }
}

TEST(admin_route, methods) {
  EXPECT_EQ(klink::admin::allowed_methods(route_kind::links), "GET");
  EXPECT_EQ(klink::admin::allowed_methods(route_kind::metrics), "GET");
  EXPECT_EQ(klink::admin::allowed_methods(route_kind::mirror_action), "POST");
  EXPECT_EQ(klink::admin::allowed_methods(route_kind::mirrors_action), "POST");
}

TEST(admin_percent_decode, escapes) {
  EXPECT_EQ(klink::admin::percent_decode("a%2Eb%2e"), "a.b.");
  EXPECT_EQ(klink::admin::percent_decode("plain"), "plain");
  EXPECT_FALSE(klink::admin::percent_decode("%"));
  EXPECT_FALSE(klink::admin::percent_decode("%4"));
  EXPECT_FALSE(klink::admin::percent_decode("%g0"));
}

TEST(admin_tokens, parse_skips_comments_and_blanks) {
  const auto tokens = token_set::parse("# ops\n\n  alpha  \r\nbeta\n#gamma\n");
  EXPECT_EQ(tokens.size(), 2u);
  EXPECT_TRUE(tokens.accepts("Bearer alpha"));
  EXPECT_TRUE(tokens.accepts("bearer beta"));
  EXPECT_TRUE(tokens.accepts("Bearer  beta "));
  EXPECT_FALSE(tokens.accepts("Bearer gamma"));
  EXPECT_FALSE(tokens.accepts("Bearer alph"));
  EXPECT_FALSE(tokens.accepts("Bearer alphaa"));
  EXPECT_FALSE(tokens.accepts("Bearer "));
  EXPECT_FALSE(tokens.accepts("Basic alpha"));
  EXPECT_FALSE(tokens.accepts("alpha"));
  EXPECT_FALSE(tokens.accepts(""));
  EXPECT_TRUE(token_set::parse("\n# only a comment\n").empty());
}

TEST(admin_tokens, load_refuses_missing_and_empty_files) {
  EXPECT_THROW(token_set::load("/nonexistent/klink-tokens"), std::runtime_error);
}

TEST(admin_batch_body, topics_or_all) {
  auto b = parse_batch_body(R"({"topics": ["a", "b"]})");
  ASSERT_TRUE(b);
  EXPECT_FALSE(b->all);
  EXPECT_EQ(b->topics, (std::vector<std::string>{"a", "b"}));
  b = parse_batch_body(R"({"all": true})");
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->all);

  for (const char* bad :
       {"", "{", "[]", "1", "{}", R"({"all": false})", R"({"all": 1})", R"({"topics": []})",
        R"({"topics": "a"})", R"({"topics": [1]})", R"({"topics": [""]})",
        R"({"all": true, "topics": ["a"]})", R"({"topic": ["a"]})"}) {
    EXPECT_FALSE(parse_batch_body(bad)) << bad;
  }
}

TEST(admin_error_reply, json_shape) {
  const auto r = klink::admin::error_reply(409, "CONFLICT", "no \"way\"");
  EXPECT_EQ(r.status, 409u);
  EXPECT_EQ(r.content_type, "application/json");
  const auto doc = nlohmann::json::parse(r.body);
  EXPECT_EQ(doc["error_code"], "CONFLICT");
  EXPECT_EQ(doc["message"], "no \"way\"");
}

TEST(admin_route, group_offsets) {
  auto r = parse_route("/v1/links/dr/groups/billing%2Fjobs/offsets");
  EXPECT_EQ(r.kind, route_kind::group_offsets);
  EXPECT_EQ(r.link, "dr");
  EXPECT_EQ(r.group, "billing/jobs");
  EXPECT_TRUE(r.v1);
  EXPECT_EQ(parse_route("/v1/links/dr/groups/g").kind, route_kind::not_found);
  EXPECT_EQ(parse_route("/v1/links/dr/groups//offsets").kind, route_kind::not_found);
  EXPECT_EQ(parse_route("/v1/links/dr/groups/g/lag").kind, route_kind::not_found);
  EXPECT_EQ(klink::admin::allowed_methods(route_kind::group_offsets), "GET");
}

TEST(admin_action_body, empty_or_timeout) {
  using klink::admin::parse_action_body;
  EXPECT_EQ(parse_action_body("")->timeout_ms, klink::admin::default_timeout_ms);
  EXPECT_EQ(parse_action_body("  \n")->timeout_ms, klink::admin::default_timeout_ms);
  EXPECT_EQ(parse_action_body("{}")->timeout_ms, klink::admin::default_timeout_ms);
  EXPECT_EQ(parse_action_body(R"({"timeout_ms": 1500})")->timeout_ms, 1500);
  EXPECT_FALSE(parse_action_body("{"));
  EXPECT_FALSE(parse_action_body("[]"));
  EXPECT_FALSE(parse_action_body(R"({"timeout_ms": 0})"));
  EXPECT_FALSE(parse_action_body(R"({"timeout_ms": -5})"));
  EXPECT_FALSE(parse_action_body(R"({"timeout_ms": 1.5})"));
  EXPECT_FALSE(parse_action_body(R"({"timeout_ms": "10"})"));
  EXPECT_FALSE(parse_action_body(R"({"timeout_ms": 3600001})"));
  const auto unknown = parse_action_body(R"({"timeout": 10})");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().find("\"timeout\""), std::string::npos);
}

TEST(admin_action_body, reverse_fields_only_for_reverse) {
  using klink::admin::parse_action_body;
  // Other actions refuse them by name.
  const auto promote = parse_action_body(R"({"start": false})");
  ASSERT_FALSE(promote);
  EXPECT_NE(promote.error().find("\"start\""), std::string::npos);
  const auto defaults = parse_action_body("", true);
  ASSERT_TRUE(defaults);
  EXPECT_TRUE(defaults->reverse.start);
  EXPECT_EQ(defaults->reverse.divergent, "refuse");
  const auto keep = parse_action_body(R"({"start": false, "divergent": "keep"})", true);
  ASSERT_TRUE(keep);
  EXPECT_FALSE(keep->reverse.start);
  EXPECT_EQ(keep->reverse.divergent, "keep");
  const auto copy = parse_action_body(R"({"divergent": "copy", "copy_to": "o.div"})", true);
  ASSERT_TRUE(copy);
  EXPECT_EQ(copy->reverse.copy_to, "o.div");
  EXPECT_FALSE(parse_action_body(R"({"divergent": "copy"})", true));
  EXPECT_FALSE(parse_action_body(R"({"copy_to": "o.div"})", true));
  EXPECT_FALSE(parse_action_body(R"({"divergent": "drop"})", true));
  EXPECT_FALSE(parse_action_body(R"({"start": "yes"})", true));
  EXPECT_FALSE(parse_action_body(R"({"divergent": "copy", "copy_to": ""})", true));
  const auto batch = klink::admin::parse_batch_body(R"({"all": true, "divergent": "keep"})", true);
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch->reverse.divergent, "keep");
  EXPECT_FALSE(klink::admin::parse_batch_body(R"({"all": true, "divergent": "keep"})"));
}

TEST(admin_batch_body, timeout_with_a_selection) {
  auto b = parse_batch_body(R"({"all": true, "timeout_ms": 5000})");
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->all);
  EXPECT_EQ(b->timeout_ms, 5000);
  EXPECT_EQ(parse_batch_body(R"({"topics": ["a"]})")->timeout_ms, klink::admin::default_timeout_ms);
  EXPECT_FALSE(parse_batch_body(R"({"topics": ["a"], "timeout_ms": null})"));
  EXPECT_FALSE(parse_batch_body(R"({"timeout_ms": 100})"));  // no selection
}
