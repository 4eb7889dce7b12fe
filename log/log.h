// Structured logging: one line per event, as text for people or JSON for log
// pipelines. Callable from any thread; lines never interleave.
#pragma once

#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <string_view>
#include <type_traits>
#include <variant>

#include "log/log_options.h"

namespace klink::log {

// One key/value pair of an event. It borrows its key and string value, so
// build fields inside the logging call, e.g.
//   log::info("partition caught up", {{"topic", topic}, {"partition", p}, {"lag", 0}});
struct field {
  using value_type = std::variant<std::string_view, std::int64_t, std::uint64_t, double, bool>;

  template <typename T>
  requires std::convertible_to<const T&, std::string_view> field(std::string_view k, const T& v)
      : key(k), value(std::string_view(v)) {}

  template <std::integral T>
  requires(!std::same_as<T, bool> && !std::same_as<T, char>) field(std::string_view k, T v)
      : key(k), value(convert_integer(v)) {}

  template <std::floating_point T>
  field(std::string_view k, T v) : key(k), value(static_cast<double>(v)) {}

  // A template so that string literals never decay to bool.
  template <typename T>
  requires std::same_as<T, bool> field(std::string_view k, T v) : key(k), value(v) {}

  std::string_view key;
  value_type value;

 private:
  template <typename T>
  static value_type convert_integer(T v) {
    if constexpr (std::is_signed_v<T>) {
      return static_cast<std::int64_t>(v);
    } else {
      return static_cast<std::uint64_t>(v);
    }
  }
};

// Configures level and format; may be called again (e.g. by tests). Until it
// is called, events at info and above go to stderr as text.
void init(const options& cfg);

// Whether an event at this level would be written; use it to skip building
// expensive fields.
bool enabled(level lvl) noexcept;

void write(level lvl, std::string_view msg, std::initializer_list<field> fields = {});

inline void trace(std::string_view msg, std::initializer_list<field> fields = {}) {
  write(level::trace, msg, fields);
}
inline void debug(std::string_view msg, std::initializer_list<field> fields = {}) {
  write(level::debug, msg, fields);
}
inline void info(std::string_view msg, std::initializer_list<field> fields = {}) {
  write(level::info, msg, fields);
}
inline void warn(std::string_view msg, std::initializer_list<field> fields = {}) {
  write(level::warn, msg, fields);
}
inline void error(std::string_view msg, std::initializer_list<field> fields = {}) {
  write(level::error, msg, fields);
}

// Test hook: send lines to `out` instead of stderr (nullptr restores stderr).
// The stream must outlive its use.
void set_output_for_testing(std::ostream* out);

}  // namespace klink::log
