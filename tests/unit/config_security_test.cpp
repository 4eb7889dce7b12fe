// [links.*] security_protocol / tls / sasl and [admin.tls]: what is accepted,
// and that every mistake is named (secrets and files included).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "config/config.h"

namespace {

namespace fs = std::filesystem;
using klink::config::config_error;
using klink::config::load_config;

class config_security : public testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        fs::temp_directory_path() / ("klink-config-security-" + std::to_string(::getpid()) + "-" +
                                     testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    for (auto name : {"ca.pem", "client.pem", "client.key", "source.password"})
      std::ofstream(dir_ / name) << "x\n";
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A config whose source cluster section ends with `source_extra`.
  klink::config::config load(const std::string& source_extra, const std::string& tail = "") {
    const auto path = dir_ / "klink.toml";
    std::ofstream(path) << "[[links]]\nname = \"dr\"\n[links.source]\n"
                           "bootstrap_servers = [\"127.0.0.1:19092\"]\n"
                        << source_extra
                        << "\n[links.destination]\nbootstrap_servers = [\"127.0.0.1:29092\"]\n"
                           "[links.topics]\ninclude = [\"orders\"]\n"
                        << tail;
    return load_config(path);
  }
  std::string error(const std::string& source_extra, const std::string& tail = "") {
    try {
      load(source_extra, tail);
    } catch (const config_error& e) {
      return e.what();
    }
    ADD_FAILURE() << "no error for:\n" << source_extra << tail;
    return {};
  }

  fs::path dir_;
};

TEST_F(config_security, sasl_ssl_with_mtls_and_files_relative_to_the_config) {
  const auto cfg = load(R"(security_protocol = "SASL_SSL"
[links.source.tls]
ca_file = "ca.pem"
cert_file = "client.pem"
key_file = "client.key"
verify_hostname = false
[links.source.sasl]
mechanism = "SCRAM-SHA-256"
username = "klink"
password_file = "source.password")");
  const auto& source = cfg.links[0].source;
  EXPECT_EQ(source.protocol, klink::config::security_protocol::sasl_ssl);
  ASSERT_TRUE(source.tls && source.sasl);
  EXPECT_EQ(source.tls->ca_file, (dir_ / "ca.pem").string());
  EXPECT_EQ(source.tls->key_file, (dir_ / "client.key").string());
  EXPECT_FALSE(source.tls->verify_hostname);
  EXPECT_EQ(source.sasl->mechanism, klink::config::sasl_mechanism::scram_sha_256);
  EXPECT_EQ(source.sasl->username, "klink");
  EXPECT_EQ(source.sasl->password_file, (dir_ / "source.password").string());
  EXPECT_EQ(cfg.links[0].destination.protocol, klink::config::security_protocol::plaintext);
  EXPECT_FALSE(cfg.links[0].destination.tls);
}

TEST_F(config_security, ssl_without_a_tls_table_uses_the_system_store) {
  const auto cfg = load(R"(security_protocol = "SSL")");
  ASSERT_TRUE(cfg.links[0].source.tls);
  EXPECT_TRUE(cfg.links[0].source.tls->ca_file.empty());
  EXPECT_TRUE(cfg.links[0].source.tls->verify_hostname);
  EXPECT_FALSE(cfg.links[0].source.sasl);
}

TEST_F(config_security, password_from_the_environment) {
  ::setenv("KLINK_TEST_SOURCE_PASSWORD", "s3cret", 1);
  const auto cfg = load(R"(security_protocol = "SASL_PLAINTEXT"
[links.source.sasl]
mechanism = "PLAIN"
username = "klink"
password_env = "KLINK_TEST_SOURCE_PASSWORD")");
  EXPECT_EQ(cfg.links[0].source.sasl->password_env, "KLINK_TEST_SOURCE_PASSWORD");
  ::unsetenv("KLINK_TEST_SOURCE_PASSWORD");
  EXPECT_NE(error(R"(security_protocol = "SASL_PLAINTEXT"
[links.source.sasl]
mechanism = "PLAIN"
username = "klink"
password_env = "KLINK_TEST_SOURCE_PASSWORD")")
                .find("password_env: environment variable \"KLINK_TEST_SOURCE_PASSWORD\" is not "
                      "set or empty"),
            std::string::npos);
}

TEST_F(config_security, an_inline_password_is_refused_without_echoing_it) {
  const auto e = error(R"(security_protocol = "SASL_SSL"
[links.source.sasl]
mechanism = "PLAIN"
username = "klink"
password = "hunter2")");
  EXPECT_NE(e.find("links[0].source.sasl.password: passwords are not accepted in the config "
                   "file; put it in a file (password_file"),
            std::string::npos)
      << e;
  EXPECT_EQ(e.find("hunter2"), std::string::npos) << e;
}

TEST_F(config_security, mistakes_are_named) {
  auto expect = [&](const std::string& extra, const std::string& wanted) {
    const auto e = error(extra);
    EXPECT_NE(e.find(wanted), std::string::npos) << "got: " << e << "\nwanted: " << wanted;
  };
  expect(R"(security_protocol = "TLS")",
         "links[0].source.security_protocol: expected one of: PLAINTEXT, SSL, SASL_PLAINTEXT, "
         "SASL_SSL; got \"TLS\"");
  expect("[links.source.tls]\nca_file = \"ca.pem\"",
         "links[0].source.tls: TLS settings with security_protocol = \"PLAINTEXT\"; set "
         "security_protocol = \"SSL\" or \"SASL_SSL\"");
  expect("security_protocol = \"SSL\"\n[links.source.sasl]\nmechanism = \"PLAIN\"",
         "links[0].source.sasl: SASL settings with security_protocol = \"SSL\"");
  expect(R"(security_protocol = "SASL_SSL")", "links[0].source.sasl: missing required table");
  expect("security_protocol = \"SSL\"\n[links.source.tls]\nca_file = \"missing.pem\"",
         "links[0].source.tls.ca_file: cannot read \"" + (dir_ / "missing.pem").string() +
             "\": no such file");
  expect("security_protocol = \"SSL\"\n[links.source.tls]\ncert_file = \"client.pem\"",
         "links[0].source.tls.cert_file: a client certificate needs both cert_file and "
         "key_file; add key_file");
  expect("security_protocol = \"SSL\"\n[links.source.tls]\ncafile = \"ca.pem\"",
         "links[0].source.tls.cafile: unknown key; did you mean \"ca_file\"?");
  expect(
      "security_protocol = \"SASL_SSL\"\n[links.source.sasl]\nmechanism = \"GSSAPI\"\n"
      "username = \"u\"\npassword_file = \"source.password\"",
      "links[0].source.sasl.mechanism: expected one of: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512; "
      "got \"GSSAPI\"");
  expect(
      "security_protocol = \"SASL_SSL\"\n[links.source.sasl]\nmechanism = \"PLAIN\"\n"
      "password_file = \"source.password\"",
      "links[0].source.sasl.username: missing required key");
  expect(
      "security_protocol = \"SASL_SSL\"\n[links.source.sasl]\nmechanism = \"PLAIN\"\n"
      "username = \"u\"",
      "give exactly one of password_file = \"path\" or password_env = \"VARIABLE\"");
  expect(
      "security_protocol = \"SASL_SSL\"\n[links.source.sasl]\nmechanism = \"PLAIN\"\n"
      "username = \"u\"\npassword_file = \"source.password\"\npassword_env = \"X\"",
      "give exactly one of password_file");
}

TEST_F(config_security, admin_https_and_client_certificates) {
  const auto cfg = load("", R"([admin]
listen = "127.0.0.1:0"
[admin.tls]
cert_file = "client.pem"
key_file = "client.key"
client_ca_file = "ca.pem"
)");
  ASSERT_TRUE(cfg.admin.tls);
  EXPECT_EQ(cfg.admin.tls->client_ca_file, (dir_ / "ca.pem").string());
  const auto e = error("", "[admin]\n[admin.tls]\ncert_file = \"client.pem\"\n");
  EXPECT_NE(e.find("admin.tls.key_file: missing required key; HTTPS needs cert_file and key_file"),
            std::string::npos)
      << e;
}

}  // namespace
