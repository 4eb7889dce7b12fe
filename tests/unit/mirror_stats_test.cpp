// The engine's request statistics: the fixed-bucket latency histogram, and
// Kafka errors counted by a real engine whose destination refuses connections.
#include <gtest/gtest.h>

#include <chrono>

#include "kafka/asio.h"
#include "kafka/cluster.h"
#include "mirror/latency_histogram.h"
#include "mirror/mirror_engine.h"

namespace {

using klink::mirror::kafka_error_key;
using klink::mirror::latency_histogram;

TEST(latency_histogram, bounds_are_inclusive_upper_limits) {
  latency_histogram h;
  h.observe(0.001);    // exactly the first bound: first bucket
  h.observe(0.0011);   // just above it: second bucket
  h.observe(0.0025);   // exactly the second bound
  h.observe(10.0);     // the last bound
  h.observe(10.0001);  // above every bound: the overflow bucket
  h.observe(0.0);
  const auto& b = h.buckets();
  ASSERT_EQ(b.size(), latency_histogram::bounds.size() + 1);
  EXPECT_EQ(b[0], 2u);
  EXPECT_EQ(b[1], 2u);
  EXPECT_EQ(b[latency_histogram::bounds.size() - 1], 1u);
  EXPECT_EQ(b[latency_histogram::bounds.size()], 1u);
  uint64_t total = 0;
  for (auto c : b)
    total += c;
  EXPECT_EQ(total, 6u);
  EXPECT_EQ(h.count(), 6u);
  EXPECT_DOUBLE_EQ(h.sum(), 0.001 + 0.0011 + 0.0025 + 10.0 + 10.0001);
}

TEST(latency_histogram, every_bound_lands_in_its_own_bucket) {
  for (std::size_t i = 0; i < latency_histogram::bounds.size(); ++i) {
    latency_histogram h;
    h.observe(latency_histogram::bounds[i]);
    EXPECT_EQ(h.buckets()[i], 1u) << "bound " << latency_histogram::bounds[i];
    if (i + 1 < latency_histogram::bounds.size()) {
      latency_histogram above;
      above.observe((latency_histogram::bounds[i] + latency_histogram::bounds[i + 1]) / 2);
      EXPECT_EQ(above.buckets()[i + 1], 1u) << "between " << latency_histogram::bounds[i];
    }
  }
}

TEST(latency_histogram, observes_durations_in_seconds) {
  latency_histogram h;
  h.observe(std::chrono::milliseconds(30));
  EXPECT_EQ(h.buckets()[5], 1u);  // (0.025, 0.05]
  EXPECT_NEAR(h.sum(), 0.03, 1e-12);
  EXPECT_EQ(h.count(), 1u);
}

TEST(latency_histogram, bounds_increase) {
  for (std::size_t i = 1; i < latency_histogram::bounds.size(); ++i)
    EXPECT_LT(latency_histogram::bounds[i - 1], latency_histogram::bounds[i]);
}

// A port nothing listens on: bound, then closed again.
uint16_t closed_port() {
  klink::asio::io_context io;
  klink::asio::ip::tcp::acceptor a(
      io, klink::asio::ip::tcp::endpoint(klink::asio::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

TEST(mirror_engine_stats, refused_connections_count_as_network_exceptions) {
  klink::asio::io_context io;
  const uint16_t port = closed_port();
  klink::kafka::cluster source(io.get_executor(), "source", {{"127.0.0.1", port}}, {});
  klink::kafka::cluster destination(io.get_executor(), "destination", {{"127.0.0.1", port}}, {});
  klink::mirror::mirror_options options;
  options.link_name = "dr";
  options.retry_backoff = std::chrono::milliseconds(10);
  klink::mirror::mirror_engine engine(io.get_executor(), source, destination, options);
  EXPECT_TRUE(engine.stats().kafka_errors.empty());

  // The engine first asks the destination for a producer id; every refused
  // attempt is one error.
  engine.start();
  const kafka_error_key key{"destination", "InitProducerId", "NETWORK_EXCEPTION"};
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < until && !engine.stats().kafka_errors.contains(key))
    io.run_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(engine.stats().kafka_errors.contains(key));
  EXPECT_GE(engine.stats().kafka_errors.at(key), 1u);
  EXPECT_EQ(engine.stats().kafka_errors.size(), 1u);
  // Nothing was answered: no latency observed.
  EXPECT_EQ(engine.stats().produce_latency.count(), 0u);
  EXPECT_EQ(engine.stats().fetch_latency.count(), 0u);

  klink::asio::co_spawn(
      io,
      [&]() -> klink::asio::awaitable<void> {
        co_await engine.drain(std::chrono::milliseconds(0));
      },
      klink::asio::detached);
  io.run_for(std::chrono::seconds(2));
}

}  // namespace
