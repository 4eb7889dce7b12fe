// Logging settings, kept apart from config.h so that the logger can be used
// without pulling in <regex> and the rest of the configuration model.
#pragma once

#include <cstdint>
#include <string_view>

namespace klink::config {

enum class log_level : std::uint8_t { trace, debug, info, warn, error };

enum class log_format : std::uint8_t { text, json };

struct log_config {
  log_level level = log_level::info;
  log_format format = log_format::text;
};

constexpr std::string_view to_string(log_level level) noexcept {
  switch (level) {
    case log_level::trace:
      return "trace";
    case log_level::debug:
      return "debug";
    case log_level::info:
      return "info";
    case log_level::warn:
      return "warn";
    case log_level::error:
      return "error";
  }
  return "info";
}

constexpr std::string_view to_string(log_format format) noexcept {
  return format == log_format::json ? "json" : "text";
}

}  // namespace klink::config
