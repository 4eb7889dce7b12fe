// The admin endpoint's scale-out parts on a link that does not scale out
// (no Kafka needed): the members route, its 404/405 answers, and that the
// link status and the metrics carry no scale-out fields for it. The 200 view
// of a running group is tested against real Kafka (tests/integration).
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "admin/admin_api.h"
#include "admin/http_api.h"
#include "admin/metrics.h"
#include "kafka/asio.h"

namespace {

using klink::admin::admin_api;
using klink::admin::http_request;
using klink::admin::parse_route;
using klink::admin::route_kind;
using klink::admin::token_set;
using nlohmann::json;

TEST(admin_scale_out_route, members) {
  auto r = parse_route("/v1/links/east/members");
  EXPECT_EQ(r.kind, route_kind::members);
  EXPECT_EQ(r.link, "east");
  EXPECT_TRUE(r.v1);
  EXPECT_EQ(parse_route("/v1/links/east/members/").kind, route_kind::members);
  EXPECT_EQ(parse_route("/v1/links/east/members?x=1").kind, route_kind::members);
  EXPECT_EQ(parse_route("/v1/links/e%61st/members").link, "east");
  for (const char* target : {"/v1/links/east/members/m-1", "/v1/links/east/member",
                             "/v1/links//members", "/v1/links/east/members:rebalance"}) {
    const auto not_found = parse_route(target);
    EXPECT_EQ(not_found.kind, route_kind::not_found) << target;
    EXPECT_TRUE(not_found.v1) << target;
  }
  EXPECT_EQ(klink::admin::allowed_methods(route_kind::members), "GET");
}

struct admin_scale_out_test : testing::Test {
  klink::asio::io_context io;
  std::vector<std::unique_ptr<klink::linker::link>> links;

  void SetUp() override { set_up_plain(); }

  // One link "east" without scale-out.
  void set_up_plain() {
    klink::linker::link_options o;
    o.name = "east";
    o.topic_filter = [](const std::string&) { return true; };
    links.push_back(std::make_unique<klink::linker::link>(io.get_executor(), std::move(o)));
  }

  klink::admin::http_reply call(admin_api& api, std::string_view method, std::string_view target,
                                std::string_view authorization = {}) {
    std::optional<klink::admin::http_reply> reply;
    const http_request request{method, target, {}, authorization};
    klink::asio::co_spawn(
        io, [&]() -> klink::asio::awaitable<void> { reply = co_await api.handle(request); },
        klink::asio::detached);
    io.restart();
    io.run();
    return *reply;
  }
};

TEST_F(admin_scale_out_test, members_of_a_link_without_scale_out_is_404_saying_what_to_set) {
  admin_api api(links, {});
  const auto reply = call(api, "GET", "/v1/links/east/members");
  EXPECT_EQ(reply.status, 404u);
  EXPECT_EQ(reply.content_type, "application/json");
  const auto body = json::parse(reply.body);
  EXPECT_EQ(body["error_code"], "SCALE_OUT_DISABLED");
  EXPECT_EQ(body["message"],
            "link east does not run scale-out; set "
            "[links.scale_out] enabled = true on every "
            "instance");
}

TEST_F(admin_scale_out_test, members_of_an_unknown_link_is_404) {
  admin_api api(links, {});
  const auto reply = call(api, "GET", "/v1/links/west/members");
  EXPECT_EQ(reply.status, 404u);
  EXPECT_EQ(json::parse(reply.body)["error_code"], "UNKNOWN_LINK");
}

TEST_F(admin_scale_out_test, members_takes_only_get) {
  admin_api api(links, {});
  for (const char* method : {"POST", "PUT", "DELETE"}) {
    const auto reply = call(api, method, "/v1/links/east/members");
    EXPECT_EQ(reply.status, 405u) << method;
    EXPECT_EQ(reply.allow, "GET") << method;
    EXPECT_EQ(json::parse(reply.body)["error_code"], "METHOD_NOT_ALLOWED") << method;
  }
}

TEST_F(admin_scale_out_test, members_needs_a_token_when_tokens_are_set) {
  admin_api api(links, token_set::parse("s3cret\n"));
  EXPECT_EQ(call(api, "GET", "/v1/links/east/members").status, 401u);
  EXPECT_EQ(call(api, "GET", "/v1/links/east/members", "Bearer s3cret").status, 404u);
}

TEST_F(admin_scale_out_test, link_status_has_no_scale_out_object_without_scale_out) {
  admin_api api(links, {});
  const auto body = json::parse(call(api, "GET", "/v1/links").body);
  ASSERT_EQ(body["links"].size(), 1u);
  EXPECT_EQ(body["links"][0]["name"], "east");
  EXPECT_FALSE(body["links"][0].contains("scale_out")) << body.dump();
}

TEST_F(admin_scale_out_test, no_scale_out_series_without_scale_out) {
  klink::admin::metrics m;
  m.update(links);
  const auto text = m.serialize();
  // The link's own series are there; the scale-out families have no series,
  // so prometheus-cpp leaves them out altogether.
  EXPECT_NE(text.find(R"(klink_link_state{link="east",state="UNAVAILABLE"} 1)"), std::string::npos)
      << text;
  EXPECT_EQ(text.find("klink_scale_out_owned_partitions"), std::string::npos) << text;
  EXPECT_EQ(text.find("klink_scale_out_generation"), std::string::npos) << text;
}

// A scale-out link that has not joined its group yet (its destination
// refuses connections): it is listed with its group and no membership, its
// series exist, and the members view says why the coordinator cannot answer.
struct admin_scale_out_enabled_test : admin_scale_out_test {
  void SetUp() override {
    klink::linker::link_options o;
    o.name = "east";
    o.topic_filter = [](const std::string&) { return true; };
    // Port 1: nothing listens, so every attempt fails at once.
    o.destination_bootstrap = {*klink::kafka::parse_broker_address("127.0.0.1:1")};
    o.destination_connection.request_timeout = std::chrono::milliseconds(2000);
    o.scale_out.enabled = true;
    o.scale_out.group_id = "mirrors.east";
    links.push_back(std::make_unique<klink::linker::link>(io.get_executor(), std::move(o)));
  }
};

TEST_F(admin_scale_out_enabled_test, link_status_has_the_group_and_no_membership_yet) {
  admin_api api(links, {});
  const auto body = json::parse(call(api, "GET", "/v1/links").body);
  ASSERT_EQ(body["links"].size(), 1u);
  EXPECT_EQ(body["links"][0]["scale_out"], json::parse(R"({"group_id": "mirrors.east",
      "member_id": null, "generation": -1, "leader": false, "owned_partitions": 0,
      "lease": false})"))
      << body.dump();
}

TEST_F(admin_scale_out_enabled_test, members_is_503_while_the_coordinator_cannot_be_asked) {
  admin_api api(links, {});
  const auto reply = call(api, "GET", "/v1/links/east/members");
  EXPECT_EQ(reply.status, 503u) << reply.body;
  const auto body = json::parse(reply.body);
  EXPECT_EQ(body["error_code"], "GROUP_UNAVAILABLE");
  const std::string message = body["message"];
  EXPECT_TRUE(message.starts_with("cannot describe scale-out group mirrors.east of link east: "))
      << message;
  EXPECT_EQ(call(api, "POST", "/v1/links/east/members").status, 405u);
}

TEST_F(admin_scale_out_enabled_test, scale_out_series_exist_before_the_first_join) {
  klink::admin::metrics m;
  m.update(links);
  auto text = m.serialize();
  EXPECT_NE(text.find("# TYPE klink_scale_out_owned_partitions gauge\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("klink_scale_out_owned_partitions{link=\"east\"} 0\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("klink_scale_out_generation{link=\"east\"} -1\n"), std::string::npos) << text;
  // A reload that turns scale-out off restarts the link without it: the series go.
  links.clear();
  set_up_plain();
  m.update(links);
  text = m.serialize();
  EXPECT_EQ(text.find("klink_scale_out_"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(klink_link_state{link="east",state="UNAVAILABLE"} 1)"), std::string::npos)
      << text;
}

}  // namespace
