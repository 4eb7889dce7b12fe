// `klink validate`, shared with the test that checks every example config.
#pragma once

#include <filesystem>
#include <iosfwd>

namespace klink::config {

// Exit code for an invalid configuration or wrong command-line usage.
inline constexpr int exit_invalid_config = 2;

// Loads and checks `file`. On success prints "FILE: ok (N links)" to `out`
// and returns 0; otherwise prints the config_error line to `err` and returns
// exit_invalid_config.
int validate_command(const std::filesystem::path& file, std::ostream& out, std::ostream& err);

}  // namespace klink::config
