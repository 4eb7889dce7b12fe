#include "daemon.h"

#include <csignal>
#include <functional>

#include "admin/admin_server.h"
#include "kafka/asio.h"
#include "link_registry.h"
#include "log/log.h"

namespace klink {

namespace {

// How long phase one of shutdown may take before unacknowledged batches are
// abandoned (they are fetched again after a restart).
constexpr std::chrono::seconds drain_deadline{30};

// What a reload cannot change while running.
void warn_about_restart_only_changes(const config::config& before, const config::config& after) {
  const auto& a = before.admin;
  const auto& b = after.admin;
  const bool tls_changed =
      a.tls.has_value() != b.tls.has_value() ||
      (a.tls && (a.tls->cert_file != b.tls->cert_file || a.tls->key_file != b.tls->key_file ||
                 a.tls->client_ca_file != b.tls->client_ca_file));
  if (a.host != b.host || a.port != b.port || a.tokens_file != b.tokens_file || tls_changed) {
    log::warn("the [admin] section changed; it takes effect at the next restart",
              {{"config", after.source_file}});
  }
}

}  // namespace

int run_daemon(const config::config& cfg) {
  // One thread runs every link: the data path never blocks, and a single
  // executor means no locks on partition state.
  asio::io_context io(1);
  link_registry links(io.get_executor(), cfg);
  // Listens before the links start, so a taken port fails start-up at once.
  admin::admin_server admin(io.get_executor(), cfg.admin, links.links());
  config::config running = cfg;

  asio::signal_set signals(io, SIGINT, SIGTERM);
  bool shutting_down = false;
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int signal_number) {
        if (ec) return;
        if (shutting_down) {
          // A second signal skips the drain: exit now, unacknowledged batches
          // are fetched again after a restart.
          log::warn("second signal: stopping without waiting for in-flight batches",
                    {{"signal", signal_number}});
          io.stop();
          return;
        }
        shutting_down = true;
        log::info("shutting down: draining in-flight batches (send the signal again to skip)",
                  {{"signal", signal_number}});
        signals.async_wait(on_signal);
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
              co_await links.shutdown(drain_deadline);
              log::info("klink stopped");
              io.stop();
            },
            asio::detached);
      };
  signals.async_wait(on_signal);

  // SIGHUP re-reads the config file. One reload at a time; a signal arriving
  // during one runs another right after it, with the file as it is then.
  asio::signal_set hangups(io, SIGHUP);
  bool reloading = false;
  bool reload_again = false;
  std::function<asio::awaitable<void>()> reload = [&]() -> asio::awaitable<void> {
    do {
      reload_again = false;
      log::info("SIGHUP: reloading the config", {{"config", running.source_file}});
      config::config next;
      try {
        next = config::load_config(running.source_file);
      } catch (const std::exception& e) {
        log::error("reloaded config rejected; klink keeps running with the previous one",
                   {{"config", running.source_file}, {"error", e.what()}});
        continue;
      }
      if (shutting_down) break;
      warn_about_restart_only_changes(running, next);
      log::init(next.log);
      next.admin = running.admin;
      running = next;
      co_await links.apply(std::move(next), drain_deadline);
    } while (reload_again && !shutting_down);
    reloading = false;
  };
  std::function<void(const boost::system::error_code&, int)> on_hangup =
      [&](const boost::system::error_code& ec, int) {
        if (ec) return;
        hangups.async_wait(on_hangup);
        if (shutting_down) return;
        if (reloading) {
          reload_again = true;
          return;
        }
        reloading = true;
        asio::co_spawn(io, reload(), asio::detached);
      };
  hangups.async_wait(on_hangup);

  links.start_all();
  admin.start();
  log::info("admin endpoint listening",
            {{"host", cfg.admin.host},
             {"port", admin.port()},
             {"scheme", admin.https() ? "https" : "http"},
             {"client_certificates", cfg.admin.tls && !cfg.admin.tls->client_ca_file.empty()},
             {"auth", cfg.admin.tokens_file.empty() ? "none" : "bearer tokens"}});
  log::info("klink running", {{"links", cfg.links.size()}, {"config", cfg.source_file}});
  io.run();
  return 0;
}

}  // namespace klink
