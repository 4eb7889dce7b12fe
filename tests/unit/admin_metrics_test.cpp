// The Prometheus series of a link that has not started: every per-link series
// exists from the first scrape, at zero, so dashboards see them.
#include "admin/metrics.h"

#include <gtest/gtest.h>

#include "kafka/asio.h"

namespace {

bool has(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

struct admin_metrics_test : testing::Test {
  klink::asio::io_context io;
  std::vector<std::unique_ptr<klink::linker::link>> links;

  void SetUp() override {
    klink::linker::link_options o;
    o.name = "dr";
    o.topic_filter = [](const std::string&) { return true; };
    links.push_back(std::make_unique<klink::linker::link>(io.get_executor(), std::move(o)));
  }
};

TEST_F(admin_metrics_test, per_link_series_exist_before_anything_happened) {
  klink::admin::metrics m;
  m.update(links);
  const auto text = m.serialize();

  EXPECT_TRUE(has(text, "# TYPE klink_fetch_latency_seconds histogram")) << text;
  EXPECT_TRUE(has(text, "# TYPE klink_produce_latency_seconds histogram"));
  EXPECT_TRUE(has(text, "# TYPE klink_consumer_offsets_committed_total counter"));
  for (const auto* name : {"klink_fetch_latency_seconds", "klink_produce_latency_seconds",
                           "klink_consumer_offsets_committed_total"}) {
    EXPECT_NE(text.find(std::string("# HELP ") + name + " "), std::string::npos) << name;
  }

  EXPECT_TRUE(has(text, R"(klink_consumer_offsets_committed_total{link="dr"} 0)")) << text;
  EXPECT_TRUE(has(text, R"(klink_fetch_latency_seconds_count{cluster="source",link="dr"} 0)"))
      << text;
  EXPECT_TRUE(has(text, R"(klink_fetch_latency_seconds_sum{cluster="source",link="dr"} 0)"));
  EXPECT_TRUE(
      has(text, R"(klink_produce_latency_seconds_count{cluster="destination",link="dr"} 0)"));
  // Same buckets as the engine's, plus +Inf.
  for (const auto* le : {"0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5",
                         "1", "2.5", "5", "10", "+Inf"}) {
    EXPECT_TRUE(has(
        text, std::string(
                  R"(klink_produce_latency_seconds_bucket{cluster="destination",link="dr",le=")") +
                  le + "\"} 0"))
        << le << "\n"
        << text;
  }
  // No errors yet, so no series; prometheus-cpp then leaves out the family's
  // HELP and TYPE lines too.
  EXPECT_EQ(text.find("klink_kafka_errors_total"), std::string::npos);
}

TEST_F(admin_metrics_test, a_second_update_adds_nothing_when_nothing_happened) {
  klink::admin::metrics m;
  m.update(links);
  const auto first = m.serialize();
  m.update(links);
  EXPECT_EQ(m.serialize(), first);
}

TEST_F(admin_metrics_test, a_removed_link_loses_its_series) {
  klink::linker::link_options o;
  o.name = "gone";
  o.topic_filter = [](const std::string&) { return true; };
  links.push_back(std::make_unique<klink::linker::link>(io.get_executor(), std::move(o)));
  klink::admin::metrics m;
  m.update(links);
  EXPECT_NE(m.serialize().find(R"(link="gone")"), std::string::npos);
  // A reload removed it: no stale state or counter stays behind.
  links.pop_back();
  m.update(links);
  const auto text = m.serialize();
  EXPECT_EQ(text.find(R"(link="gone")"), std::string::npos) << text;
  EXPECT_TRUE(has(text, R"(klink_consumer_offsets_committed_total{link="dr"} 0)")) << text;
}

}  // namespace
