// Shared by the config unit tests: the error a document raises, a
// substring check that shows both texts, and a minimal scale-out link.
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

inline ::testing::AssertionResult contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "\"" << text << "\"\ndoes not contain\n\"" << part << "\"";
}

// A link named `name`; `scale_out` is the body of its [links.scale_out]
// table, which is left out when nullptr.
inline std::string scale_out_link(const std::string& name, const char* scale_out) {
  std::string out = "[[links]]\nname = \"" + name +
                    "\"\n[links.source]\nbootstrap_servers = [\"127.0.0.1:19092\"]\n"
                    "[links.destination]\nbootstrap_servers = [\"127.0.0.1:29092\"]\n"
                    "[links.topics]\ninclude = [\"orders\"]\n";
  if (scale_out != nullptr) out += "[links.scale_out]\n" + std::string(scale_out);
  return out;
}

}  // namespace klink::config::testing
