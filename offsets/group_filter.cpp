#include "offsets/group_filter.h"

#include <algorithm>

namespace klink::offsets {

group_filter::group_filter(std::vector<std::string> include, std::vector<std::string> exclude) {
  for (const auto& p : include)
    include_.emplace_back(p, std::regex::ECMAScript);
  for (const auto& p : exclude)
    exclude_.emplace_back(p, std::regex::ECMAScript);
}

bool group_filter::matches(std::string_view group) const {
  if (group.starts_with(own_group_prefix)) return false;
  auto whole = [group](const std::regex& re) {
    return std::regex_match(group.begin(), group.end(), re);
  };
  return std::ranges::any_of(include_, whole) && std::ranges::none_of(exclude_, whole);
}

}  // namespace klink::offsets
