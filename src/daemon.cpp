#include "daemon.h"

#include <csignal>
#include <exception>

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

// The process's signals, on the daemon's one thread: SIGINT/SIGTERM drain
// the links and stop (a second one stops at once); SIGHUP re-reads the
// config file, one reload at a time (a signal arriving during one runs
// another right after it, with the file as it is then).
class signal_handling {
 public:
  signal_handling(asio::io_context& io, link_registry& links, config::config running)
      : io_(io),
        links_(links),
        running_(std::move(running)),
        stops_(io, SIGINT, SIGTERM),
        hangups_(io, SIGHUP) {}

  void start() {
    stops_.async_wait([this](const auto& ec, int signal) { on_stop(ec, signal); });
    hangups_.async_wait([this](const auto& ec, int) { on_hangup(ec); });
  }

 private:
  void on_stop(const boost::system::error_code& ec, int signal_number) {
    if (ec) return;
    if (shutting_down_) {
      // A second signal skips the drain: exit now, unacknowledged batches
      // are fetched again after a restart.
      log::warn("second signal: stopping without waiting for in-flight batches",
                {{"signal", signal_number}});
      io_.stop();
      return;
    }
    shutting_down_ = true;
    log::info("shutting down: draining in-flight batches (send the signal again to skip)",
              {{"signal", signal_number}});
    stops_.async_wait([this](const auto& e, int signal) { on_stop(e, signal); });
    asio::co_spawn(io_, drain_and_stop(), asio::detached);
  }

  asio::awaitable<void> drain_and_stop() {
    co_await links_.shutdown(drain_deadline);
    log::info("klink stopped");
    io_.stop();
  }

  void on_hangup(const boost::system::error_code& ec) {
    if (ec) return;
    hangups_.async_wait([this](const auto& e, int) { on_hangup(e); });
    if (shutting_down_) return;
    if (reloading_) {
      reload_again_ = true;
      return;
    }
    reloading_ = true;
    asio::co_spawn(io_, reload(), asio::detached);
  }

  asio::awaitable<void> reload() {
    do {
      reload_again_ = false;
      log::info("SIGHUP: reloading the config", {{"config", running_.source_file}});
      config::config next;
      try {
        next = config::load_config(running_.source_file);
      } catch (const std::exception& e) {
        log::error("reloaded config rejected; klink keeps running with the previous one",
                   {{"config", running_.source_file}, {"error", e.what()}});
        continue;
      }
      if (shutting_down_) break;
      warn_about_restart_only_changes(running_, next);
      log::init(next.log);
      next.admin = running_.admin;
      running_ = next;
      co_await links_.apply(std::move(next), drain_deadline);
    } while (reload_again_ && !shutting_down_);
    reloading_ = false;
  }

  asio::io_context& io_;
  link_registry& links_;
  config::config running_;
  asio::signal_set stops_;
  asio::signal_set hangups_;
  bool shutting_down_ = false;
  bool reloading_ = false;
  bool reload_again_ = false;
};

}  // namespace

int run_daemon(const config::config& cfg) {
  // One thread runs every link: the data path never blocks, and a single
  // executor means no locks on partition state.
  asio::io_context io(1);
  link_registry links(io.get_executor(), cfg);
  // Listens before the links start, so a taken port fails start-up at once.
  admin::admin_server admin(io.get_executor(), cfg.admin, links.links());
  signal_handling signals(io, links, cfg);
  signals.start();

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
