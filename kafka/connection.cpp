#include "kafka/connection.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstring>
#include <fstream>
#include <random>

#include "kafka/error_code.h"
#include "kafka/messages/api_versions.h"
#include "kafka/tls_context.h"

namespace klink::kafka {

namespace {
using asio::use_awaitable;
using io_error = boost::system::error_code;

int32_t read_int32_be(const std::byte* p) {
  return static_cast<int32_t>(
      (std::to_integer<uint32_t>(p[0]) << 24) | (std::to_integer<uint32_t>(p[1]) << 16) |
      (std::to_integer<uint32_t>(p[2]) << 8) | std::to_integer<uint32_t>(p[3]));
}

}  // namespace

std::shared_ptr<connection> connection::create(asio::any_io_executor executor, int32_t node_id,
                                               broker_address address, connection_options options) {
  return std::shared_ptr<connection>(
      new connection(std::move(executor), node_id, std::move(address), std::move(options)));
}

connection::connection(asio::any_io_executor executor, int32_t node_id, broker_address address,
                       connection_options options)
    : executor_(executor),
      node_id_(node_id),
      address_(std::move(address)),
      options_(std::move(options)),
      socket_(executor),
      connected_signal_(executor) {}

connection::~connection() {
  io_error ignored;
  tcp_socket().close(ignored);
}

asio::awaitable<result<void>> connection::ensure_open() {
  switch (state_) {
    case state::open:
      co_return result<void>{};
    case state::closed:
      co_return std::unexpected(klink::error(client_errc::closed, {}, close_reason_));
    case state::connecting: {
      // Another coroutine is connecting: wait for its outcome.
      auto self = shared_from_this();
      io_error ec;
      co_await connected_signal_.async_wait(asio::redirect_error(use_awaitable, ec));
      co_return open_result_;
    }
    case state::idle:
      break;
  }
  auto self = shared_from_this();
  state_ = state::connecting;
  connected_signal_.expires_at(asio::steady_timer::time_point::max());
  open_result_ = co_await open();
  if (open_result_) {
    state_ = state::open;
  } else {
    close(open_result_.error().message());
  }
  connected_signal_.cancel();
  co_return open_result_;
}

asio::awaitable<result<void>> connection::open() {
  auto self = shared_from_this();
  io_error ec;
  if (options_.security.tls.enabled) {
    auto context = make_tls_context(options_.security.tls);
    if (!context) {
      co_return std::unexpected(
          klink::error(client_errc::tls, {},
                       "TLS to " + address_.to_string() + ": " + context.error().message()));
    }
    tls_context_ = std::move(*context);
    tls_stream_.emplace(executor_, *tls_context_);
  }
  asio::ip::tcp::resolver resolver(executor_);
  auto endpoints = co_await resolver.async_resolve(address_.host, std::to_string(address_.port),
                                                   asio::redirect_error(use_awaitable, ec));
  if (ec) {
    co_return std::unexpected(klink::error(
        client_errc::network, {}, "cannot resolve " + address_.to_string() + ": " + ec.message()));
  }
  // Bound the connect and the TLS handshake: a black-holed address or a
  // listener that never answers the ClientHello must not hang the caller.
  // The flags are shared with the timer's handler, which may run after this
  // coroutine has moved on.
  struct deadline_state {
    bool timed_out = false;
    bool done = false;
  };
  auto timing = std::make_shared<deadline_state>();
  asio::steady_timer deadline(executor_, options_.connect_timeout);
  deadline.async_wait([this, self, timing](io_error wait_ec) {
    if (!wait_ec && !timing->done && state_ == state::connecting) {
      timing->timed_out = true;
      io_error ignored;
      tcp_socket().cancel(ignored);
    }
  });
  co_await asio::async_connect(tcp_socket(), endpoints, asio::redirect_error(use_awaitable, ec));
  if (ec) {
    timing->done = true;
    deadline.cancel();
    co_return std::unexpected(
        klink::error(client_errc::network, {},
                     "cannot connect to " + address_.to_string() + ": " +
                         (timing->timed_out ? std::string("timed out") : ec.message())));
  }
  tcp_socket().set_option(asio::ip::tcp::no_delay(true), ec);
  if (tls_stream_) {
    auto handshake = co_await tls_handshake();
    timing->done = true;
    deadline.cancel();
    if (!handshake) {
      if (timing->timed_out) {
        co_return std::unexpected(klink::error(
            client_errc::tls, {},
            "TLS handshake with " + address_.to_string() + " timed out after " +
                std::to_string(options_.connect_timeout.count()) + " ms (is it a TLS listener?)"));
      }
      co_return handshake;
    }
  }
  timing->done = true;
  deadline.cancel();
  // The read loop must run before the first request so responses are seen.
  asio::co_spawn(executor_, read_loop(), asio::detached);
  if (auto negotiated = co_await negotiate_versions(); !negotiated) co_return negotiated;
  // KIP-152: with SaslHandshake v1 the SASL exchange comes after ApiVersions
  // and before any other request.
  if (options_.security.sasl.mechanism != sasl_mechanism::none) co_return co_await authenticate();
  co_return result<void>{};
}

void connection::retire() {
  retiring_ = true;
  if (pending_.empty() && write_queue_.empty() && state_ != state::connecting) {
    close("connection retired before its SASL session expires");
  }
}

asio::awaitable<result<void>> connection::negotiate_versions() {
  using api = msg::api_versions_api;
  // The newest ApiVersions first; a broker that does not know it answers in
  // v0 format with UNSUPPORTED_VERSION, and then v0 is asked for.
  for (int16_t version : {api::request::max_version, int16_t{0}}) {
    msg::api_versions_request request;
    request.client_software_name = "klink";
    request.client_software_version = "0.1.0";
    const int32_t correlation_id = next_correlation_id();
    wire_writer frame;
    encode_request_frame(frame, request, version, correlation_id, options_.client_id);
    auto raw = co_await send_frame(api::key, version, correlation_id, std::move(frame), {});
    if (!raw) co_return std::unexpected(raw.error());
    bytes_view body(raw->frame->data() + raw->body_offset, raw->frame->size() - raw->body_offset);
    // Every version starts with the error code, so it can be read before
    // knowing which format the broker chose.
    if (body.size() < 2) {
      co_return std::unexpected(klink::error(
          client_errc::decode, {}, "empty ApiVersions response from " + address_.to_string()));
    }
    const auto top_error = static_cast<int16_t>((std::to_integer<uint16_t>(body[0]) << 8) |
                                                std::to_integer<uint16_t>(body[1]));
    if (top_error == static_cast<int16_t>(error_code::unsupported_version) && version != 0) {
      continue;
    }
    auto parsed = decode_response_body<api::response>(body, version);
    if (!parsed) {
      co_return std::unexpected(klink::error(
          client_errc::decode, {},
          "cannot decode ApiVersions from " + address_.to_string() + ": " + parsed.error().what));
    }
    if (parsed->error_code != 0) {
      co_return std::unexpected(
          klink::error(client_errc::network, {},
                       "ApiVersions refused by " + address_.to_string() + ": " +
                           std::string(error_name(to_error_code(parsed->error_code)))));
    }
    versions_.clear();
    for (const auto& key : parsed->api_keys) {
      versions_[key.api_key] = version_range{key.min_version, key.max_version};
    }
    co_return result<void>{};
  }
  co_return std::unexpected(
      klink::error(client_errc::unsupported_version, {},
                   "broker " + address_.to_string() + " accepts no ApiVersions version"));
}

std::optional<int16_t> connection::version_for(int16_t api_key, int16_t our_min,
                                               int16_t our_max) const {
  auto it = versions_.find(api_key);
  if (it == versions_.end()) return std::nullopt;
  const int16_t high = std::min(our_max, it->second.max);
  const int16_t low = std::max(our_min, it->second.min);
  if (high < low) return std::nullopt;
  return high;
}

asio::awaitable<result<connection::raw_response>> connection::send_frame(
    int16_t api_key, int16_t api_version, int32_t correlation_id, wire_writer frame,
    std::shared_ptr<const void> keepalive, std::function<bool()> may_write) {
  auto self = shared_from_this();
  if (state_ == state::closed) {
    co_return std::unexpected(klink::error(client_errc::closed, {}, close_reason_));
  }
  auto request = std::make_shared<pending_request>(executor_);
  request->api_key = api_key;
  request->api_version = api_version;
  request->correlation_id = correlation_id;
  request->frame = std::move(frame);
  request->keepalive = std::move(keepalive);
  request->may_write = std::move(may_write);
  request->done.expires_after(options_.request_timeout);
  pending_.emplace(correlation_id, request);
  write_queue_.push_back(request);
  start_writer();

  io_error ec;
  co_await request->done.async_wait(asio::redirect_error(use_awaitable, ec));
  if (!request->outcome) {
    // Kafka answers in order on a connection; once one response is overdue the
    // connection can no longer be trusted to line up, so it is dropped.
    close("request timed out after " + std::to_string(options_.request_timeout.count()) + " ms");
    co_return std::unexpected(klink::error(
        client_errc::timeout, {},
        "no response from " + address_.to_string() + " to API " + std::to_string(api_key) +
            " within " + std::to_string(options_.request_timeout.count()) + " ms"));
  }
  co_return std::move(*request->outcome);
}

void connection::start_writer() {
  if (writing_ || write_queue_.empty()) return;
  writing_ = true;
  asio::co_spawn(executor_, write_loop(), asio::detached);
}

asio::awaitable<void> connection::write_loop() {
  auto self = shared_from_this();
  std::vector<asio::const_buffer> buffers;
  while (!write_queue_.empty() && state_ != state::closed) {
    auto request = std::move(write_queue_.front());
    write_queue_.pop_front();
    if (request->may_write && !request->may_write()) {
      // Withdrawn by the sender while it waited: the broker never sees it.
      pending_.erase(request->correlation_id);
      request->outcome = std::unexpected(
          klink::error(client_errc::closed, {}, "not written: the sender withdrew the request"));
      request->done.cancel();
      continue;
    }
    io_error ec;
    if (tls_stream_) {
      // Asio's TLS stream encrypts one buffer of a sequence per write: a
      // gathered frame would go out as one small TLS record per segment.
      // One contiguous copy is cheap next to the encryption.
      tls_write_buffer_.clear();
      for (bytes_view segment : request->frame.segments()) {
        tls_write_buffer_.insert(tls_write_buffer_.end(), segment.begin(), segment.end());
      }
      co_await asio::async_write(*tls_stream_, asio::buffer(tls_write_buffer_),
                                 asio::redirect_error(use_awaitable, ec));
    } else {
      buffers.clear();
      for (bytes_view segment : request->frame.segments()) {
        buffers.emplace_back(segment.data(), segment.size());
      }
      co_await asio::async_write(socket_, buffers, asio::redirect_error(use_awaitable, ec));
    }
    if (ec) {
      fail(is_tls_error(ec) ? client_errc::tls : client_errc::network,
           "write to " + address_.to_string() + " failed: " + ec.message());
      break;
    }
  }
  writing_ = false;
}

asio::awaitable<boost::system::error_code> connection::read_exactly(asio::mutable_buffer buffer) {
  io_error ec;
  if (tls_stream_) {
    co_await asio::async_read(*tls_stream_, buffer, asio::redirect_error(use_awaitable, ec));
  } else {
    co_await asio::async_read(socket_, buffer, asio::redirect_error(use_awaitable, ec));
  }
  co_return ec;
}

void connection::lost(const boost::system::error_code& ec) {
  // A TLS alert here (TLS 1.3 sends "certificate required" after the
  // handshake) is a TLS failure, not a network one.
  fail(is_tls_error(ec) && ec != asio::ssl::error::stream_truncated ? client_errc::tls
                                                                    : client_errc::network,
       "connection to " + address_.to_string() + " lost: " + ec.message());
}

asio::awaitable<void> connection::read_loop() {
  auto self = shared_from_this();
  std::array<std::byte, 4> size_bytes{};
  while (state_ != state::closed) {
    if (auto ec = co_await read_exactly(asio::buffer(size_bytes)); ec) {
      lost(ec);
      co_return;
    }
    const int32_t size = read_int32_be(size_bytes.data());
    if (size < 4 || static_cast<std::size_t>(size) > options_.max_response_bytes) {
      close("broker " + address_.to_string() + " sent an invalid frame size " +
            std::to_string(size));
      co_return;
    }
    auto frame = std::make_shared<byte_vector>(static_cast<std::size_t>(size));
    if (auto ec = co_await read_exactly(asio::buffer(*frame)); ec) {
      lost(ec);
      co_return;
    }
    const int32_t correlation_id = read_int32_be(frame->data());
    auto it = pending_.find(correlation_id);
    if (it == pending_.end()) {
      close("broker " + address_.to_string() + " answered unknown correlation id " +
            std::to_string(correlation_id));
      co_return;
    }
    auto request = it->second;
    pending_.erase(it);
    if (!options_.capture_dir.empty()) capture(request->api_key, request->api_version, *frame);
    // Header v1 adds a tagged-field section after the correlation id.
    std::size_t body_offset = 4;
    if (response_header_version(request->api_key, request->api_version) >= 1) {
      wire_reader reader(bytes_view(frame->data() + 4, frame->size() - 4));
      std::vector<tagged_field> ignored;
      reader.read_tagged_fields(ignored);
      if (!reader.ok()) {
        close("broker " + address_.to_string() + " sent a malformed response header");
        co_return;
      }
      body_offset += reader.offset();
    }
    request->outcome = raw_response{std::move(frame), body_offset};
    request->done.cancel();
    if (retiring_ && pending_.empty() && write_queue_.empty()) {
      close("connection retired before its SASL session expires");
      co_return;
    }
  }
}

void connection::capture(int16_t api_key, int16_t api_version, const byte_vector& frame) const {
  const std::string path = options_.capture_dir + "/" + std::to_string(api_key) + "-v" +
                           std::to_string(api_version) + "-" + std::to_string(node_id_) + "-" +
                           std::to_string(read_int32_be(frame.data())) + ".bin";
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(frame.data()),
            static_cast<std::streamsize>(frame.size()));
}

void connection::fail_all(const klink::error& failure) {
  auto pending = std::move(pending_);
  pending_.clear();
  write_queue_.clear();
  for (auto& [id, request] : pending) {
    if (!request->outcome) {
      request->outcome = std::unexpected(failure);
      request->done.cancel();
    }
  }
}

void connection::close(const std::string& reason) {
  fail(client_errc::network, reason);
}

void connection::fail(client_errc code, const std::string& reason) {
  if (state_ == state::closed) return;
  state_ = state::closed;
  close_reason_ = reason;
  io_error ignored;
  // No TLS close_notify: Kafka needs none, and waiting for it could stall shutdown.
  tcp_socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  tcp_socket().close(ignored);
  fail_all(klink::error(code, {}, reason));
  connected_signal_.cancel();
}

}  // namespace klink::kafka
