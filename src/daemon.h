// The daemon: wires config, links, admin and signals together.
#pragma once

#include "config/config.h"

namespace klink {

// Runs until SIGTERM/SIGINT; returns the process exit code.
int run_daemon(const config::config& cfg);

}  // namespace klink
