#include "config/validate.h"

#include <ostream>

#include "config/config.h"

namespace klink::config {

int validate_command(const std::filesystem::path& file, std::ostream& out, std::ostream& err) {
  try {
    const config cfg = load_config(file);
    out << file.string() << ": ok (" << cfg.links.size() << " links)\n";
    return 0;
  } catch (const config_error& e) {
    err << e.what() << '\n';
    return exit_invalid_config;
  }
}

}  // namespace klink::config
