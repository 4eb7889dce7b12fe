// klink's command line: `run` the daemon or `validate` a config file.
#include <exception>
#include <filesystem>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include "config/config.h"
#include "config/validate.h"
#include "log/log.h"

#include "daemon.h"

#ifndef KLINK_VERSION
#define KLINK_VERSION "0.0.0-dev"
#endif

namespace {

int run(const std::filesystem::path& file) {
  klink::config::config cfg;
  try {
    cfg = klink::config::load_config(file);
  } catch (const klink::config::config_error& e) {
    std::cerr << e.what() << '\n';
    return klink::config::exit_invalid_config;
  }
  klink::log::init(cfg.log);
  try {
    return klink::run_daemon(cfg);
  } catch (const std::exception& e) {
    // Start-up failures (admin port taken, unusable certificate) land here too:
    // the message names the key and the file.
    klink::log::error("klink cannot run", {{"error", e.what()}});
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"klink: mirrors Kafka topics from a source cluster to a destination cluster",
               "klink"};
  app.set_version_flag("--version", std::string("klink ") + KLINK_VERSION);
  app.require_subcommand(1);

  std::string run_config;
  auto* run_cmd = app.add_subcommand("run", "Run the daemon until SIGTERM/SIGINT");
  run_cmd->add_option("-c,--config", run_config, "TOML configuration file")->required();

  std::string validate_config;
  auto* validate_cmd =
      app.add_subcommand("validate", "Check a configuration file and exit (0 = valid, 2 = not)");
  validate_cmd->add_option("-c,--config", validate_config, "TOML configuration file")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    // One exit code for "you asked for something invalid", whether in the
    // command line or in the file: scripts need only check for 2.
    return klink::config::exit_invalid_config;
  }

  if (*validate_cmd) {
    return klink::config::validate_command(validate_config, std::cout, std::cerr);
  }
  return run(run_config);
}
