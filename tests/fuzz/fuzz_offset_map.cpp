// libFuzzer target: an offset map checkpoint as klink reads it back from
// __klink_offsets (offsets/offset_map.h, "Checkpoint format" in
// offsets/README.md).
//
// Input: [flags] then the checkpoint; flags bit 0: give it a correct CRC-32C
// first, so that mutations reach the structural checks behind the checksum.
//
// Properties: deserialize accepts only what serialize writes, so a map read
// back serializes to exactly the bytes it came from; every entry translates
// to its own destination start, both ways.
#include <string>

#include "fuzz_check.h"
#include "offsets/offset_map.h"

namespace {

using namespace klink::offsets;
using klink::fuzz::check;

constexpr std::size_t checksum_size = 4;

void fix_checksum(std::string& bytes) {
  if (bytes.size() < checksum_size) return;
  const std::size_t body = bytes.size() - checksum_size;
  const uint32_t crc = detail::crc32c(std::string_view(bytes).substr(0, body));
  for (std::size_t i = 0; i < checksum_size; ++i)
    bytes[body + i] = static_cast<char>((crc >> (8 * i)) & 0xff);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string bytes(klink::fuzz::as_text(data + 1, size - 1));
  if ((data[0] & 1) != 0) fix_checksum(bytes);
  // No cap on entries here: a capped map drops entries and rightly
  // serializes to other bytes.
  auto map = offset_map::deserialize(bytes, std::size_t{1} << 20);
  if (!map) return 0;
  check(map->serialize() == bytes, "a map read back serializes to the same bytes");
  for (const auto& s : map->entries()) {
    if (s.source_start < map->exact_from()) continue;
    check(map->translate(s.source_start) == s.destination_start, "entries translate");
    check(map->translate_back(s.destination_start) == s.source_start, "entries translate back");
  }
  check(map->translate(map->mirrored_source_offset()) == map->destination_end_offset(),
        "the mirrored end translates to the destination end");
  return 0;
}
