#include "kafka/sasl.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

namespace klink::kafka::sasl {

namespace {
// SASL failures are authentication failures; the text is the whole message.
error refusal(std::string text) {
  return error(client_errc::authentication, {}, std::move(text));
}
}  // namespace

namespace {

constexpr std::string_view base64_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

const EVP_MD* digest_of(scram_hash hash) {
  return hash == scram_hash::sha_256 ? EVP_sha256() : EVP_sha512();
}

void cleanse(std::string& secret) {
  if (!secret.empty()) OPENSSL_cleanse(secret.data(), secret.size());
  secret.clear();
}

// Splits "k=v,k=v" into attributes; values may contain '=' but never ','.
std::vector<std::pair<char, std::string_view>> attributes(std::string_view message) {
  std::vector<std::pair<char, std::string_view>> out;
  while (!message.empty()) {
    const auto comma = message.find(',');
    const std::string_view part = message.substr(0, comma);
    if (part.size() >= 2 && part[1] == '=') out.emplace_back(part[0], part.substr(2));
    if (comma == std::string_view::npos) break;
    message.remove_prefix(comma + 1);
  }
  return out;
}

std::string pbkdf2(scram_hash hash, std::string_view password, std::string_view salt,
                   int iterations) {
  std::string out(static_cast<std::size_t>(EVP_MD_get_size(digest_of(hash))), '\0');
  PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                    reinterpret_cast<const unsigned char*>(salt.data()),
                    static_cast<int>(salt.size()), iterations, digest_of(hash),
                    static_cast<int>(out.size()), reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

}  // namespace

byte_vector plain_message(std::string_view username, std::string_view password) {
  byte_vector out;
  out.reserve(2 + username.size() + password.size());
  out.push_back(std::byte{0});
  for (char c : username)
    out.push_back(static_cast<std::byte>(c));
  out.push_back(std::byte{0});
  for (char c : password)
    out.push_back(static_cast<std::byte>(c));
  return out;
}

std::string escape_saslname(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (char c : name) {
    if (c == '=') {
      out += "=3D";
    } else if (c == ',') {
      out += "=2C";
    } else {
      out += c;
    }
  }
  return out;
}

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  auto at = [&](std::size_t k) {
    return static_cast<uint32_t>(static_cast<unsigned char>(bytes[k]));
  };
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = (at(i) << 16) | (at(i + 1) << 8) | at(i + 2);
    out += base64_alphabet[(v >> 18) & 63];
    out += base64_alphabet[(v >> 12) & 63];
    out += base64_alphabet[(v >> 6) & 63];
    out += base64_alphabet[v & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest == 1) {
    const uint32_t v = at(i) << 16;
    out += base64_alphabet[(v >> 18) & 63];
    out += base64_alphabet[(v >> 12) & 63];
    out += "==";
  } else if (rest == 2) {
    const uint32_t v = (at(i) << 16) | (at(i + 1) << 8);
    out += base64_alphabet[(v >> 18) & 63];
    out += base64_alphabet[(v >> 12) & 63];
    out += base64_alphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

result<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::unexpected(refusal("base64 length is not a multiple of 4"));
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    uint32_t v = 0;
    int padding = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      const char c = text[i + k];
      uint32_t digit = 0;
      if (c == '=') {
        // Padding only at the very end, at most two characters.
        if (i + 4 != text.size() || k < 2)
          return std::unexpected(refusal("misplaced base64 padding"));
        ++padding;
      } else {
        if (padding > 0) return std::unexpected(refusal("misplaced base64 padding"));
        const auto pos = base64_alphabet.find(c);
        if (pos == std::string_view::npos)
          return std::unexpected(refusal("invalid base64 character"));
        digit = static_cast<uint32_t>(pos);
      }
      v = (v << 6) | digit;
    }
    out += static_cast<char>((v >> 16) & 0xff);
    if (padding < 2) out += static_cast<char>((v >> 8) & 0xff);
    if (padding < 1) out += static_cast<char>(v & 0xff);
  }
  return out;
}

std::string random_nonce() {
  constexpr std::string_view alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::array<unsigned char, 32> random{};
  if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) {
    // The RNG cannot fail on a seeded Linux system; refusing to authenticate
    // with a guessable nonce is still better than carrying on.
    throw std::runtime_error("OpenSSL RAND_bytes failed");
  }
  std::string out;
  for (unsigned char b : random)
    out += alphabet[b % alphabet.size()];
  return out;
}

std::string scram_hmac(scram_hash hash, std::string_view key, std::string_view data) {
  std::string out(static_cast<std::size_t>(EVP_MAX_MD_SIZE), '\0');
  unsigned int length = 0;
  HMAC(digest_of(hash), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(),
       reinterpret_cast<unsigned char*>(out.data()), &length);
  out.resize(length);
  return out;
}

std::string scram_digest(scram_hash hash, std::string_view data) {
  std::string out(static_cast<std::size_t>(EVP_MAX_MD_SIZE), '\0');
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), reinterpret_cast<unsigned char*>(out.data()), &length,
             digest_of(hash), nullptr);
  out.resize(length);
  return out;
}

scram_server_keys scram_derive_server_keys(scram_hash hash, std::string_view password,
                                           std::string_view salt, int iterations) {
  std::string salted = pbkdf2(hash, password, salt, iterations);
  scram_server_keys keys{scram_digest(hash, scram_hmac(hash, salted, "Client Key")),
                         scram_hmac(hash, salted, "Server Key")};
  cleanse(salted);
  return keys;
}

scram_client::scram_client(scram_hash hash, std::string username, std::string password,
                           std::string client_nonce)
    : hash_(hash),
      username_(std::move(username)),
      password_(std::move(password)),
      client_nonce_(std::move(client_nonce)) {}

scram_client::~scram_client() {
  cleanse(password_);
}

std::string scram_client::first_message() {
  client_first_bare_ = "n=" + escape_saslname(username_) + ",r=" + client_nonce_;
  step_ = step::first_sent;
  return "n,," + client_first_bare_;
}

result<scram_server_first> parse_server_first(std::string_view message,
                                              std::string_view client_nonce) {
  std::string_view nonce;
  std::string_view salt_text;
  std::string_view iterations_text;
  for (const auto& [key, value] : attributes(message)) {
    switch (key) {
      case 'm':
        return std::unexpected(refusal("SCRAM: the server requires an unsupported extension"));
      case 'r':
        nonce = value;
        break;
      case 's':
        salt_text = value;
        break;
      case 'i':
        iterations_text = value;
        break;
      default:
        break;  // extensions klink does not use
    }
  }
  if (nonce.empty() || salt_text.empty() || iterations_text.empty()) {
    return std::unexpected(refusal("SCRAM: malformed server-first message"));
  }
  // The server's nonce extends ours: otherwise this is a replay or a mix-up.
  if (nonce.size() <= client_nonce.size() || !nonce.starts_with(client_nonce)) {
    return std::unexpected(refusal("SCRAM: the server nonce does not extend the client nonce"));
  }
  int iterations = 0;
  auto [end, ec] = std::from_chars(iterations_text.data(),
                                   iterations_text.data() + iterations_text.size(), iterations);
  if (ec != std::errc{} || end != iterations_text.data() + iterations_text.size()) {
    return std::unexpected(refusal("SCRAM: malformed iteration count"));
  }
  if (iterations < scram_min_iterations) {
    return std::unexpected(refusal("SCRAM: the server asks for " + std::to_string(iterations) +
                                   " iterations, fewer than the minimum " +
                                   std::to_string(scram_min_iterations)));
  }
  if (iterations > scram_max_iterations) {
    return std::unexpected(refusal("SCRAM: the server asks for " + std::to_string(iterations) +
                                   " iterations, more than Kafka's maximum " +
                                   std::to_string(scram_max_iterations)));
  }
  auto salt = base64_decode(salt_text);
  if (!salt || salt->empty()) return std::unexpected(refusal("SCRAM: malformed salt"));
  return scram_server_first{std::string(nonce), std::move(*salt), iterations};
}

result<std::string> parse_server_final(std::string_view message) {
  for (const auto& [key, value] : attributes(message)) {
    if (key == 'e')
      return std::unexpected(refusal("SCRAM: the server refused: " + std::string(value)));
    if (key == 'v') {
      auto signature = base64_decode(value);
      if (!signature)
        return std::unexpected(refusal("SCRAM: the server's signature is not base64"));
      return std::move(*signature);
    }
  }
  return std::unexpected(refusal("SCRAM: malformed server-final message"));
}

result<std::string> scram_client::final_message(std::string_view server_first) {
  if (step_ != step::first_sent)
    return std::unexpected(refusal("SCRAM: server-first out of order"));
  step_ = step::failed;
  auto first = parse_server_first(server_first, client_nonce_);
  if (!first) return std::unexpected(std::move(first.error()));

  // PBKDF2 with Kafka's default 4096 iterations takes about a millisecond on
  // the io thread, once per connection: accepted rather than offloaded.
  std::string salted = pbkdf2(hash_, password_, first->salt, first->iterations);
  std::string client_key = scram_hmac(hash_, salted, "Client Key");
  const std::string stored_key = scram_digest(hash_, client_key);
  const std::string server_key = scram_hmac(hash_, salted, "Server Key");
  const std::string without_proof = "c=biws,r=" + first->nonce;
  const std::string auth_message =
      client_first_bare_ + "," + std::string(server_first) + "," + without_proof;
  const std::string client_signature = scram_hmac(hash_, stored_key, auth_message);
  std::string proof = client_key;
  for (std::size_t i = 0; i < proof.size(); ++i)
    proof[i] = static_cast<char>(proof[i] ^ client_signature[i]);
  expected_server_signature_ = scram_hmac(hash_, server_key, auth_message);
  cleanse(salted);
  cleanse(client_key);
  cleanse(password_);
  step_ = step::final_sent;
  return without_proof + ",p=" + base64_encode(proof);
}

result<void> scram_client::verify(std::string_view server_final) {
  if (step_ != step::final_sent)
    return std::unexpected(refusal("SCRAM: server-final out of order"));
  step_ = step::failed;
  auto signature = parse_server_final(server_final);
  if (!signature) return std::unexpected(std::move(signature.error()));
  if (signature->size() != expected_server_signature_.size() ||
      CRYPTO_memcmp(signature->data(), expected_server_signature_.data(), signature->size()) != 0) {
    return std::unexpected(
        refusal("SCRAM: the server's signature is wrong (the broker does not know the password)"));
  }
  step_ = step::done;
  return {};
}

result<std::string> read_password(const sasl_options& options) {
  if (!options.password_file.empty()) {
    std::ifstream in(options.password_file, std::ios::binary);
    if (!in) {
      return std::unexpected(refusal("cannot read the SASL password file " + options.password_file +
                                     ": " + std::strerror(errno)));
    }
    std::ostringstream content;
    content << in.rdbuf();
    std::string password = std::move(content).str();
    if (password.ends_with('\n')) password.pop_back();
    if (password.ends_with('\r')) password.pop_back();
    if (password.empty()) {
      return std::unexpected(
          refusal("the SASL password file " + options.password_file + " is empty"));
    }
    return password;
  }
  if (!options.password_env.empty()) {
    const char* value = std::getenv(options.password_env.c_str());
    if (value == nullptr || *value == '\0') {
      return std::unexpected(refusal("the environment variable " + options.password_env +
                                     " (SASL password) is not set"));
    }
    return std::string(value);
  }
  return std::unexpected(refusal("no SASL password configured (password_file or password_env)"));
}

}  // namespace klink::kafka::sasl
