#include "linker/mirror_names.h"

#include <algorithm>

namespace klink::linker {

std::string topic_name_problem(std::string_view name) {
  if (name.empty()) return "a topic name cannot be empty";
  if (name == "." || name == "..") return "a topic name cannot be '.' or '..'";
  if (name.size() > max_topic_name_length) {
    return "topic name is " + std::to_string(name.size()) + " characters long; Kafka allows " +
           std::to_string(max_topic_name_length);
  }
  auto legal = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  };
  if (!std::ranges::all_of(name, legal))
    return "a topic name may contain only ASCII letters, digits, '.', '_' and '-'";
  return "";
}

std::string mirror_of_a_mirror(const std::string& topic,
                               const std::vector<std::string>& mirror_prefixes,
                               const std::set<std::string>& recorded_mirrors) {
  for (const auto& prefix : mirror_prefixes) {
    if (!prefix.empty() && topic.starts_with(prefix))
      return "its name starts with '" + prefix + "', the prefix of a link into this cluster";
  }
  if (recorded_mirrors.contains(topic))
    return "klink's state on this cluster records it as a mirror topic";
  return "";
}

}  // namespace klink::linker
