// One connection to one Kafka broker, with pipelined requests.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include <boost/asio/ssl.hpp>

#include "kafka/asio.h"
#include "kafka/error.h"
#include "kafka/messages/sasl_authenticate.h"
#include "kafka/protocol/bytes.h"
#include "kafka/protocol/frame.h"
#include "kafka/protocol/wire.h"
#include "kafka/security.h"

namespace klink::kafka {

struct broker_address {
  std::string host;
  uint16_t port = 0;
  std::string to_string() const { return host + ":" + std::to_string(port); }
  bool operator==(const broker_address&) const = default;
};

struct connection_options {
  std::string client_id = "klink";
  std::chrono::milliseconds request_timeout{30000};
  std::chrono::milliseconds connect_timeout{10000};
  // Largest response frame accepted; a bigger size prefix means a corrupt or
  // hostile stream, not a real response.
  std::size_t max_response_bytes = 512u * 1024 * 1024;
  // When set, every response frame is also written to this directory as
  // <api_key>-v<version>-<broker>-<correlation_id>.bin: a protocol trace for
  // debugging, and how the tests' real-broker fixtures were captured.
  std::string capture_dir;
  // TLS and SASL (none by default: PLAINTEXT).
  security_options security;
};

// A decoded response together with the buffer that its views (records) point into.
template <class Body>
struct response {
  std::shared_ptr<byte_vector> buffer;
  Body body;
};

// Supported version range of one API on one broker, from ApiVersions.
struct version_range {
  int16_t min = 0;
  int16_t max = -1;
};

// A TCP connection to one broker, with TLS and SASL when `options.security`
// asks for them. Requests are written in order and many may be in flight;
// responses are matched by correlation id. Opening a connection is: TCP
// connect, TLS handshake, ApiVersions, SASL (SaslHandshake v1 +
// SaslAuthenticate); PEM files and the password are read again at each open,
// so fixing them needs no restart.
// Lives on one single-threaded executor (its link's); never touched from another thread.
class connection : public std::enable_shared_from_this<connection> {
 public:
  static std::shared_ptr<connection> create(asio::any_io_executor executor, int32_t node_id,
                                            broker_address address, connection_options options);
  ~connection();

  // Connects (once; concurrent callers wait for the same attempt) and negotiates versions.
  asio::awaitable<result<void>> ensure_open();

  // The version of an API to use with this broker: the newest both sides know.
  std::optional<int16_t> version_for(int16_t api_key, int16_t our_min, int16_t our_max) const;

  template <class Api>
  std::optional<int16_t> version_for() const {
    return version_for(Api::key, Api::request::min_version, Api::request::max_version);
  }

  // Sends a request and waits for its response. `keepalive` owns bytes that
  // the request references without copying (records), until the write is done.
  // `may_write`, when set, is asked again right before the request's bytes go
  // to the socket (a request can wait behind others there): if it answers
  // false the request is not written and fails with client_errc::closed.
  // Scale-out's lease guard uses it, so that an instance frozen with requests
  // queued never writes them after it wakes.
  template <class Api>
  asio::awaitable<result<response<typename Api::response>>> send(
      const typename Api::request& request, std::shared_ptr<const void> keepalive = {},
      std::optional<int16_t> forced_version = {}, std::function<bool()> may_write = {});

  void close(const std::string& reason);
  bool is_open() const { return state_ == state::open; }
  // KIP-368: the broker ends the SASL session after the lifetime it gave in
  // SaslAuthenticate. At 85-90% of it (random, so that a cluster's connections
  // do not all renew at once) this turns true, and the cluster hands out a
  // fresh connection instead (see kafka/SECURITY.md).
  bool reauthentication_due() const;
  // No longer handed out: closes as soon as nothing is in flight.
  void retire();
  // When the SASL session ends (steady clock), if the broker set a lifetime.
  std::optional<std::chrono::steady_clock::time_point> session_expiry() const {
    return session_expiry_;
  }
  bool is_closed() const { return state_ == state::closed; }
  int32_t node_id() const { return node_id_; }
  const broker_address& address() const { return address_; }
  std::size_t in_flight() const { return pending_.size(); }

 private:
  enum class state { idle, connecting, open, closed };
  struct pending_request;
  struct raw_response {
    std::shared_ptr<byte_vector> frame;  // starts at the response header
    std::size_t body_offset = 0;
  };

  connection(asio::any_io_executor executor, int32_t node_id, broker_address address,
             connection_options options);

  asio::awaitable<result<void>> open();
  asio::awaitable<result<void>> negotiate_versions();
  asio::awaitable<result<void>> tls_handshake();
  asio::awaitable<result<void>> authenticate();
  // PLAIN, or the SCRAM rounds, after the handshake: the last answer.
  asio::awaitable<result<msg::sasl_authenticate_response>> sasl_exchange(std::string password,
                                                                         int16_t version);
  klink::error sasl_refusal(const std::string& why) const;
  asio::awaitable<result<msg::sasl_authenticate_response>> sasl_round(byte_vector auth_bytes,
                                                                      int16_t version);
  // One request/response on a connection that may still be opening (no ensure_open).
  template <class Api>
  asio::awaitable<result<response<typename Api::response>>> exchange(
      const typename Api::request& request, int16_t version, std::shared_ptr<const void> keepalive,
      std::function<bool()> may_write = {});
  asio::ip::tcp::socket& tcp_socket() { return tls_stream_ ? tls_stream_->next_layer() : socket_; }
  void fail(client_errc code, const std::string& reason);
  asio::awaitable<result<raw_response>> send_frame(int16_t api_key, int16_t api_version,
                                                   int32_t correlation_id, wire_writer frame,
                                                   std::shared_ptr<const void> keepalive,
                                                   std::function<bool()> may_write = {});
  void start_writer();
  asio::awaitable<void> write_loop();
  asio::awaitable<void> read_loop();
  // Reads exactly the buffer's size from the socket (through TLS if set up).
  asio::awaitable<boost::system::error_code> read_exactly(asio::mutable_buffer buffer);
  // The connection broke while reading: fails everything pending.
  void lost(const boost::system::error_code& ec);
  void fail_all(const klink::error& failure);
  void capture(int16_t api_key, int16_t api_version, const byte_vector& frame) const;
  int32_t next_correlation_id() { return correlation_id_++; }

  asio::any_io_executor executor_;
  int32_t node_id_;
  broker_address address_;
  connection_options options_;
  // Plaintext: I/O goes to socket_. TLS: tls_stream_ owns its own socket,
  // built at open() from a context made for this connection (so that PEM
  // files are read again at each reconnect).
  asio::ip::tcp::socket socket_;
  std::unique_ptr<asio::ssl::context> tls_context_;
  std::optional<asio::ssl::stream<asio::ip::tcp::socket>> tls_stream_;
  byte_vector tls_write_buffer_;
  std::optional<std::chrono::steady_clock::time_point> reauth_due_;
  std::optional<std::chrono::steady_clock::time_point> session_expiry_;
  bool retiring_ = false;
  state state_ = state::idle;
  std::string close_reason_;
  asio::steady_timer connected_signal_;
  result<void> open_result_;
  int32_t correlation_id_ = 1;
  std::unordered_map<int16_t, version_range> versions_;
  std::unordered_map<int32_t, std::shared_ptr<pending_request>> pending_;
  std::deque<std::shared_ptr<pending_request>> write_queue_;
  bool writing_ = false;
};

// --- implementation of the template -------------------------------------------------

struct connection::pending_request {
  explicit pending_request(asio::any_io_executor ex) : done(ex) {}
  int16_t api_key = 0;
  int16_t api_version = 0;
  int32_t correlation_id = 0;
  wire_writer frame;
  std::shared_ptr<const void> keepalive;
  std::function<bool()> may_write;  // asked right before the write; false: not written
  asio::steady_timer done;          // cancelled when `outcome` is set
  std::optional<klink::result<raw_response>> outcome;
};

template <class Api>
asio::awaitable<result<response<typename Api::response>>> connection::send(
    const typename Api::request& request, std::shared_ptr<const void> keepalive,
    std::optional<int16_t> forced_version, std::function<bool()> may_write) {
  if (auto opened = co_await ensure_open(); !opened) co_return std::unexpected(opened.error());
  auto version = forced_version ? forced_version : version_for<Api>();
  if (!version) {
    co_return std::unexpected(klink::error(client_errc::unsupported_version, {},
                                           "broker " + address_.to_string() +
                                               " supports no version of API " +
                                               std::to_string(Api::key) + " that klink speaks"));
  }
  co_return co_await exchange<Api>(request, *version, std::move(keepalive), std::move(may_write));
}

template <class Api>
asio::awaitable<result<response<typename Api::response>>> connection::exchange(
    const typename Api::request& request, int16_t version, std::shared_ptr<const void> keepalive,
    std::function<bool()> may_write) {
  using result_type = result<response<typename Api::response>>;
  const int32_t correlation_id = next_correlation_id();
  wire_writer frame;
  encode_request_frame(frame, request, version, correlation_id, options_.client_id);
  auto raw = co_await send_frame(Api::key, version, correlation_id, std::move(frame),
                                 std::move(keepalive), std::move(may_write));
  if (!raw) co_return std::unexpected(raw.error());
  bytes_view body(raw->frame->data() + raw->body_offset, raw->frame->size() - raw->body_offset);
  auto decoded = decode_response_body<typename Api::response>(body, version);
  if (!decoded) {
    co_return std::unexpected(klink::error(
        client_errc::decode, {},
        "cannot decode response of API " + std::to_string(Api::key) + " v" +
            std::to_string(version) + " from " + address_.to_string() + ": " +
            decoded.error().what + " at byte " + std::to_string(decoded.error().offset)));
  }
  co_return result_type(response<typename Api::response>{raw->frame, std::move(*decoded)});
}

}  // namespace klink::kafka
