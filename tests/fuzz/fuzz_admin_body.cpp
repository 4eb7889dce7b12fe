// libFuzzer target: what the admin endpoint parses out of an HTTP request
// (src/admin/http_api.h): the JSON bodies of a mirror action and of a batch
// action (both with and without :reverse's fields), and the request target.
// Beast parses the HTTP framing itself.
//
// Input: [selector] then the body or target; selector % 5: 0/1 action body
// (1: :reverse), 2/3 batch body (3: :reverse), 4 request target.
//
// Properties: what is accepted is within the documented rules (timeout
// 1..max_timeout_ms, exactly one of topics/all, named topics, "copy" if and
// only if copy_to); a route that names a link, topic or group has it;
// percent-decoding undoes percent-encoding.
#include "admin/http_api.h"
#include "fuzz_check.h"

namespace {

using namespace klink::admin;
using klink::fuzz::check;

void check_timeout(int64_t timeout_ms) {
  check(timeout_ms >= 1 && timeout_ms <= max_timeout_ms, "timeout within 1..max_timeout_ms");
}

void check_reverse(const reverse_fields& r, bool reverse) {
  if (!reverse) {
    check(r.start && r.divergent == "refuse" && r.copy_to.empty(), "no :reverse fields elsewhere");
    return;
  }
  check(r.divergent == "refuse" || r.divergent == "keep" || r.divergent == "copy",
        "divergent is refuse, keep or copy");
  check((r.divergent == "copy") == !r.copy_to.empty(), "copy_to goes with copy only");
}

void check_route(std::string_view target) {
  const route r = parse_route(target);
  switch (r.kind) {
    case route_kind::mirror:
    case route_kind::mirror_action:
      check(!r.topic.empty(), "a mirror route names its topic");
      [[fallthrough]];
    case route_kind::mirrors:
    case route_kind::mirrors_action:
    case route_kind::members:
      check(!r.link.empty(), "a link route names its link");
      break;
    case route_kind::group_offsets:
      check(!r.link.empty() && !r.group.empty(), "a group route names its link and group");
      break;
    default:
      break;
  }
  auto decoded = percent_decode(target);
  if (!decoded) return;
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string encoded;
  for (unsigned char c : *decoded) {
    encoded += '%';
    encoded += hex[c >> 4];
    encoded += hex[c & 15];
  }
  check(percent_decode(encoded) == decoded, "percent-decoding undoes percent-encoding");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string_view text = klink::fuzz::as_text(data + 1, size - 1);
  const int selector = data[0] % 5;
  const bool reverse = selector % 2 == 1;
  if (selector <= 1) {
    if (auto body = parse_action_body(text, reverse)) {
      check_timeout(body->timeout_ms);
      check_reverse(body->reverse, reverse);
    }
  } else if (selector <= 3) {
    if (auto body = parse_batch_body(text, reverse)) {
      check_timeout(body->timeout_ms);
      check_reverse(body->reverse, reverse);
      check(body->all == body->topics.empty(), "exactly one of topics and all");
      for (const auto& topic : body->topics)
        check(!topic.empty(), "named topics");
    }
  } else {
    check_route(text);
  }
  return 0;
}
