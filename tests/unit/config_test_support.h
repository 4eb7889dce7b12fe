// Shared by the config unit tests: the error a document raises.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "config/config.h"

namespace klink::config::testing {

// Returns the error that parsing `text` raises, or fails the test.
inline config_error error_of(const std::string& text) {
  try {
    parse_config(text, "t.toml");
  } catch (const config_error& e) {
    return e;
  }
  ADD_FAILURE() << "expected a config_error for:\n" << text;
  return config_error("t.toml", "no error");
}

}  // namespace klink::config::testing
