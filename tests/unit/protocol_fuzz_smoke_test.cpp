// Runs the fuzz entry point (tests/fuzz/fuzz_decode.cpp) on pseudo-random and
// mutated inputs so that g++ + sanitizer builds, which lack libFuzzer, still
// exercise every decoder on garbage. Its input starts with the api key, the
// version and a mode byte (request, response, or response frame).
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "kafka/messages/all.h"
#include "kafka/protocol/wire.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

using namespace klink::kafka;

// The selector: api key, version, mode (bit 0 request, bit 1 whole frame).
std::vector<uint8_t> to_u8(int16_t key, int16_t version, uint8_t mode, const byte_vector& b) {
  std::vector<uint8_t> out{static_cast<uint8_t>(key), static_cast<uint8_t>(version), mode};
  for (std::byte x : b)
    out.push_back(std::to_integer<uint8_t>(x));
  return out;
}

TEST(protocol_fuzz_smoke, random_bytes) {
  struct api_range {
    int16_t key, min, max;
  };
  std::vector<api_range> apis;
  msg::for_each_api([&]<class Api>(std::type_identity<Api>) {
    apis.push_back({Api::key, Api::min_version, Api::max_version});
  });
  std::mt19937 rng(12345);
  for (int i = 0; i < 9000; ++i) {
    // Mostly short inputs; small values make plausible lengths and counts.
    const std::size_t len = rng() % (i % 10 == 0 ? 512 : 64);
    const api_range& api = apis[rng() % apis.size()];
    const auto version = static_cast<int16_t>(api.min + rng() % (api.max - api.min + 1));
    byte_vector body(len);
    const bool small = rng() % 2 == 0;
    for (auto& b : body)
      b = static_cast<std::byte>(small ? rng() % 4 : rng());
    auto buf = to_u8(api.key, version, static_cast<uint8_t>(rng() % 3), body);
    ASSERT_EQ(LLVMFuzzerTestOneInput(buf.data(), buf.size()), 0);
  }
}

TEST(protocol_fuzz_smoke, mutated_valid_messages) {
  // Start from real encodings so the mutations reach deep into the decoders.
  std::vector<std::vector<uint8_t>> seeds;
  {
    msg::fetch_response r;
    r.responses.emplace_back().partitions.emplace_back().aborted_transactions->emplace_back();
    for (int16_t v : {4, 11, 12, 16, 18}) {
      wire_writer w;
      r.encode(w, v);
      seeds.push_back(to_u8(msg::fetch_api::key, v, 0, w.flatten()));
    }
  }
  {
    msg::metadata_response m;
    m.brokers.emplace_back().host = "localhost";
    m.topics.emplace_back().partitions.emplace_back().replica_nodes = {1, 2, 3};
    for (int16_t v : {0, 8, 9, 13}) {
      wire_writer w;
      m.encode(w, v);
      seeds.push_back(to_u8(msg::metadata_api::key, v, 0, w.flatten()));
    }
  }
  std::mt19937 rng(777);
  for (int i = 0; i < 2000; ++i) {
    auto buf = seeds[rng() % seeds.size()];
    // Mutate the message, not the selector in front of it.
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips && buf.size() > 3; ++k) {
      buf[3 + rng() % (buf.size() - 3)] = static_cast<uint8_t>(rng());
    }
    if (rng() % 4 == 0 && buf.size() > 3) buf.resize(3 + rng() % (buf.size() - 3));
    ASSERT_EQ(LLVMFuzzerTestOneInput(buf.data(), buf.size()), 0);
  }
}

}  // namespace
