// The admin API: answers one parsed HTTP request from the links' state.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "admin/http_api.h"
#include "admin/metrics.h"
#include "kafka/asio.h"
#include "linker/link.h"

namespace klink::admin {

// Runs on the daemon's one thread, the links' thread, so it reads and
// changes link state directly; nothing in it blocks (a promotion awaits,
// other requests are served meanwhile).
class admin_api {
 public:
  admin_api(const std::vector<std::unique_ptr<linker::link>>& links, token_set tokens);

  asio::awaitable<http_reply> handle(const http_request& request);

 private:
  asio::awaitable<http_reply> dispatch(const route& r, const http_request& request);
  http_reply readyz() const;
  http_reply list_links() const;
  http_reply list_mirrors(linker::link& link);
  http_reply one_mirror(linker::link& link, const std::string& topic);
  asio::awaitable<http_reply> mirror_action(linker::link& link, const std::string& topic,
                                            const std::string& action, std::string_view body);
  asio::awaitable<http_reply> mirrors_action(linker::link& link, const std::string& action,
                                             std::string_view body);
  asio::awaitable<http_reply> group_offsets(linker::link& link, const std::string& group);
  // Scale-out: every member's share of the whole link, from the group coordinator.
  asio::awaitable<http_reply> members(linker::link& link);
  // Promote, fail over or reverse: per topic, the status and JSON its single
  // call answers.
  asio::awaitable<std::map<std::string, std::pair<unsigned, nlohmann::json>>> switch_topics(
      linker::link& link, const std::string& action, const std::vector<std::string>& topics,
      int64_t timeout_ms, const reverse_fields& reverse);
  // The status a pause/resume of one topic answers, with its JSON. A pause
  // is answered once every batch sent before it is answered (503 at the
  // timeout: the mirror stays paused).
  asio::awaitable<std::pair<unsigned, nlohmann::json>> apply(linker::link& link,
                                                             const std::string& topic,
                                                             const std::string& action,
                                                             int64_t timeout_ms);
  linker::link* find_link(const std::string& name) const;

  const std::vector<std::unique_ptr<linker::link>>& links_;
  token_set tokens_;
  metrics metrics_;
};

}  // namespace klink::admin
