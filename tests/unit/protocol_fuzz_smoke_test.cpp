// Runs the fuzz entry point (tests/fuzz/fuzz_decode.cpp) on pseudo-random and
// mutated inputs so that g++ + sanitizer builds, which lack libFuzzer, still
// exercise every decoder on garbage.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "kafka/messages/fetch.h"
#include "kafka/messages/metadata.h"
#include "kafka/protocol/wire.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

using namespace klink::kafka;

std::vector<uint8_t> to_u8(const byte_vector& b) {
  std::vector<uint8_t> out(b.size());
  for (std::size_t i = 0; i < b.size(); ++i)
    out[i] = std::to_integer<uint8_t>(b[i]);
  return out;
}

TEST(protocol_fuzz_smoke, random_bytes) {
  std::mt19937 rng(12345);
  for (int i = 0; i < 3000; ++i) {
    // Mostly short inputs; small values make plausible lengths and counts.
    const std::size_t len = rng() % (i % 10 == 0 ? 512 : 64);
    std::vector<uint8_t> buf(len);
    const bool small = rng() % 2 == 0;
    for (auto& b : buf)
      b = static_cast<uint8_t>(small ? rng() % 4 : rng());
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
      seeds.push_back(to_u8(w.flatten()));
    }
  }
  {
    msg::metadata_response m;
    m.brokers.emplace_back().host = "localhost";
    m.topics.emplace_back().partitions.emplace_back().replica_nodes = {1, 2, 3};
    for (int16_t v : {0, 8, 9, 13}) {
      wire_writer w;
      m.encode(w, v);
      seeds.push_back(to_u8(w.flatten()));
    }
  }
  std::mt19937 rng(777);
  for (int i = 0; i < 2000; ++i) {
    auto buf = seeds[rng() % seeds.size()];
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips && !buf.empty(); ++k) {
      buf[rng() % buf.size()] = static_cast<uint8_t>(rng());
    }
    if (rng() % 4 == 0 && !buf.empty()) buf.resize(rng() % buf.size());
    ASSERT_EQ(LLVMFuzzerTestOneInput(buf.data(), buf.size()), 0);
  }
}

}  // namespace
