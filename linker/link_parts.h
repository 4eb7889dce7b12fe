// The parts of a link and the context they share, as the link owns them.
// Private to linker/ (it names the data path's and the offsets' types).
#pragma once

#include <memory>
#include <string>

#include "kafka/cluster.h"
#include "linker/lag_clock.h"
#include "linker/lifecycle.h"
#include "linker/link_context.h"
#include "linker/link_health.h"
#include "linker/offset_book.h"
#include "linker/scale_out.h"
#include "linker/topic_follower.h"
#include "offsets/group_sync.h"

namespace klink::linker {

// The parts of one link, in the order they are made and wired.
struct link_parts {
  explicit link_parts(link_context& ctx)
      : health(ctx.name()),
        book(ctx),
        lifecycle(ctx),
        follower(ctx),
        refresh_timer(ctx.executor),
        checkpoint_timer(ctx.executor) {}

  link_health health;
  offset_book book;
  mirror_lifecycle lifecycle;
  topic_follower follower;
  std::unique_ptr<scale_out_coordinator> scale_out;
  // Consumer-group offset sync, null unless enabled. It has connections of
  // its own: a broker answers one request per connection at a time, so on the
  // data path's connections every group request would wait behind a
  // long-polling Fetch.
  std::unique_ptr<kafka::cluster> group_source;
  std::unique_ptr<kafka::cluster> group_destination;
  std::unique_ptr<offsets::group_offset_sync> group_sync;
  lag_clock clock;
  asio::steady_timer refresh_timer;
  asio::steady_timer checkpoint_timer;
};

// The "mirror partition summary" line a stopping link logs per partition.
void log_summary(const std::string& link_name, const mirror::partition_mirror& p);

}  // namespace klink::linker
