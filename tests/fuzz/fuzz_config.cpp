// libFuzzer target: the TOML configuration, parsed and validated as
// `klink validate` and a reload do it (src/config/config.h), and the RFC 3339
// start times it accepts.
//
// Input: the text of a config file. File names in it are taken relative to
// the working directory (the config's folder would be); none is read, only
// checked for readability.
//
// Properties: the only failure is a config_error with a position inside the
// text (or none); a config that validates has links, each named, with
// bootstrap servers on both sides; an accepted start time is not before 1970.
#include <algorithm>

#include "config/config.h"
#include "fuzz_check.h"

namespace {

using namespace klink::config;
using klink::fuzz::check;

void check_config(const config& cfg) {
  check(!cfg.links.empty(), "a valid config has links");
  for (const auto& link : cfg.links) {
    check(!link.name.empty(), "links are named");
    check(!link.source.bootstrap_servers.empty() && !link.destination.bootstrap_servers.empty(),
          "both clusters have bootstrap servers");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = klink::fuzz::as_text(data, size);
  try {
    check_config(parse_config(text, "fuzz.toml"));
  } catch (const config_error& e) {
    const auto lines = static_cast<std::uint32_t>(std::count(text.begin(), text.end(), '\n'));
    check(e.line() <= lines + 1, "an error points inside the text");
  }
  if (auto ms = parse_rfc3339_ms(text)) check(*ms >= 0, "start times are not before 1970");
  return 0;
}
