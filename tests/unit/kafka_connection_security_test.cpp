// SASL through klink's connection and cluster against a fake broker on a
// real socket: PLAIN and SCRAM succeed and fail as Kafka answers, errors are
// client_errc::authentication / ::tls and never show the password, and a
// session lifetime (KIP-368) makes the cluster replace the connection.
// TLS handshakes and certificate checks are covered against real brokers by
// tests/integration/test_kafka_client_security.py.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>

#include "kafka/cluster.h"
#include "kafka/connection.h"
#include "kafka/messages/api_versions.h"
#include "kafka/messages/metadata.h"
#include "kafka/messages/sasl_authenticate.h"
#include "kafka/messages/sasl_handshake.h"
#include "kafka/protocol/frame.h"
#include "kafka/protocol/header.h"
#include "kafka/sasl.h"

namespace {

using namespace klink::kafka;
namespace asio = klink::asio;
using io_error = boost::system::error_code;
using asio::use_awaitable;

std::string text_of(const byte_vector& bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}
byte_vector bytes_of(std::string_view text) {
  byte_vector out(text.size());
  std::memcpy(out.data(), text.data(), text.size());
  return out;
}

// Plays one Kafka broker: ApiVersions, SaslHandshake, SaslAuthenticate
// (PLAIN, SCRAM-SHA-256/512 with the server side computed from sasl.h's
// primitives), Metadata. Runs on the test's io_context.
class fake_broker {
 public:
  explicit fake_broker(asio::io_context& io)
      : acceptor_(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    asio::co_spawn(io, accept_loop(), asio::detached);
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  void stop() {
    io_error ignored;
    acceptor_.close(ignored);
  }

  std::vector<std::string> enabled{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"};
  std::string username = "klink";
  std::string password = "correct horse";
  int64_t session_lifetime_ms = 0;
  int authentications = 0;  // successful ones
  int connections = 0;
  std::vector<int16_t> api_keys_seen;  // in the order received, all connections

 private:
  struct session {
    std::string mechanism;
    std::optional<sasl::scram_hash> hash;
    std::string client_first_bare;
    std::string server_first;
    std::string server_nonce;
    bool authenticated = false;
  };

  asio::awaitable<void> accept_loop() {
    for (;;) {
      io_error ec;
      auto socket = co_await acceptor_.async_accept(asio::redirect_error(use_awaitable, ec));
      if (ec) co_return;
      ++connections;
      asio::co_spawn(acceptor_.get_executor(), serve(std::move(socket)), asio::detached);
    }
  }

  asio::awaitable<void> serve(asio::ip::tcp::socket socket) {
    session s;
    for (;;) {
      io_error ec;
      std::array<std::byte, 4> size_bytes{};
      co_await asio::async_read(socket, asio::buffer(size_bytes),
                                asio::redirect_error(use_awaitable, ec));
      if (ec) co_return;
      wire_reader size_reader{bytes_view(size_bytes)};
      const int32_t size = size_reader.read_int32();
      if (size < 8 || size > (1 << 20)) co_return;  // like Kafka: hang up on garbage
      byte_vector frame(static_cast<std::size_t>(size));
      co_await asio::async_read(socket, asio::buffer(frame),
                                asio::redirect_error(use_awaitable, ec));
      if (ec) co_return;
      wire_reader peek{bytes_view(frame)};
      const int16_t key = peek.read_int16();
      const int16_t version = peek.read_int16();
      wire_reader r{bytes_view(frame)};
      request_header header;
      if (!header.decode(r, request_header_version(key, version))) co_return;
      bytes_view body(frame.data() + r.offset(), frame.size() - r.offset());
      api_keys_seen.push_back(key);
      wire_writer out;
      const std::size_t size_at = out.reserve_int32();
      response_header{header.correlation_id, {}}.encode(out, response_header_version(key, version));
      bool hang_up = false;
      switch (key) {
        case msg::api_versions_api::key: {
          msg::api_versions_response reply;
          for (auto [k, lo, hi] : {std::tuple{18, 0, 4}, {17, 0, 1}, {36, 0, 2}, {3, 0, 12}}) {
            msg::api_versions_response::api_version v;
            v.api_key = static_cast<int16_t>(k);
            v.min_version = static_cast<int16_t>(lo);
            v.max_version = static_cast<int16_t>(hi);
            reply.api_keys.push_back(v);
          }
          reply.encode(out, version);
          break;
        }
        case msg::sasl_handshake_api::key: {
          auto request = decode_message<msg::sasl_handshake_request>(body, version);
          msg::sasl_handshake_response reply;
          reply.mechanisms = enabled;
          if (std::find(enabled.begin(), enabled.end(), request->mechanism) == enabled.end()) {
            reply.error_code = 33;
          } else {
            s.mechanism = request->mechanism;
            if (s.mechanism == "SCRAM-SHA-256") s.hash = sasl::scram_hash::sha_256;
            if (s.mechanism == "SCRAM-SHA-512") s.hash = sasl::scram_hash::sha_512;
          }
          reply.encode(out, version);
          break;
        }
        case msg::sasl_authenticate_api::key: {
          auto request = decode_message<msg::sasl_authenticate_request>(body, version);
          auto reply = authenticate(s, text_of(request->auth_bytes));
          hang_up = reply.error_code != 0;
          if (reply.error_code == 0 && s.authenticated) {
            ++authentications;
            reply.session_lifetime_ms = session_lifetime_ms;
          }
          reply.encode(out, version);
          break;
        }
        case msg::metadata_api::key: {
          if (!s.authenticated && !s.mechanism.empty()) co_return;
          msg::metadata_response reply;
          msg::metadata_response::metadata_response_broker b;
          b.node_id = 0;
          b.host = "127.0.0.1";
          b.port = port();
          reply.brokers.push_back(b);
          reply.cluster_id = "fake";
          reply.encode(out, version);
          break;
        }
        default:
          co_return;
      }
      out.patch_int32(size_at, static_cast<int32_t>(out.size() - 4));
      const byte_vector bytes = out.flatten();
      co_await asio::async_write(socket, asio::buffer(bytes),
                                 asio::redirect_error(use_awaitable, ec));
      if (ec || hang_up) co_return;
    }
  }

  msg::sasl_authenticate_response authenticate(session& s, const std::string& bytes) {
    msg::sasl_authenticate_response reply;
    auto refuse = [&](std::string message) {
      reply.error_code = 58;
      reply.error_message = std::move(message);
      return reply;
    };
    if (s.mechanism == "PLAIN") {
      if (bytes != text_of(sasl::plain_message(username, password))) {
        return refuse("Authentication failed: Invalid username or password");
      }
      s.authenticated = true;
      return reply;
    }
    if (!s.hash) return refuse("no mechanism");
    const std::string salt = "fake-broker-salt";
    if (s.server_first.empty()) {
      // client-first: "n,,n=<user>,r=<nonce>"
      if (!bytes.starts_with("n,,")) return refuse("bad client-first");
      s.client_first_bare = bytes.substr(3);
      const auto r = s.client_first_bare.find(",r=");
      if (s.client_first_bare.substr(2, r - 2) != sasl::escape_saslname(username)) {
        return refuse(
            "Authentication failed during authentication due to invalid credentials "
            "with SASL mechanism " +
            s.mechanism);
      }
      s.server_nonce = s.client_first_bare.substr(r + 3) + "srv";
      s.server_first = "r=" + s.server_nonce + ",s=" + sasl::base64_encode(salt) + ",i=4096";
      reply.auth_bytes = bytes_of(s.server_first);
      return reply;
    }
    const auto keys = sasl::scram_derive_server_keys(*s.hash, password, salt, 4096);
    const auto p = bytes.find(",p=");
    const std::string without_proof = bytes.substr(0, p);
    if (without_proof != "c=biws,r=" + s.server_nonce) return refuse("bad client-final");
    const std::string auth_message =
        s.client_first_bare + "," + s.server_first + "," + without_proof;
    auto proof = sasl::base64_decode(bytes.substr(p + 3));
    const std::string signature = sasl::scram_hmac(*s.hash, keys.stored_key, auth_message);
    if (!proof || proof->size() != signature.size()) return refuse("bad proof");
    std::string client_key = *proof;
    for (std::size_t i = 0; i < client_key.size(); ++i)
      client_key[i] = static_cast<char>(client_key[i] ^ signature[i]);
    if (sasl::scram_digest(*s.hash, client_key) != keys.stored_key) {
      return refuse(
          "Authentication failed during authentication due to invalid credentials "
          "with SASL mechanism " +
          s.mechanism);
    }
    s.authenticated = true;
    reply.auth_bytes = bytes_of(
        "v=" + sasl::base64_encode(sasl::scram_hmac(*s.hash, keys.server_key, auth_message)));
    return reply;
  }

  asio::ip::tcp::acceptor acceptor_;
};

class kafka_connection_security : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("klink-conn-sec-" + std::to_string(::getpid()) + "-" +
            testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    password_file_ = (dir_ / "password").string();
    write_password("correct horse\n");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void write_password(const std::string& content) {
    std::ofstream(password_file_, std::ios::trunc) << content;
  }

  connection_options options(sasl_mechanism mechanism) const {
    connection_options o;
    o.connect_timeout = std::chrono::milliseconds(2000);
    o.request_timeout = std::chrono::milliseconds(2000);
    o.security.sasl.mechanism = mechanism;
    o.security.sasl.username = "klink";
    o.security.sasl.password_file = password_file_;
    return o;
  }

  // Runs `body` to completion on io_ and returns its result.
  template <class T>
  T run(asio::awaitable<T> body) {
    std::optional<T> result;
    asio::co_spawn(io_, std::move(body), [&](std::exception_ptr e, T value) {
      if (e) std::rethrow_exception(e);
      result = std::move(value);
      io_.stop();
    });
    io_.restart();
    io_.run_for(std::chrono::seconds(10));
    EXPECT_TRUE(result.has_value()) << "timed out";
    return std::move(*result);
  }

  klink::result<void> open_with(const connection_options& o) {
    auto conn = connection::create(io_.get_executor(), 0, {"127.0.0.1", broker_.port()}, o);
    auto result = run(conn->ensure_open());
    conn->close("test done");
    return result;
  }

  asio::io_context io_;
  fake_broker broker_{io_};
  std::filesystem::path dir_;
  std::string password_file_;
};

TEST_F(kafka_connection_security, plain_authenticates_after_api_versions) {
  auto opened = open_with(options(sasl_mechanism::plain));
  ASSERT_TRUE(opened) << opened.error().message();
  EXPECT_EQ(broker_.authentications, 1);
  EXPECT_EQ(broker_.api_keys_seen, (std::vector<int16_t>{18, 17, 36}));
}

TEST_F(kafka_connection_security, plain_wrong_password_is_an_authentication_error) {
  write_password("wrong-password-123\n");
  auto opened = open_with(options(sasl_mechanism::plain));
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, client_errc::authentication);
  EXPECT_NE(opened.error().message().find("Invalid username or password"), std::string::npos)
      << opened.error().message();
  EXPECT_EQ(opened.error().message().find("wrong-password-123"), std::string::npos);
  // Rewriting the file fixes it without anything else changing.
  write_password("correct horse\n");
  EXPECT_TRUE(open_with(options(sasl_mechanism::plain)));
}

TEST_F(kafka_connection_security, scram_sha_512_and_256_authenticate) {
  for (auto mechanism : {sasl_mechanism::scram_sha_512, sasl_mechanism::scram_sha_256}) {
    auto opened = open_with(options(mechanism));
    ASSERT_TRUE(opened) << opened.error().message();
  }
  EXPECT_EQ(broker_.authentications, 2);
}

TEST_F(kafka_connection_security, scram_wrong_password_is_an_authentication_error) {
  write_password("not-the-password\n");
  auto opened = open_with(options(sasl_mechanism::scram_sha_512));
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, client_errc::authentication);
  EXPECT_NE(opened.error().message().find("invalid credentials"), std::string::npos)
      << opened.error().message();
  EXPECT_EQ(opened.error().message().find("not-the-password"), std::string::npos);
}

TEST_F(kafka_connection_security, mechanism_not_enabled_lists_the_enabled_ones) {
  broker_.enabled = {"PLAIN", "GSSAPI"};
  auto opened = open_with(options(sasl_mechanism::scram_sha_256));
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, client_errc::authentication);
  EXPECT_NE(opened.error().message().find("enabled: PLAIN, GSSAPI"), std::string::npos)
      << opened.error().message();
}

TEST_F(kafka_connection_security, missing_password_file_is_an_authentication_error) {
  auto o = options(sasl_mechanism::plain);
  o.security.sasl.password_file = (dir_ / "nope").string();
  auto opened = open_with(o);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, client_errc::authentication);
  EXPECT_NE(opened.error().message().find("nope"), std::string::npos);
}

TEST_F(kafka_connection_security, unreadable_ca_file_is_a_tls_error) {
  auto o = options(sasl_mechanism::none);
  o.security.tls.enabled = true;
  o.security.tls.ca_file = (dir_ / "missing-ca.pem").string();
  auto opened = open_with(o);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, client_errc::tls);
  EXPECT_NE(opened.error().message().find("cannot load CA file"), std::string::npos)
      << opened.error().message();
  EXPECT_EQ(broker_.connections, 0) << "no TCP connection before the TLS setup is valid";

  std::ofstream(dir_ / "garbage.pem") << "not a certificate\n";
  o.security.tls.ca_file = (dir_ / "garbage.pem").string();
  opened = open_with(o);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, client_errc::tls);
}

TEST_F(kafka_connection_security, tls_to_a_plaintext_listener_is_a_tls_error) {
  auto o = options(sasl_mechanism::none);
  o.security.tls.enabled = true;  // system CAs
  auto opened = open_with(o);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, client_errc::tls);
  EXPECT_NE(opened.error().message().find("TLS handshake"), std::string::npos)
      << opened.error().message();
}

// KIP-368: with a session lifetime the cluster stops handing out the
// connection at 85-90% of it, opens (and authenticates) a fresh one, and
// closes the old one since nothing is in flight on it.
TEST_F(kafka_connection_security, session_lifetime_replaces_the_connection) {
  broker_.session_lifetime_ms = 400;
  cluster c(io_.get_executor(), "source", {{"127.0.0.1", broker_.port()}},
            options(sasl_mechanism::scram_sha_512));
  auto first = run(c.any_connection());
  ASSERT_TRUE(first) << first.error().message();
  auto first_conn = *first;
  ASSERT_TRUE(first_conn->session_expiry());
  EXPECT_FALSE(first_conn->reauthentication_due());

  auto again = run(c.any_connection());
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, first_conn) << "not due yet: the same connection";

  auto wait = [&]() -> asio::awaitable<bool> {
    asio::steady_timer t(io_.get_executor(), std::chrono::milliseconds(370));
    co_await t.async_wait(use_awaitable);
    co_return true;
  };
  run(wait());
  EXPECT_TRUE(first_conn->reauthentication_due());
  auto replaced = run(c.any_connection());
  ASSERT_TRUE(replaced) << replaced.error().message();
  EXPECT_NE(*replaced, first_conn);
  EXPECT_TRUE((*replaced)->is_open());
  EXPECT_TRUE(first_conn->is_closed()) << "idle, so retired at once";
  EXPECT_EQ(broker_.authentications, 2);
  EXPECT_EQ(broker_.connections, 2);

  // The fresh connection serves requests (metadata through the cluster).
  auto refreshed = run(c.refresh_metadata({}, true));
  EXPECT_TRUE(refreshed) << refreshed.error().message();
  c.close();
}

asio::awaitable<void> send_metadata(std::shared_ptr<connection> conn,
                                    std::shared_ptr<std::optional<bool>> answered) {
  msg::metadata_request request;
  auto reply = co_await conn->send<msg::metadata_api>(request);
  *answered = reply.has_value();
}

// A retired connection still delivers what is in flight, then closes.
TEST_F(kafka_connection_security, retired_connection_closes_after_its_last_response) {
  auto conn = connection::create(io_.get_executor(), 0, {"127.0.0.1", broker_.port()},
                                 options(sasl_mechanism::plain));
  ASSERT_TRUE(run(conn->ensure_open()));
  auto answered = std::make_shared<std::optional<bool>>();
  auto scenario = [&]() -> asio::awaitable<bool> {
    asio::co_spawn(io_, send_metadata(conn, answered), asio::detached);
    while (conn->in_flight() == 0)
      co_await asio::post(io_.get_executor(), use_awaitable);
    conn->retire();
    EXPECT_TRUE(conn->is_open()) << "closed with a request in flight";
    while (!answered->has_value())
      co_await asio::post(io_.get_executor(), use_awaitable);
    co_return **answered;
  };
  EXPECT_TRUE(run(scenario()));
  EXPECT_TRUE(conn->is_closed());
}

TEST_F(kafka_connection_security, without_a_lifetime_no_replacement) {
  cluster c(io_.get_executor(), "source", {{"127.0.0.1", broker_.port()}},
            options(sasl_mechanism::plain));
  auto first = run(c.any_connection());
  ASSERT_TRUE(first);
  EXPECT_FALSE((*first)->session_expiry());
  EXPECT_FALSE((*first)->reauthentication_due());
  c.close();
}

TEST(kafka_client_error, new_codes_have_names) {
  EXPECT_STREQ(to_string(client_errc::tls), "tls");
  EXPECT_STREQ(to_string(client_errc::authentication), "authentication");
}

}  // namespace
