// libFuzzer entry point: every generated request and response type, at every
// version, must decode arbitrary bytes without crashing, and whatever decodes
// must re-encode to bytes that decode and re-encode identically.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "kafka/messages/all.h"
#include "kafka/protocol/frame.h"

namespace {

using namespace klink::kafka;

template <class M>
void exercise(bytes_view input) {
  for (int16_t v = M::min_version; v <= M::max_version; ++v) {
    auto decoded = decode_message<M>(input, v);
    if (!decoded) continue;
    wire_writer w1;
    decoded->encode(w1, v);
    const byte_vector once = w1.flatten();
    auto again = decode_message<M>(once, v);
    if (!again) std::abort();
    wire_writer w2;
    again->encode(w2, v);
    if (w2.flatten() != once) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const bytes_view input = as_bytes_view(data, size);
  msg::for_each_api([&]<class Api>(std::type_identity<Api>) {
    exercise<typename Api::response>(input);
    exercise<typename Api::request>(input);
  });
  wire_reader r(input);
  (void)decode_response_header(r, 1);
  return 0;
}
