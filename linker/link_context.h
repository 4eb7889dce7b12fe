// What every part of a link shares: its options, its two clusters, its mirror
// engine, whether it is stopping, and its sibling parts. The link owns it and
// every part; parts are wired to each other through it (ARCHITECTURE.md,
// "A link and its parts"). Included only by linker's .cpp files: it names the
// data path's types, which the layers above the linker never see.
#pragma once

#include <functional>
#include <string>

#include "kafka/asio.h"
#include "kafka/client/call.h"
#include "kafka/cluster.h"
#include "linker/link_options.h"
#include "mirror/mirror_engine.h"

namespace klink::linker {

// The client layer's calls, as every part of the link names them.
namespace client = kafka::client;

class offset_book;
class mirror_lifecycle;
class topic_follower;
class scale_out_coordinator;
class link_health;
class link;
}  // namespace klink::linker
namespace klink::offsets {
class group_offset_sync;
}
namespace klink::linker {

// Lives on the link's single-threaded executor, like everything it holds.
struct link_context {
  link_context(asio::any_io_executor executor, link_options options);

  asio::any_io_executor executor;
  link_options options;
  kafka::cluster source;
  kafka::cluster destination;
  mirror::mirror_engine engine;
  bool stopping = false;
  // The link's records and checkpoints were read (link::load_state).
  bool state_loaded = false;

  // The parts, set by the link once they exist. `scale_out` is null unless
  // [links.scale_out] is enabled.
  offset_book* book = nullptr;
  mirror_lifecycle* lifecycle = nullptr;
  topic_follower* follower = nullptr;
  scale_out_coordinator* scale_out = nullptr;
  link_health* health = nullptr;
  // Consumer-group offset sync, null unless enabled.
  offsets::group_offset_sync* group_sync = nullptr;

  // Failback: the link that runs the other direction of this link's
  // mirrors (a forward link makes its reverse on first use).
  std::function<link&()> opposite;
  // Starts a discovery pass now (a reversed mirror to set up).
  std::function<void()> discover_now;

  const std::string& name() const { return options.name; }
  // The mirror topic's name on the destination.
  std::string mirror_name(const std::string& source_topic) const {
    const auto& strip = options.strip_prefix;
    if (!strip.empty() && source_topic.starts_with(strip)) return source_topic.substr(strip.size());
    return options.topic_prefix + source_topic;
  }
};

}  // namespace klink::linker
