// libFuzzer target: the scale-out group's blobs as the coordinator relays
// them from other members (kafka/client/group_assignment.h): JoinGroup
// member metadata and SyncGroup assignments.
//
// Input: [selector] then the blob; selector bit 0: an assignment (else
// member metadata).
//
// Property: what decodes encodes to a blob that decodes to the same value.
#include "fuzz_check.h"
#include "kafka/client/group_assignment.h"

namespace {

using namespace klink::kafka;
using namespace klink::kafka::client;
using klink::fuzz::check;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const bytes_view blob = as_bytes_view(data + 1, size - 1);
  if ((data[0] & 1) != 0) {
    auto decoded = decode_member_assignment(blob);
    if (!decoded) return 0;
    auto again = decode_member_assignment(encode_member_assignment(*decoded));
    check(again.has_value() && *again == *decoded, "assignment round trip");
  } else {
    auto decoded = decode_member_metadata(blob);
    if (!decoded) return 0;
    auto again = decode_member_metadata(encode_member_metadata(*decoded));
    check(again.has_value() && *again == *decoded, "member metadata round trip");
  }
  return 0;
}
