// Request latencies in fixed buckets, so the data path can keep them without
// depending on a metrics library; the admin endpoint exports them.
#pragma once

#include <array>
#include <chrono>
#include <compare>
#include <cstdint>
#include <map>
#include <string_view>

namespace klink::mirror {

// Owned by the mirror engine, on the link's single thread: plain counters,
// no atomics or locks.
class latency_histogram {
 public:
  // Upper bounds in seconds, from loopback to cross-region round trips.
  static constexpr std::array<double, 13> bounds{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                 0.25,  0.5,    1,     2.5,  5,     10};
  // One count per bound, plus the last one for everything above 10 s.
  using counts = std::array<uint64_t, bounds.size() + 1>;

  // Like Prometheus, a bound is inclusive: 0.001 s lands in the first bucket.
  void observe(double seconds) {
    std::size_t i = 0;
    while (i < bounds.size() && seconds > bounds[i])
      ++i;
    ++buckets_[i];
    sum_ += seconds;
    ++count_;
  }
  void observe(std::chrono::steady_clock::duration elapsed) {
    observe(std::chrono::duration<double>(elapsed).count());
  }

  // Per bucket, not cumulative.
  const counts& buckets() const { return buckets_; }
  double sum() const { return sum_; }
  uint64_t count() const { return count_; }

 private:
  counts buckets_{};
  double sum_ = 0;
  uint64_t count_ = 0;
};

// Which error a cluster answered to which request. The views point at static
// names (`api::name`, `kafka::error_name`), never at request data, so the
// set of keys stays small.
struct kafka_error_key {
  std::string_view cluster;  // "source" or "destination"
  std::string_view api;      // "Fetch", "Produce", ...
  std::string_view error;    // "NOT_LEADER_OR_FOLLOWER"; "NETWORK_EXCEPTION" for a failed request
  auto operator<=>(const kafka_error_key&) const = default;
};

// What the engine measured about its requests, for the admin endpoint.
struct engine_stats {
  // Fetch round trips, including the broker's long poll (fetch_max_wait)
  // when there is nothing to read.
  latency_histogram fetch_latency;
  latency_histogram produce_latency;
  std::map<kafka_error_key, uint64_t> kafka_errors;
};

}  // namespace klink::mirror
