// From a link's configuration to the options its linker::link runs with.
#pragma once

#include "config/config.h"
#include "linker/link.h"

namespace klink {

// `cfg` is the whole configuration: a link's loop protection depends on the
// links writing into its source cluster.
linker::link_options to_link_options(const config::config& cfg, const config::link_config& link);

// What a reload can apply to a running link without restarting it: which
// topics it selects, how often it looks, which configs it syncs. Any other
// change (clusters, prefix, mirror settings, offset sync, scale-out) restarts
// the link.
bool same_except_topic_selection(const config::link_config& a, const config::link_config& b);

}  // namespace klink
