// libFuzzer target: a mirror's state record as klink reads it back from
// __klink_mirror_states (linker/mirror_record.h): JSON written by this or
// another klink, or by anything else that can write to the topic.
//
// Properties: a record that parses serializes to text that parses to the
// same record, and serializing that gives the same text again; a record read
// back is never PROMOTING (a promotion in progress resumes as ACTIVE).
#include "fuzz_check.h"
#include "linker/mirror_record.h"

namespace {

using namespace klink::linker;
using klink::fuzz::check;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto record = parse_mirror_record(klink::fuzz::as_text(data, size));
  if (!record) return 0;
  check(record->phase != mirror_phase::promoting, "PROMOTING is never read back");
  const std::string text = serialize(*record);
  auto again = parse_mirror_record(text);
  check(again.has_value() && *again == *record, "a record survives serialize and parse");
  check(serialize(*again) == text, "serializing is stable");
  return 0;
}
