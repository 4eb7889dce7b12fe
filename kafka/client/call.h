// What every typed call of the client layer shares: where a request goes, the
// version it is sent in (the newest that klink and the broker both speak,
// within what the call can fill in), and retries decided by the one error
// table. Each API's own file (topics.h, groups.h, ...) builds its request,
// reads its answer and returns a typed result; nothing above this layer fills
// in a request struct by hand.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kafka/asio.h"
#include "kafka/cluster.h"
#include "kafka/error.h"
#include "kafka/sleep.h"

namespace klink::kafka::client {

// Which broker a call goes to.
struct target {
  enum class kind : uint8_t { any, node, controller };
  kind where = kind::any;
  int32_t node_id = -1;

  static target any_broker() { return {}; }
  static target broker(int32_t id) { return {kind::node, id}; }
  // CreateTopics, CreatePartitions: the controller the last metadata named,
  // or any broker (which forwards) when none is known.
  static target controller() { return {kind::controller, -1}; }
};

// How often a call is tried while the error table says retrying may help
// (retry, refresh_metadata), and how long it waits in between (times the
// attempt number). One attempt means: the caller decides (the group
// membership protocol, whose errors are states).
struct call_options {
  int attempts = 3;
  std::chrono::milliseconds backoff{100};
};

// A Kafka error code from an answer as a klink::error of `Api` on `cluster`.
template <class Api>
error answer_error(const cluster& c, int16_t code, const std::optional<std::string>& message = {}) {
  return error(to_error_code(code), Api::name, message.value_or("")).on(c.role());
}

// Sends the request `build(version)` makes, in the newest version of Api in
// [min, max] (clamped to what klink generated) that the broker at `to` speaks.
// `keepalive` owns bytes the request references without copying (a Produce's
// records) until the request is written, even if the caller is gone by then.
template <class Api, class Build>
asio::awaitable<result<response<typename Api::response>>> send(
    cluster& c, target to, int16_t min, int16_t max, Build build,
    std::shared_ptr<const void> keepalive = {}) {
  using reply = result<response<typename Api::response>>;
  result<std::shared_ptr<connection>> conn;
  if (to.where == target::kind::node) {
    conn = co_await c.connection_to(to.node_id);
  } else if (to.where == target::kind::controller && c.metadata().controller_id >= 0) {
    conn = co_await c.connection_to(c.metadata().controller_id);
  } else {
    conn = co_await c.any_connection();
  }
  if (!conn) co_return reply(std::unexpected(error(std::move(conn.error())).on(c.role())));
  const auto version = (*conn)->version_for(Api::key, std::max(min, Api::request::min_version),
                                            std::min(max, Api::request::max_version));
  if (!version) {
    co_return reply(
        std::unexpected(error(client_errc::unsupported_version, Api::name,
                              "the broker supports no version of it that klink can fill in")
                            .on(c.role())));
  }
  const typename Api::request request = build(*version);
  auto answer = co_await (*conn)->template send<Api>(request, std::move(keepalive), version);
  if (!answer) {
    error failed = std::move(answer.error());
    failed.call = Api::name;
    co_return reply(std::unexpected(std::move(failed).on(c.role())));
  }
  co_return std::move(*answer);
}

// The same for a request whose shape does not depend on the version.
template <class Api>
asio::awaitable<result<response<typename Api::response>>> send(
    cluster& c, target to, const typename Api::request& request) {
  co_return co_await send<Api>(c, to, Api::request::min_version, Api::request::max_version,
                               [&](int16_t) { return request; });
}

// Runs `attempt()` (a coroutine returning result<T>) until it succeeds, the
// error table calls its error fatal, or `options.attempts` are used up. Before
// trying again after refresh_metadata, the cluster's brokers and `topics`
// (none: brokers only) are read again.
template <class Attempt>
auto with_retries(cluster& c, const call_options& options, Attempt attempt,
                  std::vector<std::string> topics = {}) -> decltype(attempt()) {
  for (int n = 1;; ++n) {
    auto outcome = co_await attempt();
    if (outcome || n >= options.attempts) co_return outcome;
    const auto action = outcome.error().action();
    if (action == error_action::refresh_metadata) {
      co_await c.refresh_metadata(topics);
    } else if (action != error_action::retry) {
      co_return outcome;
    }
    co_await sleep_for(options.backoff * n);
  }
}

}  // namespace klink::kafka::client
