// libFuzzer target: every codec's framing (kafka/compression.h): gzip (and
// zlib, concatenated members), snappy (xerial framing and raw blocks), LZ4
// frames, zstd frames, with a bounded output size.
//
// Input: [codec selector] then the compressed bytes; the selector modulo 5 is
// the codec's attribute bits (0 none .. 4 zstd).
//
// Properties: the output never exceeds the limit; the exact limit is enough
// and one byte less is too_large (never a shorter output); what
// decompresses, compressed again by klink, decompresses to the same bytes.
#include "fuzz_check.h"
#include "kafka/compression.h"

namespace {

using namespace klink::kafka;
using klink::fuzz::check;

// Small: every input is decompressed three times, and larger bombs only
// cost time (the limit logic is the same at any size).
constexpr std::size_t max_output = 128 << 10;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const auto codec = static_cast<compression_codec>(data[0] % 5);
  const bytes_view input = as_bytes_view(data + 1, size - 1);
  auto out = decompress(codec, input, max_output);
  if (!out) return 0;
  check(out->size() <= max_output, "output within the limit");

  auto exact = decompress(codec, input, out->size());
  check(exact.has_value() && *exact == *out, "the exact limit is enough");
  if (!out->empty()) {
    auto short_by_one = decompress(codec, input, out->size() - 1);
    check(!short_by_one && short_by_one.error().kind == batch_error_kind::too_large,
          "one byte less than the output is too_large");
  }

  auto again = compress(codec, *out);
  check(again.has_value(), "what decompresses compresses");
  auto back = decompress(codec, *again, max_output);
  check(back.has_value() && *back == *out, "compress then decompress gives the bytes back");
  return 0;
}
