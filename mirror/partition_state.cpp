#include "mirror/partition_mirror.h"

namespace klink::mirror {

std::string_view to_string(partition_state state) {
  switch (state) {
    case partition_state::active:
      return "ACTIVE";
    case partition_state::failed:
      return "FAILED";
    case partition_state::diverged:
      return "DIVERGED";
    case partition_state::stopped:
      return "STOPPED";
    case partition_state::fenced:
      return "FENCED";
  }
  return "UNKNOWN";
}

}  // namespace klink::mirror
