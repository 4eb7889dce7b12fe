// CRC-32C is hand-written here because no well-kept packaged library in
// Debian 12 offers it (libcrc32c and google/crc32c are not packaged); the
// algorithm is small and is pinned by the tests in tests/unit/crc32c_test.cpp.
#include "kafka/crc32c.h"

#include <array>
#include <bit>
#include <cstring>

namespace klink::kafka {
namespace {

constexpr std::uint32_t castagnoli_reflected = 0x82F63B78u;

// tables[k][b] is the CRC of byte b followed by k zero bytes, which lets the
// loop fold eight input bytes per step (slicing-by-8).
constexpr auto make_tables() {
  std::array<std::array<std::uint32_t, 256>, 8> t{};
  for (std::uint32_t b = 0; b < 256; ++b) {
    std::uint32_t c = b;
    for (int i = 0; i < 8; ++i)
      c = (c >> 1) ^ ((c & 1u) ? castagnoli_reflected : 0u);
    t[0][b] = c;
  }
  for (std::size_t k = 1; k < 8; ++k)
    for (std::size_t b = 0; b < 256; ++b)
      t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xFFu];
  return t;
}

constexpr auto tables = make_tables();

using crc_fn = std::uint32_t (*)(bytes_view, std::uint32_t);

crc_fn pick_implementation() {
#if defined(__x86_64__) || defined(__i386__)
  if (__builtin_cpu_supports("sse4.2")) return &detail::crc32c_sse42;
#endif
  return &crc32c_portable;
}

}  // namespace

std::uint32_t crc32c_portable(bytes_view data, std::uint32_t crc) {
  std::uint32_t c = ~crc;
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  std::size_t n = data.size();
  while (n >= 8) {
    std::uint32_t lo;
    std::uint32_t hi;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + 4, 4);
    if constexpr (std::endian::native == std::endian::big) {
      lo = std::byteswap(lo);
      hi = std::byteswap(hi);
    }
    lo ^= c;
    c = tables[7][lo & 0xFFu] ^ tables[6][(lo >> 8) & 0xFFu] ^ tables[5][(lo >> 16) & 0xFFu] ^
        tables[4][lo >> 24] ^ tables[3][hi & 0xFFu] ^ tables[2][(hi >> 8) & 0xFFu] ^
        tables[1][(hi >> 16) & 0xFFu] ^ tables[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n-- > 0)
    c = (c >> 8) ^ tables[0][(c ^ *p++) & 0xFFu];
  return ~c;
}

bool crc32c_hardware_available() {
  return pick_implementation() != &crc32c_portable;
}

std::uint32_t crc32c(bytes_view data, std::uint32_t crc) {
  static const crc_fn impl = pick_implementation();
  return impl(data, crc);
}

}  // namespace klink::kafka
