#include "linker/link.h"

#include <algorithm>

#include "linker/link_parts.h"
#include "log/log.h"
#include "offsets/group_sync.h"

namespace klink::linker {

namespace {
// Scale-out partitions continue the producer of the mirror partition's last
// batch, and a refused sequence means another instance owns the partition.
mirror::mirror_options engine_options(const link_options& options) {
  auto out = options.mirror;
  out.fence_on_sequence_conflict = options.scale_out.enabled;
  return out;
}
}  // namespace

link_context::link_context(asio::any_io_executor ex, link_options opts)
    : executor(ex),
      options(std::move(opts)),
      source(ex, "source", options.source_bootstrap, options.source_connection),
      destination(ex, "destination", options.destination_bootstrap, options.destination_connection),
      engine(ex, source, destination, engine_options(options)) {}

link::link(asio::any_io_executor executor, link_options options)
    : ctx_(std::make_unique<link_context>(executor, std::move(options))),
      parts_(std::make_unique<link_parts>(*ctx_)) {
  auto& ctx = *ctx_;
  auto& parts = *parts_;
  ctx.health = &parts.health;
  ctx.book = &parts.book;
  ctx.lifecycle = &parts.lifecycle;
  ctx.follower = &parts.follower;
  if (ctx.options.scale_out.enabled) {
    parts.scale_out = std::make_unique<scale_out_coordinator>(ctx);
    ctx.scale_out = parts.scale_out.get();
  }
  if (ctx.options.reverse) {
    // A reverse link mirrors only what its forward link reversed: the topics
    // it has a record of.
    ctx.options.topic_filter = [&ctx](const std::string& topic) {
      return ctx.lifecycle->record_of(topic) != nullptr;
    };
  } else {
    ctx.opposite = [this]() -> link& { return ensure_reverse(); };
  }
  ctx.discover_now = [this] {
    rediscover_now_ = true;
    parts_->refresh_timer.cancel();
  };
  // Reachability follows every metadata refresh of the link's clusters, not
  // only the periodic one: after a Fetch or Produce failed, the data path's
  // refresh tells within a request timeout that a cluster is cut off (and
  // when it is back), instead of at the next topic refresh.
  for (kafka::cluster* c : {&ctx.source, &ctx.destination}) {
    c->on_metadata_refreshed([&ctx, &parts, c](const error* failure) {
      if (!ctx.stopping) parts.health.note(*c, failure);
    });
  }
  ctx.engine.on_acknowledged(
      [&parts](const mirror::acknowledgement& ack) { parts.book.record(ack); });
  // Out of the engine's call chain: stopping the rest of the topic touches
  // other partitions' queues.
  ctx.engine.on_partition_stopped([&ctx](const mirror::partition_mirror& p) {
    if (p.state == mirror::partition_state::diverged)
      asio::post(ctx.executor, [&ctx] { ctx.lifecycle->note_divergence(); });
    // Another instance writes to it: this one's view of the group is stale.
    if (p.state == mirror::partition_state::fenced && ctx.scale_out)
      ctx.scale_out->request_rejoin();
  });
  if (!ctx.options.sync_consumer_offsets) return;
  parts.group_source = std::make_unique<kafka::cluster>(
      executor, "source", ctx.options.source_bootstrap, ctx.options.source_connection);
  parts.group_destination =
      std::make_unique<kafka::cluster>(executor, "destination", ctx.options.destination_bootstrap,
                                       ctx.options.destination_connection);
  parts.group_sync = std::make_unique<offsets::group_offset_sync>(
      *parts.group_source, *parts.group_destination,
      offsets::group_sync_options{
          ctx.name(), ctx.options.consumer_groups,
          [&ctx](const std::string& topic) { return ctx.mirror_name(topic); }},
      [this](const std::string& topic, int32_t partition, int64_t source_offset) {
        return translate_for_sync(topic, partition, source_offset);
      },
      // A promoted or failed-over topic's consumers commit on the
      // destination themselves from then on.
      [&ctx](const std::string& topic, int32_t partition) {
        return ctx.follower->mirrored().contains(topic) && !is_final(ctx.lifecycle->phase(topic)) &&
               (!ctx.scale_out || ctx.scale_out->runs(topic, partition));
      });
  ctx.group_sync = parts.group_sync.get();
}

link::~link() = default;

void link::start() {
  started_ = true;
  asio::co_spawn(ctx_->executor, run(), asio::detached);
  if (reverse_) reverse_->start();
}

asio::awaitable<bool> link::shutdown(std::chrono::milliseconds deadline) {
  auto& ctx = *ctx_;
  auto& parts = *parts_;
  ctx.stopping = true;
  parts.refresh_timer.cancel();
  bool reverse_drained = true;
  if (reverse_) reverse_drained = co_await reverse_->shutdown(deadline);
  if (parts.group_sync) parts.group_sync->stop();
  log::info("link stopping: no new fetches, draining in-flight batches",
            {{"link", ctx.name()}, {"deadline_ms", static_cast<int64_t>(deadline.count())}});
  // Scale-out: hand everything over and leave the group, so that the other
  // instances take the partitions at once rather than after the session timeout.
  if (parts.scale_out) co_await parts.scale_out->leave();
  bool drained = true;
  if (engine_started_) drained = co_await ctx.engine.drain(deadline);
  parts.checkpoint_timer.cancel();
  co_await parts.lifecycle.persist_pending();
  if (auto written = co_await parts.book.write(); !written) {
    log::warn("final checkpoint not written; the next start re-reads the destination's tail",
              {{"link", ctx.name()}, {"error", written.error().message()}});
  }
  int64_t pending = 0;
  for (const auto& p : ctx.engine.partitions()) {
    pending += static_cast<int64_t>(p->ready.size() + p->in_flight.size());
    log_summary(ctx.name(), *p);
  }
  if (drained) {
    log::info("link stopped cleanly", {{"link", ctx.name()}});
  } else {
    log::warn("link stopped with batches not acknowledged; they will be fetched again",
              {{"link", ctx.name()}, {"pending_batches", pending}});
  }
  ctx.source.close();
  ctx.destination.close();
  if (parts.scale_out) parts.scale_out->close();
  if (parts.group_sync) {
    parts.group_source->close();
    parts.group_destination->close();
  }
  co_return drained&& reverse_drained;
}

void link::update_topic_selection(const link_options& options) {
  parts_->follower.update_selection(options);
  log::info("topic selection reloaded; applying it now",
            {{"link", ctx_->name()},
             {"refresh_interval_ms",
              static_cast<int64_t>(ctx_->options.topic_refresh_interval.count())}});
  rediscover_now_ = true;
  parts_->refresh_timer.cancel();
}

asio::awaitable<bool> link::refresh_clusters() {
  auto& ctx = *ctx_;
  bool ok = true;
  for (kafka::cluster* c : {&ctx.source, &ctx.destination}) {
    // The source is listed whole (discovery); the destination only for mirrors.
    std::vector<std::string> names;
    if (c == &ctx.destination) {
      for (const auto& topic : parts_->follower.mirrored())
        names.push_back(ctx.mirror_name(topic));
    }
    // The cluster's observer notes the outcome in the link's health.
    auto refreshed = co_await c->refresh_metadata(names, c == &ctx.source);
    ok = ok && refreshed.has_value();
  }
  co_return ok;
}

asio::awaitable<bool> link::load_state() {
  auto loaded = [this](const result<void>& outcome) {
    if (!outcome) {
      log::warn("cannot read klink's state on the destination; retrying",
                {{"link", ctx_->name()}, {"error", outcome.error().message()}});
    }
    return outcome.has_value();
  };
  // Lifecycle records first: a mirror promoted by an earlier run must be
  // known before discovery could start copying into it.
  // A reverse link creates nothing on its destination (the forward link's
  // source) until a mirror is reversed.
  const bool create = !ctx_->options.reverse;
  if (!lifecycle_loaded_) {
    const auto records = co_await parts_->lifecycle.load(create);
    lifecycle_loaded_ = loaded(records);
  }
  if (lifecycle_loaded_ && !checkpoints_loaded_) {
    const auto checkpoints = co_await parts_->book.load(create);
    checkpoints_loaded_ = loaded(checkpoints);
  }
  ctx_->state_loaded = lifecycle_loaded_ && checkpoints_loaded_;
  co_return ctx_->state_loaded;
}

asio::awaitable<void> link::run() {
  auto& ctx = *ctx_;
  auto& timer = parts_->refresh_timer;
  int failures = 0;
  while (!ctx.stopping) {
    const bool reached = co_await refresh_clusters();
    // klink's own state lives on the destination: which mirrors were promoted
    // is known (and answered by the admin endpoint) even while the source is down.
    bool loaded = false;
    if (parts_->health.reachable("destination")) loaded = co_await load_state();
    if (reached && loaded) {
      failures = 0;
      co_await discover();
      timer.expires_after(ctx.options.topic_refresh_interval);
    } else {
      ++failures;
      auto delay = std::chrono::milliseconds(500) * (1 << std::min(failures, 5));
      timer.expires_after(std::min<std::chrono::milliseconds>(delay, std::chrono::seconds(10)));
    }
    if (rediscover_now_) {
      rediscover_now_ = false;
      continue;
    }
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    rediscover_now_ = false;
  }
}

asio::awaitable<void> link::discover() {
  auto& ctx = *ctx_;
  // Scale-out: mirrors another instance promoted or failed over.
  if (ctx.scale_out && parts_->follower.first_discovery_done())
    co_await parts_->lifecycle.refresh();
  co_await parts_->follower.discover();
  if (ctx.stopping) co_return;
  // Mirrors reversed by an earlier run: their reverse link runs them again.
  if (!ctx.options.reverse && !reverse_ &&
      parts_->follower.source_has_records(reversed(ctx.options).name + "/"))
    ensure_reverse();
  if (ctx.scale_out) ctx.scale_out->after_discovery();
  if (!engine_started_ && (!parts_->follower.mirrored().empty() || ctx.scale_out)) start_engine();
  co_await parts_->follower.sync_configs();
}

void link::start_engine() {
  engine_started_ = true;
  ctx_->engine.start();
  asio::co_spawn(ctx_->executor, checkpoint_loop(), asio::detached);
  // Translations need the offset maps, which exist from here on.
  if (parts_->group_sync) {
    asio::co_spawn(ctx_->executor, parts_->group_sync->run(ctx_->options.consumer_offsets_interval),
                   asio::detached);
  }
}

asio::awaitable<void> link::checkpoint_loop() {
  auto& ctx = *ctx_;
  bool failing = false;
  while (!ctx.stopping) {
    parts_->checkpoint_timer.expires_after(ctx.options.checkpoint_interval);
    boost::system::error_code ec;
    co_await parts_->checkpoint_timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ctx.stopping) break;
    parts_->lifecycle.note_divergence();
    co_await parts_->lifecycle.persist_pending();
    auto written = co_await parts_->book.write();
    if (!written && !failing) {
      log::warn("cannot write checkpoints; retrying (a restart meanwhile re-reads the tail)",
                {{"link", ctx.name()}, {"error", written.error().message()}});
    } else if (written && failing) {
      log::info("checkpoints written again", {{"link", ctx.name()}});
    }
    failing = !written;
  }
}

asio::awaitable<result<std::vector<translated_offset>>> link::group_offsets(
    const std::string& group) {
  kafka::cluster& cluster = parts_->group_source ? *parts_->group_source : ctx_->source;
  const std::vector<std::string> no_topics;
  if (auto refreshed = co_await cluster.refresh_metadata(no_topics); !refreshed)
    co_return std::unexpected(std::move(refreshed.error()).within("source cluster unreachable"));
  auto committed = co_await offsets::fetch_committed_offsets(cluster, group);
  if (!committed) co_return std::unexpected(std::move(committed.error()));
  std::vector<translated_offset> out;
  for (const auto& c : *committed) {
    if (!parts_->book.has(c.topic, c.partition)) continue;  // not a topic this link mirrors
    out.push_back(
        {c.topic, c.partition, c.offset, parts_->book.translate(c.topic, c.partition, c.offset)});
  }
  std::ranges::sort(out, [](const auto& a, const auto& b) {
    return std::tie(a.topic, a.partition) < std::tie(b.topic, b.partition);
  });
  co_return out;
}

const std::string& link::name() const {
  return ctx_->name();
}

std::string link::mirror_name(const std::string& source_topic) const {
  return ctx_->mirror_name(source_topic);
}

std::string link::source_topic_named(const std::string& name) const {
  return parts_->follower.source_topic_named(name);
}

mirror_lifecycle& link::lifecycle() {
  return parts_->lifecycle;
}

scale_out_coordinator* link::scale_out() {
  return parts_->scale_out.get();
}

const scale_out_coordinator* link::scale_out() const {
  return parts_->scale_out.get();
}

}  // namespace klink::linker
