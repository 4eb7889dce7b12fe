// offset_map micro-benchmark: memory, checkpoint size and lookup speed of the
// offset maps of a 1,000-partition link whose source is transactional (one
// commit marker after every `--marker-every` records, so one entry each).
// A measurement, not a test: it never fails on a figure.

#include "offsets/offset_map.h"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

struct options {
  int64_t partitions = 1000;
  int64_t records = 100'000;
  int64_t marker_every = 100;
  int64_t lookups = 20'000'000;
};

bool parse_count(const char* text, int64_t& out) {
  char* end = nullptr;
  const long long v = std::strtoll(text, &end, 10);
  if (end == text || *end != '\0' || v <= 0) return false;
  out = v;
  return true;
}

int usage(const char* argv0) {
  std::fprintf(
      stderr, "usage: %s [--records N] [--partitions N] [--marker-every N] [--lookups N]\n", argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using klink::offsets::offset_map;
  using klink::offsets::source_run;
  options opt;
  for (int i = 1; i < argc; ++i) {
    int64_t* target = nullptr;
    if (std::strcmp(argv[i], "--records") == 0)
      target = &opt.records;
    else if (std::strcmp(argv[i], "--partitions") == 0)
      target = &opt.partitions;
    else if (std::strcmp(argv[i], "--marker-every") == 0)
      target = &opt.marker_every;
    else if (std::strcmp(argv[i], "--lookups") == 0)
      target = &opt.lookups;
    if (target == nullptr || i + 1 >= argc || !parse_count(argv[i + 1], *target))
      return usage(argv[0]);
    ++i;
  }

  std::vector<offset_map> maps;
  maps.reserve(static_cast<std::size_t>(opt.partitions));
  const auto build_start = std::chrono::steady_clock::now();
  for (int64_t p = 0; p < opt.partitions; ++p) {
    offset_map& map = maps.emplace_back(0, 0);
    int64_t source = 0;
    int64_t destination = 0;
    for (int64_t left = opt.records; left > 0;) {
      const int64_t n = std::min(left, opt.marker_every);
      const source_run run{source, n};
      if (!map.record_batch(std::span(&run, 1), destination, source + n)) return 1;
      destination += n;
      source += n;
      if (!map.record_gap(source + 1)) return 1;  // the COMMIT marker
      ++source;
      left -= n;
    }
  }
  const double build_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - build_start).count();

  double entries = 0, bytes = 0, serialized = 0;
  for (const offset_map& map : maps) {
    entries += static_cast<double>(map.entry_count());
    bytes += static_cast<double>(map.memory_bytes());
    serialized += static_cast<double>(map.serialize().size());
  }
  const double n = static_cast<double>(opt.partitions);

  // Random partition, random committed offset: the consumer-group sync's pattern,
  // with the maps together far larger than the CPU caches.
  std::mt19937_64 rng(42);
  std::vector<std::pair<uint32_t, int64_t>> queries(1 << 16);
  for (auto& [p, c] : queries) {
    p = static_cast<uint32_t>(rng() % static_cast<uint64_t>(opt.partitions));
    c = static_cast<int64_t>(rng() % static_cast<uint64_t>(maps[p].mirrored_source_offset() + 1));
  }
  int64_t sink = 0;
  const auto lookup_start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < opt.lookups; ++i) {
    const auto& [p, c] = queries[static_cast<std::size_t>(i) & (queries.size() - 1)];
    sink += maps[p].translate(c + (i >> 16)).value_or(-1);
  }
  const double lookup_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - lookup_start).count();

  std::printf(
      "offset_map: %lld partitions x %lld records, marker every %lld: %.0f entries/partition, "
      "%.1f KiB/partition (serialized %.1f KiB), %.1f M translations/s\n",
      static_cast<long long>(opt.partitions), static_cast<long long>(opt.records),
      static_cast<long long>(opt.marker_every), entries / n, bytes / n / 1024,
      serialized / n / 1024, static_cast<double>(opt.lookups) / lookup_s / 1e6);
  std::printf("offset_map: built in %.2f s (%.1f M acknowledged batches/s); checksum %lld\n",
              build_s, n * static_cast<double>(opt.records / opt.marker_every) / build_s / 1e6,
              static_cast<long long>(sink));
  return 0;
}
