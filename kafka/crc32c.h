// CRC-32C (Castagnoli), the checksum of Kafka RecordBatch v2.
#pragma once

#include <cstdint>

#include "kafka/protocol/bytes.h"

namespace klink::kafka {

// Kafka-compatible: crc32c("123456789") == 0xE3069283. `crc` continues a
// previous result, so crc32c(b, crc32c(a)) == crc32c(a ++ b).
// Uses the SSE4.2 instruction when the CPU has it, else the portable table.
std::uint32_t crc32c(bytes_view data, std::uint32_t crc = 0);

// Table-driven (slicing-by-8); always available. Exposed so tests can compare.
std::uint32_t crc32c_portable(bytes_view data, std::uint32_t crc = 0);

// True when crc32c() runs on the SSE4.2 instruction.
bool crc32c_hardware_available();

namespace detail {
// Defined in crc32c_sse42.cpp (the only file compiled with -msse4.2). Calling
// it on a CPU without SSE4.2 is undefined: go through crc32c().
std::uint32_t crc32c_sse42(bytes_view data, std::uint32_t crc);
}  // namespace detail

}  // namespace klink::kafka
