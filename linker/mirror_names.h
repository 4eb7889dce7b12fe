// How mirror topics are named, and which source topics are themselves
// mirrors and so must never be mirrored back (bidirectional links).
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace klink::linker {

// Kafka's limit on a topic name's length.
inline constexpr std::size_t max_topic_name_length = 249;

// Why Kafka would refuse `name` as a topic name, or "" when it is legal.
std::string topic_name_problem(std::string_view name);

// Why the source topic `topic` is a mirror that would loop back (its name
// carries a prefix of a link writing into this cluster, or klink's state on
// this cluster records it as a mirror of the link's own destination), or ""
// when it is an ordinary topic (or a mirror of a third cluster: a chain).
std::string mirror_of_a_mirror(const std::string& topic,
                               const std::vector<std::string>& mirror_prefixes,
                               const std::set<std::string>& recorded_mirrors);

}  // namespace klink::linker
