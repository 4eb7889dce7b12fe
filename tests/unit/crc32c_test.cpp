#include "kafka/crc32c.h"

#include <gtest/gtest.h>

#include <random>
#include <string_view>
#include <vector>

namespace klink::kafka {
namespace {

bytes_view sv(std::string_view s) {
  return as_bytes_view(s.data(), s.size());
}

// Bit-at-a-time reference straight from the definition (reflected
// polynomial 0x82F63B78, init and final xor 0xFFFFFFFF), independent of the
// table and instruction implementations under test.
std::uint32_t reference_crc32c(bytes_view data) {
  std::uint32_t c = 0xFFFFFFFFu;
  for (std::byte b : data) {
    c ^= static_cast<std::uint8_t>(b);
    for (int i = 0; i < 8; ++i)
      c = (c >> 1) ^ ((c & 1u) ? 0x82F63B78u : 0u);
  }
  return ~c;
}

TEST(Crc32c, KnownVectors) {
  // The check value of CRC-32C, and Kafka's Crc32CTest vectors.
  EXPECT_EQ(crc32c(sv("123456789")), 0xE3069283u);
  EXPECT_EQ(crc32c_portable(sv("123456789")), 0xE3069283u);
  EXPECT_EQ(crc32c(sv("")), 0u);
  EXPECT_EQ(crc32c(sv("The quick brown fox jumps over the lazy dog")), 0x22620404u);
  EXPECT_EQ(crc32c(sv("a")), 0xC1D04330u);
  // RFC 3720 (iSCSI) B.4: 32 bytes of zeros and of 0xFF.
  std::vector<std::byte> zeros(32, std::byte{0});
  std::vector<std::byte> ones(32, std::byte{0xFF});
  EXPECT_EQ(crc32c(zeros), 0x8A9136AAu);
  EXPECT_EQ(crc32c(ones), 0x62A8AB43u);
  std::vector<std::byte> inc(32);
  for (int i = 0; i < 32; ++i)
    inc[i] = std::byte(i);
  EXPECT_EQ(crc32c(inc), 0x46DD794Eu);
}

TEST(Crc32c, ChainingEqualsOneShot) {
  std::string_view s = "hello, kafka record batch";
  for (std::size_t cut = 0; cut <= s.size(); ++cut) {
    const auto a = sv(s.substr(0, cut));
    const auto b = sv(s.substr(cut));
    EXPECT_EQ(crc32c(b, crc32c(a)), crc32c(sv(s))) << cut;
    EXPECT_EQ(crc32c_portable(b, crc32c_portable(a)), crc32c(sv(s))) << cut;
  }
}

TEST(Crc32c, HardwareMatchesPortableOnRandomData) {
  std::mt19937_64 rng(12345);
  std::vector<std::byte> buf(4096 + 64);
  for (auto& b : buf)
    b = std::byte(rng());
  for (std::size_t offset = 0; offset < 16; ++offset) {
    for (std::size_t size :
         {0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 63, 64, 65, 100, 255, 256, 1000, 1023, 4096}) {
      const bytes_view v(buf.data() + offset, size);
      const std::uint32_t ref = reference_crc32c(v);
      ASSERT_EQ(crc32c_portable(v), ref) << offset << "/" << size;
      ASSERT_EQ(crc32c(v), ref) << offset << "/" << size;
      ASSERT_EQ(detail::crc32c_sse42(v, 0x1234u), crc32c_portable(v, 0x1234u))
          << offset << "/" << size;
    }
  }
}

TEST(Crc32c, ReportsWhichImplementationRuns) {
#if defined(__x86_64__)
  EXPECT_EQ(crc32c_hardware_available(), __builtin_cpu_supports("sse4.2") != 0);
#endif
  SUCCEED();
}

}  // namespace
}  // namespace klink::kafka
