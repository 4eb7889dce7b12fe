// The SSE4.2 CRC32 instruction computes exactly CRC-32C. This file alone is
// compiled with -msse4.2 (see kafka_sources.cmake) so the rest of klink still
// runs on CPUs without it; crc32c() only calls in here after a CPU check.
#include <cstring>

#include "kafka/crc32c.h"

#if defined(__x86_64__) || defined(__i386__)
#include <nmmintrin.h>
#endif

namespace klink::kafka::detail {

#if defined(__SSE4_2__)
std::uint32_t crc32c_sse42(bytes_view data, std::uint32_t crc) {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  std::size_t n = data.size();
  std::uint32_t c = ~crc;
  while (n > 0 && (reinterpret_cast<std::uintptr_t>(p) & 7u) != 0) {
    c = _mm_crc32_u8(c, *p++);
    --n;
  }
#if defined(__x86_64__)
  std::uint64_t c64 = c;
  while (n >= 8) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    c64 = _mm_crc32_u64(c64, v);
    p += 8;
    n -= 8;
  }
  c = static_cast<std::uint32_t>(c64);
#endif
  while (n >= 4) {
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    c = _mm_crc32_u32(c, v);
    p += 4;
    n -= 4;
  }
  while (n-- > 0)
    c = _mm_crc32_u8(c, *p++);
  return ~c;
}
#else
// Built without -msse4.2 (non-x86 or a different build setup): never selected
// at run time because the CPU check fails or is compiled out; keep it correct.
std::uint32_t crc32c_sse42(bytes_view data, std::uint32_t crc) {
  return crc32c_portable(data, crc);
}
#endif

}  // namespace klink::kafka::detail
