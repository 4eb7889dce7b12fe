// The admin HTTP/1.1 server (Boost.Beast): /healthz, /readyz, /metrics and /v1.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include <boost/asio/ssl.hpp>

#include "admin/admin_api.h"
#include "config/config.h"
#include "kafka/asio.h"
#include "linker/link.h"

namespace klink::admin {

// Requests larger than these are refused before they are parsed further.
inline constexpr std::uint32_t max_body_bytes = 1024 * 1024;
inline constexpr std::uint32_t max_header_bytes = 16 * 1024;
inline constexpr std::size_t max_header_fields = 100;

// Runs on the daemon's single-threaded executor, the one every link runs on:
// handlers read link state without locks and must never block.
class admin_server {
 public:
  // Binds the listener now, so a taken port fails start-up (throws
  // std::runtime_error); loads the tokens file and, for HTTPS ([admin.tls]),
  // the certificate and key (an unusable one throws too).
  admin_server(asio::any_io_executor executor, const config::admin_config& cfg,
               const std::vector<std::unique_ptr<linker::link>>& links);
  ~admin_server();

  void start();
  void stop();
  // The bound port (the actual one when the config asked for port 0).
  std::uint16_t port() const { return port_; }
  bool https() const { return tls_context_.has_value(); }

 private:
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> session(asio::ip::tcp::socket socket);

  asio::any_io_executor executor_;
  asio::ip::tcp::acceptor acceptor_;
  admin_api api_;
  std::optional<asio::ssl::context> tls_context_;
  std::uint16_t port_ = 0;
};

}  // namespace klink::admin
