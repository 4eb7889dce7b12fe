// SASL PLAIN and SCRAM messages (kafka/sasl.h): the RFC 7677 vector, a
// SHA-512 round trip against a server computed here, and every refusal.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "kafka/sasl.h"

namespace {

using namespace klink::kafka;
using namespace klink::kafka::sasl;

std::string as_string(const byte_vector& bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

TEST(kafka_sasl, plain_message_is_nul_user_nul_password) {
  EXPECT_EQ(as_string(plain_message("alice", "s3cret")), std::string("\0alice\0s3cret", 13));
}

TEST(kafka_sasl, saslname_escapes_equals_and_comma) {
  EXPECT_EQ(escape_saslname("a=b,c"), "a=3Db=2Cc");
  EXPECT_EQ(escape_saslname("plain"), "plain");
}

TEST(kafka_sasl, base64_round_trip_and_refusals) {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    auto decoded = base64_decode(base64_encode(s));
    ASSERT_TRUE(decoded) << s;
    EXPECT_EQ(*decoded, s);
  }
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_FALSE(base64_decode("Zm8"));
  EXPECT_FALSE(base64_decode("Z=8="));
  EXPECT_FALSE(base64_decode("Zm8*"));
  EXPECT_FALSE(base64_decode("Zg==Zg=="));
}

TEST(kafka_sasl, random_nonce_is_printable_and_fresh) {
  const auto a = random_nonce();
  const auto b = random_nonce();
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, b);
  EXPECT_EQ(a.find(','), std::string::npos);
}

// RFC 7677 section 3.
TEST(kafka_sasl, scram_sha_256_rfc7677_vector) {
  scram_client client(scram_hash::sha_256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO");
  EXPECT_EQ(client.first_message(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
  auto final = client.final_message(
      "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
  ASSERT_TRUE(final) << final.error().message();
  EXPECT_EQ(*final,
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
            "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
  auto verified = client.verify("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
  EXPECT_TRUE(verified) << verified.error().message();
}

TEST(kafka_sasl, scram_sha_256_rejects_a_wrong_server_signature) {
  scram_client client(scram_hash::sha_256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO");
  client.first_message();
  ASSERT_TRUE(client.final_message(
      "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"));
  auto verified = client.verify("v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
  ASSERT_FALSE(verified);
  EXPECT_NE(verified.error().message().find("signature"), std::string::npos);
  EXPECT_EQ(verified.error().message().find("pencil"), std::string::npos);
}

// The broker's side, computed independently of scram_client: the server
// checks the proof with its stored key and signs with its server key.
TEST(kafka_sasl, scram_sha_512_round_trip_against_a_server) {
  const std::string password = "p=ss,word\xc3\xa9";
  const std::string salt = "0123456789abcdef";
  const int iterations = 4096;
  const auto keys = scram_derive_server_keys(scram_hash::sha_512, password, salt, iterations);

  scram_client client(scram_hash::sha_512, "kl=ink,user", password, "clientnonce");
  const std::string first = client.first_message();
  ASSERT_EQ(first, "n,,n=kl=3Dink=2Cuser,r=clientnonce");
  const std::string client_first_bare = first.substr(3);
  const std::string server_first =
      "r=clientnonceSERVER,s=" + base64_encode(salt) + ",i=" + std::to_string(iterations);
  auto final = client.final_message(server_first);
  ASSERT_TRUE(final) << final.error().message();

  const std::string without_proof = "c=biws,r=clientnonceSERVER";
  ASSERT_TRUE(final->starts_with(without_proof + ",p="));
  auto proof = base64_decode(final->substr(without_proof.size() + 3));
  ASSERT_TRUE(proof);
  ASSERT_EQ(proof->size(), 64u);
  const std::string auth_message = client_first_bare + "," + server_first + "," + without_proof;
  const std::string client_signature =
      scram_hmac(scram_hash::sha_512, keys.stored_key, auth_message);
  std::string client_key = *proof;
  for (std::size_t i = 0; i < client_key.size(); ++i)
    client_key[i] = static_cast<char>(client_key[i] ^ client_signature[i]);
  EXPECT_EQ(scram_digest(scram_hash::sha_512, client_key), keys.stored_key)
      << "the server would refuse the proof";

  const std::string server_signature =
      scram_hmac(scram_hash::sha_512, keys.server_key, auth_message);
  EXPECT_TRUE(client.verify("v=" + base64_encode(server_signature)));
}

TEST(kafka_sasl, scram_refuses_bad_server_first_messages) {
  const std::string salt = ",s=" + base64_encode("salt") + ",i=4096";
  struct bad_case {
    std::string server_first;
    std::string expected;
  } cases[] = {
      {"r=otherSERVER" + salt, "nonce"},
      {"r=abc" + salt, "nonce"},  // not extended
      {"r=abcX,s=" + base64_encode("salt") + ",i=4095", "iterations"},
      // PBKDF2 runs on the daemon's thread: 2^31 iterations would stall it for hours.
      {"r=abcX,s=" + base64_encode("salt") + ",i=16385", "iterations"},
      {"r=abcX,s=" + base64_encode("salt") + ",i=2147483647", "iterations"},
      {"r=abcX,s=" + base64_encode("salt") + ",i=many", "iteration"},
      {"r=abcX,s=!!!!,i=4096", "salt"},
      {"r=abcX,i=4096", "malformed"},
      {"m=ext,r=abcX" + salt, "extension"},
  };
  for (const auto& c : cases) {
    scram_client client(scram_hash::sha_256, "u", "secret-password", "abc");
    client.first_message();
    auto final = client.final_message(c.server_first);
    ASSERT_FALSE(final) << c.server_first;
    EXPECT_NE(final.error().message().find(c.expected), std::string::npos)
        << final.error().message();
    EXPECT_EQ(final.error().message().find("secret-password"), std::string::npos);
  }
}

TEST(kafka_sasl, scram_reports_a_server_error_and_steps_out_of_order) {
  scram_client client(scram_hash::sha_256, "u", "pw", "abc");
  EXPECT_FALSE(client.final_message("r=abcX,s=c2FsdA==,i=4096"));  // before first_message
  scram_client second(scram_hash::sha_256, "u", "pw", "abc");
  second.first_message();
  ASSERT_TRUE(second.final_message("r=abcX,s=c2FsdA==,i=4096"));
  auto verified = second.verify("e=invalid-proof");
  ASSERT_FALSE(verified);
  EXPECT_NE(verified.error().message().find("invalid-proof"), std::string::npos);
  EXPECT_FALSE(second.verify("v=AAAA"));  // single use
}

class kafka_sasl_password : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("klink-sasl-" + std::to_string(::getpid()) + "-" +
            testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& content) {
    const auto path = dir_ / name;
    std::ofstream(path, std::ios::binary) << content;
    return path.string();
  }
  std::filesystem::path dir_;
};

TEST_F(kafka_sasl_password, file_trims_exactly_one_trailing_newline) {
  sasl_options options;
  options.password_file = write("a", "hunter2\n");
  EXPECT_EQ(read_password(options).value(), "hunter2");
  options.password_file = write("b", "hunter2\r\n");
  EXPECT_EQ(read_password(options).value(), "hunter2");
  options.password_file = write("c", "hunter2\n\n");
  EXPECT_EQ(read_password(options).value(), "hunter2\n");
  options.password_file = write("d", " spaced ");
  EXPECT_EQ(read_password(options).value(), " spaced ");
}

TEST_F(kafka_sasl_password, file_is_read_again_each_time) {
  sasl_options options;
  options.password_file = write("p", "old\n");
  EXPECT_EQ(read_password(options).value(), "old");
  write("p", "new\n");
  EXPECT_EQ(read_password(options).value(), "new");
}

TEST_F(kafka_sasl_password, errors_name_the_source_never_the_content) {
  sasl_options options;
  options.password_file = (dir_ / "missing").string();
  auto missing = read_password(options);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("missing"), std::string::npos);
  EXPECT_NE(missing.error().message().find("No such file"), std::string::npos);

  options.password_file = write("empty", "\n");
  EXPECT_FALSE(read_password(options));

  options.password_file.clear();
  options.password_env = "KLINK_SASL_TEST_PASSWORD_UNSET";
  ::unsetenv(options.password_env.c_str());
  auto unset = read_password(options);
  ASSERT_FALSE(unset);
  EXPECT_NE(unset.error().message().find("KLINK_SASL_TEST_PASSWORD_UNSET"), std::string::npos);

  ::setenv("KLINK_SASL_TEST_PASSWORD", "from-env", 1);
  options.password_env = "KLINK_SASL_TEST_PASSWORD";
  EXPECT_EQ(read_password(options).value(), "from-env");

  EXPECT_FALSE(read_password(sasl_options{}));
}

}  // namespace
