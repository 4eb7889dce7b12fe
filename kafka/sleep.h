// A coroutine pause on the caller's executor.
#pragma once

#include <chrono>

#include "kafka/asio.h"

namespace klink {

// Waits `duration` without blocking the thread; returns early only if the
// executor shuts down.
inline asio::awaitable<void> sleep_for(std::chrono::steady_clock::duration duration) {
  asio::steady_timer timer(co_await asio::this_coro::executor, duration);
  boost::system::error_code ignored;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
}

}  // namespace klink
