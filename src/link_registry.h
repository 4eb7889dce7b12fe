// The daemon's running links, and how a reloaded configuration changes them.
#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include "config/config.h"
#include "kafka/asio.h"
#include "linker/link.h"

namespace klink {

// Lives on the daemon's one thread. A link taken out of service is kept
// (stopped, its connections closed) rather than destroyed: an admin request
// may still be waiting on it, and its finished coroutines may still resume.
class link_registry {
 public:
  link_registry(asio::any_io_executor executor, const config::config& cfg);

  // The links in service, in config order; the admin endpoint reads these.
  const std::vector<std::unique_ptr<linker::link>>& links() const { return links_; }

  void start_all();
  // Applies a new configuration: removed links stop (in-flight batches
  // drained), added ones start, changed ones restart, and links whose only
  // change is their topic selection apply it at once without a restart.
  asio::awaitable<void> apply(config::config next, std::chrono::milliseconds drain_deadline);
  // Stops every link, draining in-flight batches until the deadline.
  asio::awaitable<void> shutdown(std::chrono::milliseconds drain_deadline);

 private:
  linker::link& add(const config::link_config& link_cfg);
  asio::awaitable<void> retire(std::size_t index, std::chrono::milliseconds drain_deadline);

  asio::any_io_executor executor_;
  config::config config_;
  std::vector<std::unique_ptr<linker::link>> links_;
  std::vector<std::unique_ptr<linker::link>> retired_;
};

}  // namespace klink
