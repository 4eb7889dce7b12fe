#include "link_registry.h"

#include <algorithm>
#include <string>

#include "link_options.h"
#include "log/log.h"

namespace klink {

namespace {
const config::link_config* find(const config::config& cfg, const std::string& name) {
  auto it = std::ranges::find(cfg.links, name, &config::link_config::name);
  return it == cfg.links.end() ? nullptr : &*it;
}
}  // namespace

link_registry::link_registry(asio::any_io_executor executor, const config::config& cfg)
    : executor_(executor), config_(cfg) {
  for (const auto& link_cfg : config_.links)
    add(link_cfg);
}

linker::link& link_registry::add(const config::link_config& link_cfg) {
  links_.push_back(std::make_unique<linker::link>(executor_, to_link_options(config_, link_cfg)));
  return *links_.back();
}

void link_registry::start_all() {
  for (const auto& l : links_) {
    log::info("link starting", {{"link", l->name()}});
    l->start();
  }
}

asio::awaitable<void> link_registry::retire(std::size_t index,
                                            std::chrono::milliseconds drain_deadline) {
  auto link = std::move(links_[index]);
  links_.erase(links_.begin() + static_cast<std::ptrdiff_t>(index));
  co_await link->shutdown(drain_deadline);
  retired_.push_back(std::move(link));
}

asio::awaitable<void> link_registry::apply(config::config next,
                                           std::chrono::milliseconds drain_deadline) {
  int64_t removed = 0, restarted = 0, reselected = 0, added = 0;
  // Removed, and changed beyond their topic selection: stopped first, so that
  // a restarted link resumes from the checkpoint its old self wrote.
  std::vector<std::string> to_start;
  for (std::size_t i = 0; i < links_.size();) {
    const std::string name = links_[i]->name();
    const auto* before = find(config_, name);
    const auto* after = find(next, name);
    if (after != nullptr && before != nullptr && same_except_topic_selection(*before, *after)) {
      ++i;
      continue;
    }
    log::info(after == nullptr ? "link removed by the reloaded config: stopping it"
                               : "link changed by the reloaded config: restarting it",
              {{"link", name}});
    co_await retire(i, drain_deadline);
    if (after != nullptr) {
      to_start.push_back(name);
      ++restarted;
    } else {
      ++removed;
    }
  }
  config_ = std::move(next);
  // Every remaining link gets its selection again: another link's prefix may
  // have changed what it must never mirror back.
  for (const auto& l : links_) {
    const auto* cfg = find(config_, l->name());
    l->update_topic_selection(to_link_options(config_, *cfg));
    ++reselected;
  }
  for (const auto& link_cfg : config_.links) {
    const bool running =
        std::ranges::any_of(links_, [&](const auto& l) { return l->name() == link_cfg.name; });
    if (running) continue;
    auto& l = add(link_cfg);
    if (std::ranges::find(to_start, link_cfg.name) == to_start.end()) ++added;
    log::info("link starting", {{"link", l.name()}});
    l.start();
  }
  // Config order, for listings.
  std::ranges::sort(links_, {}, [&](const auto& l) {
    return std::ranges::find(config_.links, l->name(), &config::link_config::name) -
           config_.links.begin();
  });
  log::info("config reloaded", {{"config", config_.source_file},
                                {"links", static_cast<int64_t>(links_.size())},
                                {"added", added},
                                {"removed", removed},
                                {"restarted", restarted},
                                {"selection_reapplied", reselected}});
}

asio::awaitable<void> link_registry::shutdown(std::chrono::milliseconds drain_deadline) {
  // By pointer: the list may change under a reload running meanwhile.
  std::vector<linker::link*> running;
  for (const auto& l : links_)
    running.push_back(l.get());
  for (auto* l : running)
    co_await l->shutdown(drain_deadline);
}

}  // namespace klink
