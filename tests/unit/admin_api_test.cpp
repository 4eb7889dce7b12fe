// The admin API against a link that has not started: no Kafka needed.
#include "admin/admin_api.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "kafka/asio.h"

namespace {

using klink::admin::admin_api;
using klink::admin::http_request;
using klink::admin::token_set;
using nlohmann::json;

http_request req(std::string_view method, std::string_view target, std::string_view body = {},
                 std::string_view authorization = {}) {
  return http_request{method, target, body, authorization};
}

struct admin_api_test : testing::Test {
  klink::asio::io_context io;
  std::vector<std::unique_ptr<klink::linker::link>> links;

  void SetUp() override {
    klink::linker::link_options o;
    o.name = "dr";
    o.topic_filter = [](const std::string&) { return true; };
    links.push_back(std::make_unique<klink::linker::link>(io.get_executor(), std::move(o)));
  }

  // Runs one request to completion on the test's io_context.
  klink::admin::http_reply call(admin_api& api, http_request request) {
    std::optional<klink::admin::http_reply> reply;
    klink::asio::co_spawn(
        io, [&]() -> klink::asio::awaitable<void> { reply = co_await api.handle(request); },
        klink::asio::detached);
    io.restart();
    io.run();
    return *reply;
  }
};

TEST_F(admin_api_test, health_readiness_and_metrics_before_clusters_are_reached) {
  admin_api api(links, {});
  EXPECT_EQ(call(api, req("GET", "/healthz")).status, 200u);
  const auto ready = call(api, req("GET", "/readyz"));
  EXPECT_EQ(ready.status, 503u);
  EXPECT_EQ(json::parse(ready.body)["error_code"], "NOT_READY");
  EXPECT_NE(ready.body.find("link dr: source cluster not reached yet"), std::string::npos);
  const auto metrics = call(api, req("GET", "/metrics"));
  EXPECT_EQ(metrics.status, 200u);
  EXPECT_TRUE(metrics.content_type.starts_with("text/plain"));
  EXPECT_NE(metrics.body.find(R"(klink_link_state{link="dr",state="UNAVAILABLE"} 1)"),
            std::string::npos);
}

TEST_F(admin_api_test, links_and_errors) {
  admin_api api(links, {});
  const auto all = json::parse(call(api, req("GET", "/v1/links")).body);
  ASSERT_EQ(all["links"].size(), 1u);
  EXPECT_EQ(all["links"][0]["name"], "dr");
  EXPECT_EQ(all["links"][0]["state"], "UNAVAILABLE");
  EXPECT_EQ(all["links"][0]["mirror_count"], 0);

  EXPECT_EQ(call(api, req("GET", "/v1/links/dr/mirrors")).status, 200u);
  EXPECT_EQ(call(api, req("GET", "/v1/links/xx/mirrors")).status, 404u);
  EXPECT_EQ(call(api, req("GET", "/v1/links/dr/mirrors/t")).status, 404u);
  EXPECT_EQ(call(api, req("POST", "/v1/links/dr/mirrors/t:pause")).status, 404u);
  EXPECT_EQ(call(api, req("POST", "/v1/links/dr/mirrors/t:explode")).status, 404u);
  EXPECT_EQ(call(api, req("GET", "/v1/links/dr/mirrors/t:pause")).status, 405u);
  const auto not_allowed = call(api, req("POST", "/v1/links"));
  EXPECT_EQ(not_allowed.status, 405u);
  EXPECT_EQ(not_allowed.allow, "GET");
  EXPECT_EQ(call(api, req("POST", "/v1/links/dr/mirrors:pause", "{")).status, 400u);
  EXPECT_EQ(call(api, req("POST", "/v1/links/dr/mirrors/t:pause", "nope")).status, 400u);
  const auto batch = call(api, req("POST", "/v1/links/dr/mirrors:pause", R"({"topics":["t"]})"));
  EXPECT_EQ(batch.status, 200u);
  const auto results = json::parse(batch.body)["results"];
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0]["topic"], "t");
  EXPECT_EQ(results[0]["status"], 404);
  EXPECT_EQ(results[0]["error_code"], "UNKNOWN_TOPIC");
}

TEST_F(admin_api_test, tokens_guard_v1_only) {
  admin_api api(links, token_set::parse("s3cret\n"));
  const auto missing = call(api, req("GET", "/v1/links"));
  EXPECT_EQ(missing.status, 401u);
  EXPECT_TRUE(missing.www_authenticate);
  EXPECT_EQ(json::parse(missing.body)["error_code"], "UNAUTHORIZED");
  // Unknown paths under /v1 answer 401 too: no probing without a token.
  EXPECT_EQ(call(api, req("GET", "/v1/nothing")).status, 401u);
  const auto wrong = call(api, req("GET", "/v1/links", "", "Bearer s3cre"));
  EXPECT_EQ(wrong.status, 401u);
  EXPECT_EQ(wrong.body.find("s3cre"), std::string::npos);
  EXPECT_EQ(call(api, req("GET", "/v1/links", "", "Bearer s3cret")).status, 200u);
  EXPECT_EQ(call(api, req("GET", "/healthz")).status, 200u);
  EXPECT_EQ(call(api, req("GET", "/metrics")).status, 200u);
  EXPECT_EQ(call(api, req("GET", "/readyz")).status, 503u);
}

}  // namespace
