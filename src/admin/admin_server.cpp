#include "admin/admin_server.h"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <iterator>
#include <stdexcept>

#include "log/log.h"

namespace klink::admin {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// An idle or trickling client cannot hold a connection longer than this.
constexpr std::chrono::seconds io_timeout{30};

tcp::endpoint resolve_listen(asio::any_io_executor executor, const config::admin_config& cfg) {
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(cfg.host, ec);
  if (!ec) return {address, cfg.port};
  // A host name ("localhost"): resolved once at start-up, the only time this blocks.
  tcp::resolver resolver(executor);
  auto results = resolver.resolve(cfg.host, std::to_string(cfg.port), ec);
  if (ec || results.empty()) {
    throw std::runtime_error("admin.listen: cannot resolve " + cfg.host + ": " + ec.message());
  }
  return results.begin()->endpoint();
}

// HTTPS settings from [admin.tls]; a bad file fails start-up with its name.
std::optional<asio::ssl::context> make_tls_context(const config::admin_config& cfg) {
  if (!cfg.tls) return std::nullopt;
  asio::ssl::context ctx(asio::ssl::context::tls_server);
  ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                  asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                  asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
  auto load = [](const std::string& what, const std::string& file, auto&& action,
                 const std::string& hint = "") {
    boost::system::error_code ec;
    action(ec);
    if (ec) {
      throw std::runtime_error("admin.tls." + what + ": cannot use " + file + ": " + ec.message() +
                               hint);
    }
  };
  load("cert_file", cfg.tls->cert_file,
       [&](auto& ec) { ctx.use_certificate_chain_file(cfg.tls->cert_file, ec); });
  load(
      "key_file", cfg.tls->key_file,
      [&](auto& ec) { ctx.use_private_key_file(cfg.tls->key_file, asio::ssl::context::pem, ec); },
      "; it must be the PEM private key of " + cfg.tls->cert_file);
  if (!cfg.tls->client_ca_file.empty()) {
    load("client_ca_file", cfg.tls->client_ca_file,
         [&](auto& ec) { ctx.load_verify_file(cfg.tls->client_ca_file, ec); });
    ctx.set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
  }
  return ctx;
}

token_set load_tokens(const config::admin_config& cfg) {
  if (cfg.tokens_file.empty()) return {};
  return token_set::load(cfg.tokens_file);
}

bool is_parse_error(const boost::system::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_method).category();
}

template <class Stream>
asio::awaitable<void> serve(Stream& stream, admin_api& api) {
  beast::flat_buffer buffer;
  boost::system::error_code ec;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(max_body_bytes);
    parser.header_limit(max_header_bytes);
    beast::get_lowest_layer(stream).expires_after(io_timeout);
    co_await http::async_read(stream, buffer, parser,
                              asio::redirect_error(asio::use_awaitable, ec));

    http_reply reply;
    bool keep_alive = false;
    unsigned version = 11;
    if (ec == http::error::end_of_stream) break;
    if (ec == http::error::body_limit) {
      reply =
          error_reply(413, "PAYLOAD_TOO_LARGE",
                      "request bodies are limited to " + std::to_string(max_body_bytes) + " bytes");
    } else if (ec == http::error::header_limit) {
      reply = error_reply(
          431, "HEADERS_TOO_LARGE",
          "request headers are limited to " + std::to_string(max_header_bytes) + " bytes");
    } else if (ec && is_parse_error(ec)) {
      reply = error_reply(400, "BAD_REQUEST", "malformed HTTP request: " + ec.message());
    } else if (ec) {
      break;  // timeout, reset: nobody to answer
    } else {
      const auto& req = parser.get();
      version = req.version();
      keep_alive = req.keep_alive();
      if (static_cast<std::size_t>(std::distance(req.begin(), req.end())) > max_header_fields) {
        reply = error_reply(431, "HEADERS_TOO_LARGE",
                            "at most " + std::to_string(max_header_fields) + " header fields");
        keep_alive = false;
      } else {
        const auto authorization = req[http::field::authorization];
        reply = co_await api.handle(http_request{
            .method = std::string_view(req.method_string().data(), req.method_string().size()),
            .target = std::string_view(req.target().data(), req.target().size()),
            .body = req.body(),
            .authorization = std::string_view(authorization.data(), authorization.size())});
      }
    }

    http::response<http::string_body> res{static_cast<http::status>(reply.status), version};
    res.set(http::field::server, "klink");
    res.set(http::field::content_type, reply.content_type);
    if (reply.www_authenticate) res.set(http::field::www_authenticate, "Bearer realm=\"klink\"");
    if (!reply.allow.empty()) res.set(http::field::allow, reply.allow);
    res.keep_alive(keep_alive);
    res.body() = std::move(reply.body);
    res.prepare_payload();
    // A promotion may have taken longer than the read timeout set above.
    beast::get_lowest_layer(stream).expires_after(io_timeout);
    co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !keep_alive) break;
  }
}

}  // namespace

admin_server::admin_server(asio::any_io_executor executor, const config::admin_config& cfg,
                           const std::vector<std::unique_ptr<linker::link>>& links)
    : executor_(executor),
      acceptor_(executor),
      api_(links, load_tokens(cfg)),
      tls_context_(make_tls_context(cfg)) {
  const auto endpoint = resolve_listen(executor, cfg);
  boost::system::error_code ec;
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error("admin endpoint cannot listen on " + cfg.host + ":" +
                             std::to_string(cfg.port) + ": " + ec.message());
  }
  port_ = acceptor_.local_endpoint().port();
}

admin_server::~admin_server() = default;

void admin_server::start() {
  asio::co_spawn(executor_, accept_loop(), asio::detached);
}

void admin_server::stop() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
}

asio::awaitable<void> admin_server::accept_loop() {
  while (acceptor_.is_open()) {
    boost::system::error_code ec;
    tcp::socket socket =
        co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
      // Out of descriptors and the like: back off instead of spinning.
      log::warn("admin endpoint: accept failed", {{"error", ec.message()}});
      asio::steady_timer timer(executor_, std::chrono::milliseconds(100));
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    asio::co_spawn(executor_, session(std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> admin_server::session(tcp::socket socket) {
  if (!tls_context_) {
    beast::tcp_stream stream(std::move(socket));
    co_await serve(stream, api_);
    boost::system::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    co_return;
  }
  beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), *tls_context_);
  beast::get_lowest_layer(stream).expires_after(io_timeout);
  boost::system::error_code ec;
  co_await stream.async_handshake(asio::ssl::stream_base::server,
                                  asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    // A plain-HTTP client, a missing or untrusted client certificate: the
    // TLS alert already told the client; one debug line here is enough.
    log::debug("admin endpoint: TLS handshake failed", {{"error", ec.message()}});
    co_return;
  }
  co_await serve(stream, api_);
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(5));
  co_await stream.async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
}

}  // namespace klink::admin
