// kafka_probe: klink's own Kafka client (klink_kafka) against a real cluster,
// with the security options given on the command line. It opens a connection
// (TCP, TLS, ApiVersions, SASL), asks for Metadata, and prints one line per
// attempt:
//   ok round=<n> connection=<k> brokers=<b> cluster_id=<id> session_expiry_ms=<ms|none>
//   error round=<n> code=<client_errc> message=<text>
// With --duration-ms it keeps asking every --interval-ms, so that a session
// lifetime (KIP-368) can be watched: <k> counts the distinct connections used.
// Exit status: 0 ok, 1 network/timeout/other, 2 tls, 3 authentication.
// A test tool, not part of the daemon; single-threaded (one io_context).
#include <CLI/CLI.hpp>

#include <chrono>
#include <iostream>
#include <map>
#include <string>

#include "kafka/asio.h"
#include "kafka/cluster.h"
#include "kafka/security.h"

namespace {

using namespace klink;
using namespace klink::kafka;

int exit_status(client_errc code) {
  switch (code) {
    case client_errc::tls:
      return 2;
    case client_errc::authentication:
      return 3;
    default:
      return 1;
  }
}

struct probe_options {
  std::string bootstrap;
  connection_options connection;
  int duration_ms = 0;
  int interval_ms = 500;
};

asio::awaitable<int> probe(probe_options options) {
  auto executor = co_await asio::this_coro::executor;
  auto address = parse_broker_address(options.bootstrap);
  if (!address) {
    std::cout << "error round=0 code=usage message=bad --bootstrap " << options.bootstrap
              << std::endl;
    co_return 1;
  }
  cluster kafka(executor, "probe", {*address}, options.connection);
  // Held, not just their addresses: a closed connection's memory may be
  // reused by the next one, which would then look like the same connection.
  std::map<std::shared_ptr<connection>, int> seen;
  int status = 0;
  const auto until =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(options.duration_ms);
  for (int round = 1;; ++round) {
    auto refreshed = co_await kafka.refresh_metadata({}, true);
    if (refreshed) {
      auto conn = co_await kafka.any_connection();
      if (!conn) {
        refreshed = std::unexpected(conn.error());
      } else {
        const int ordinal = seen.emplace(*conn, static_cast<int>(seen.size()) + 1).first->second;
        std::string expiry = "none";
        if (auto at = (*conn)->session_expiry()) {
          expiry = std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      *at - std::chrono::steady_clock::now())
                                      .count());
        }
        std::cout << "ok round=" << round << " connection=" << ordinal
                  << " brokers=" << kafka.metadata().brokers.size()
                  << " cluster_id=" << kafka.metadata().cluster_id
                  << " session_expiry_ms=" << expiry << std::endl;
      }
    }
    if (!refreshed) {
      std::cout << "error round=" << round << " code=" << refreshed.error().code_name()
                << " message=" << refreshed.error().message() << std::endl;
      // The cluster fails only with client codes (kafka/client_error.h).
      status = exit_status(static_cast<kafka::client_errc>(refreshed.error().code.value()));
    }
    if (std::chrono::steady_clock::now() >= until) break;
    asio::steady_timer wait(executor, std::chrono::milliseconds(options.interval_ms));
    co_await wait.async_wait(asio::use_awaitable);
  }
  kafka.close();
  co_return status;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kafka_probe: connect klink's Kafka client to a cluster and ask for metadata"};
  probe_options options;
  auto& tls = options.connection.security.tls;
  auto& sasl = options.connection.security.sasl;
  std::string mechanism;
  bool no_verify_hostname = false;
  int timeout_ms = 10000;
  app.add_option("--bootstrap", options.bootstrap, "host:port")->required();
  app.add_flag("--tls", tls.enabled, "use TLS");
  app.add_option("--ca-file", tls.ca_file, "PEM CA certificates (default: the system's)");
  app.add_option("--cert-file", tls.cert_file, "PEM client certificate (mTLS)");
  app.add_option("--key-file", tls.key_file, "PEM private key of --cert-file");
  app.add_flag("--no-verify-hostname", no_verify_hostname, "do not check the broker's name");
  app.add_option("--sasl-mechanism", mechanism, "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
      ->check(CLI::IsMember({"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}));
  app.add_option("--username", sasl.username, "SASL user");
  app.add_option("--password-file", sasl.password_file, "file holding the SASL password");
  app.add_option("--password-env", sasl.password_env, "environment variable with the password");
  app.add_option("--timeout-ms", timeout_ms, "connect and request timeout");
  app.add_option("--duration-ms", options.duration_ms, "keep asking for this long");
  app.add_option("--interval-ms", options.interval_ms, "between two rounds");
  CLI11_PARSE(app, argc, argv);

  tls.verify_hostname = !no_verify_hostname;
  if (mechanism == "PLAIN") sasl.mechanism = sasl_mechanism::plain;
  if (mechanism == "SCRAM-SHA-256") sasl.mechanism = sasl_mechanism::scram_sha_256;
  if (mechanism == "SCRAM-SHA-512") sasl.mechanism = sasl_mechanism::scram_sha_512;
  options.connection.client_id = "kafka_probe";
  options.connection.connect_timeout = std::chrono::milliseconds(timeout_ms);
  options.connection.request_timeout = std::chrono::milliseconds(timeout_ms);

  asio::io_context io;
  int status = 1;
  asio::co_spawn(io, probe(options), [&](std::exception_ptr e, int result) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& error) {
        std::cout << "error round=0 code=exception message=" << error.what() << std::endl;
      }
      return;
    }
    status = result;
  });
  io.run();
  return status;
}
