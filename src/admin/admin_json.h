// The JSON shapes of the admin API's answers about mirrors and scale-out
// members: one function per shape, so that the handlers read as routes.
// Pure functions; called on the admin server's executor.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>

#include "linker/link.h"

namespace klink::admin {

// null for a negative offset (not known yet), else the offset.
nlohmann::json nullable(int64_t offset);
// A mirror as GET /v1/links/{link}/mirrors/{topic} shows it.
nlohmann::json mirror_json(const linker::mirror_status& m);
// This instance's place in the link's scale-out group.
nlohmann::json this_member_json(const linker::link& l);
// One member's share of a scale-out link's partitions.
nlohmann::json member_json(const linker::member_share& share);

}  // namespace klink::admin
