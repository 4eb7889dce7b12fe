// Which consumer groups a link syncs. The linker re-exports this header: the
// daemon builds the filter from the config.
#pragma once

#include <regex>
#include <string>
#include <string_view>
#include <vector>

namespace klink::offsets {

// Group ids starting with this are klink's own and never synced.
inline constexpr std::string_view own_group_prefix = "__klink";

// Which consumer groups a link syncs: whole-name ECMAScript regexes.
class group_filter {
 public:
  group_filter() = default;
  // Throws std::regex_error for a pattern that does not compile (start-up).
  group_filter(std::vector<std::string> include, std::vector<std::string> exclude);

  // Any include and no exclude pattern matches; klink's own groups never do.
  bool matches(std::string_view group) const;

 private:
  std::vector<std::regex> include_;
  std::vector<std::regex> exclude_;
};

}  // namespace klink::offsets
