// kafka::cluster tells its observer the outcome of every metadata refresh,
// whoever asked for it: the link's health follows it (reachable or not), so
// a cluster cut off is reported as soon as the data path's refresh fails.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "fake_broker.h"
#include "kafka/cluster.h"

namespace klink::kafka {
namespace {

// Outcomes seen by the observer: "" for a success, the error's text otherwise.
struct seen_outcomes {
  std::vector<std::optional<std::string>> outcomes;
  void watch(cluster& c) {
    c.on_metadata_refreshed([this](const klink::error* failure) {
      if (failure == nullptr) {
        outcomes.emplace_back(std::nullopt);
      } else {
        outcomes.emplace_back(failure->message());
      }
    });
  }
};

TEST(kafka_cluster_refresh_observer, a_refresh_that_is_answered_is_seen_as_a_success) {
  test::fake_cluster f("source");
  seen_outcomes seen;
  seen.watch(f.cluster);
  f.refresh();
  f.refresh({"t"});
  ASSERT_EQ(seen.outcomes.size(), 2u);
  EXPECT_FALSE(seen.outcomes[0].has_value());
  EXPECT_FALSE(seen.outcomes[1].has_value());
}

TEST(kafka_cluster_refresh_observer, a_refresh_that_reaches_no_broker_is_seen_with_its_error) {
  asio::io_context io;
  // A port nothing listens on: bound, then closed.
  uint16_t port = 0;
  {
    asio::ip::tcp::acceptor probe(io,
                                  asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = probe.local_endpoint().port();
  }
  cluster c(io.get_executor(), "destination", {{"127.0.0.1", port}}, connection_options{});
  seen_outcomes seen;
  seen.watch(c);
  auto refreshed = test::run(io, c.refresh_metadata({}));
  EXPECT_FALSE(refreshed);
  ASSERT_EQ(seen.outcomes.size(), 1u);
  ASSERT_TRUE(seen.outcomes[0].has_value());
  EXPECT_EQ(*seen.outcomes[0], refreshed.error().message());
  c.close();
}

TEST(kafka_cluster_refresh_observer, success_then_a_refused_refresh_are_both_seen) {
  test::fake_cluster f("source");
  seen_outcomes seen;
  seen.watch(f.cluster);
  f.refresh();
  // A closed cluster refuses every refresh; the observer sees that too (the
  // link ignores it while it stops).
  f.cluster.close();
  auto refused = f.run(f.cluster.refresh_metadata({}));
  EXPECT_FALSE(refused);
  ASSERT_EQ(seen.outcomes.size(), 2u);
  EXPECT_FALSE(seen.outcomes[0].has_value());
  ASSERT_TRUE(seen.outcomes[1].has_value());
}

}  // namespace
}  // namespace klink::kafka
