// Logging settings: a header with no dependencies, so that the config layer
// can name them without pulling in the logger, and the logger can be used
// without the configuration model.
#pragma once

#include <cstdint>
#include <string_view>

namespace klink::log {

enum class level : std::uint8_t { trace, debug, info, warn, error };

enum class format : std::uint8_t { text, json };

struct options {
  log::level level = level::info;
  log::format format = format::text;
};

constexpr std::string_view to_string(level lvl) noexcept {
  switch (lvl) {
    case level::trace:
      return "trace";
    case level::debug:
      return "debug";
    case level::info:
      return "info";
    case level::warn:
      return "warn";
    case level::error:
      return "error";
  }
  return "info";
}

constexpr std::string_view to_string(format f) noexcept {
  return f == format::json ? "json" : "text";
}

}  // namespace klink::log
