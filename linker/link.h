// A link: two clusters, the topics it mirrors between them, and the parts
// that do the work (README.md in this folder): the topic follower, the
// mirror lifecycle, the offset book, the scale-out coordinator and the health
// of its clusters, all sharing one link_context. The link owns and wires
// them, runs the discovery loop and answers for the whole.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kafka/asio.h"
#include "kafka/error.h"
#include "linker/lifecycle.h"
#include "linker/link_health.h"
#include "linker/link_options.h"
#include "linker/scale_out.h"
#include "linker/status.h"
#include "mirror/latency_histogram.h"

namespace klink::kafka {
class cluster;
}

namespace klink::linker {

struct link_context;
struct link_parts;

// What :pause achieved.
struct pause_outcome {
  bool settled = true;
  std::string problem;  // when not settled and not simply batches still unanswered here
};

// Owns everything of one link; lives on the link's single-threaded executor.
class link {
 public:
  link(asio::any_io_executor executor, link_options options);
  ~link();

  void start();
  // Two-phase stop: stop fetching, drain in-flight produces until `deadline`.
  // True when everything fetched reached the destination.
  asio::awaitable<bool> shutdown(std::chrono::milliseconds deadline);
  // A reloaded config's topic selection, applied by a discovery pass that
  // starts now (see topic_follower::update_selection).
  void update_topic_selection(const link_options& options);

  const std::string& name() const;
  // The mirror topic's name on the destination.
  std::string mirror_name(const std::string& source_topic) const;
  // The source topic of the mirror asked about by either name.
  std::string source_topic_named(const std::string& name) const;

  // Status (same executor: no locks). ACTIVE, PAUSED (every mirror paused),
  // UNAVAILABLE (a cluster unreachable), FAILED (a cluster refuses klink's
  // credentials or certificates, or every mirror partition stopped on an error).
  std::string_view state() const;
  int64_t lag_records() const;
  const link_health& health() const;
  // The cluster id of "source" or "destination" as its metadata last said.
  const std::string& cluster_id(std::string_view role) const;
  // Every topic the link mirrors or once mirrored and stopped for good, in name order.
  std::vector<std::string> mirror_topics() const;
  // Each of those as the admin endpoint shows it, in name order.
  std::vector<mirror_status> mirrors();
  std::optional<mirror_status> mirror(const std::string& topic);
  // Fetch/Produce latencies and Kafka errors received, since start.
  const mirror::engine_stats& stats() const;
  // Consumer-group partition offsets committed on the destination since
  // start; 0 while consumer-offset sync is off.
  uint64_t consumer_offsets_committed() const;

  // Pause, resume, promote, failover, reverse: this link's own lifecycle.
  mirror_lifecycle& lifecycle();
  // Failback: which link runs `topic` (this link's source topic name) now —
  // this one, or its reverse after a :reverse — and the topic's name there.
  std::pair<link*, std::string> holder(const std::string& topic);
  // The operator's actions on `topics`, each sent to the link that runs its
  // current direction (link_reverse.cpp); answers are keyed by this link's names.
  // Pause is exact: answered (settled) once every batch sent before it is
  // answered, and with scale-out once every instance running its partitions
  // confirmed the same; not settled when that did not happen by `timeout`
  // (it stays paused).
  asio::awaitable<pause_outcome> pause_mirror(const std::string& topic,
                                              std::chrono::milliseconds timeout);
  bool resume_mirror(const std::string& topic);
  asio::awaitable<switch_outcomes> switch_mirrors(std::string_view action,
                                                  const std::vector<std::string>& topics,
                                                  std::chrono::milliseconds timeout,
                                                  const reverse_options& options = {});
  // The group's committed source offsets on mirrored topics, translated.
  asio::awaitable<result<std::vector<translated_offset>>> group_offsets(const std::string& group);
  // Scale-out ([links.scale_out] enabled), else null.
  scale_out_coordinator* scale_out();
  const scale_out_coordinator* scale_out() const;

 private:
  asio::awaitable<void> run();
  asio::awaitable<bool> refresh_clusters();
  asio::awaitable<bool> load_state();
  asio::awaitable<void> discover();
  void start_engine();
  asio::awaitable<void> checkpoint_loop();
  // The reverse of this link, made on first use (link_reverse.cpp).
  link& ensure_reverse();
  // Group sync's translation: this direction's map, or below its start the
  // previous generation's (the other direction's) map read backwards.
  std::optional<int64_t> translate_for_sync(const std::string& topic, int32_t partition,
                                            int64_t source_offset) const;
  void merge_reverse(mirror_status& status);

  std::unique_ptr<link_context> ctx_;
  std::unique_ptr<link_parts> parts_;
  bool rediscover_now_ = false;  // a reload changed the selection: skip the wait
  bool engine_started_ = false;
  bool lifecycle_loaded_ = false;
  bool checkpoints_loaded_ = false;
  bool started_ = false;
  std::unique_ptr<link> reverse_;  // failback: runs the mirrors this link reversed
  link* forward_ = nullptr;        // a reverse link's forward link
};

}  // namespace klink::linker
