// Bytes written by real Kafka brokers (4.1.1 and 3.9.1) decode with klink's
// codecs, strictly (no trailing bytes), and re-encode to the same bytes.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>

#include "kafka/messages/all.h"
#include "kafka/protocol/frame.h"

namespace {

using namespace klink::kafka;

const std::filesystem::path fixtures =
    std::filesystem::path(__FILE__).parent_path() / "fixtures" / "broker-responses";

byte_vector read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  byte_vector out(chars.size());
  std::memcpy(out.data(), chars.data(), chars.size());
  return out;
}

// Decodes one captured frame as the response of `api_key` v`version`, then
// re-encodes the body; returns the number of APIs that matched the key.
int check_frame(int16_t api_key, int16_t version, const byte_vector& frame) {
  int matched = 0;
  msg::for_each_api([&]<class Api>(std::type_identity<Api>) {
    if (Api::key != api_key) return;
    ++matched;
    wire_reader reader(bytes_view(frame.data(), frame.size()));
    auto header = decode_response_header(reader, response_header_version(api_key, version));
    ASSERT_TRUE(header.has_value()) << header.error().what;
    const std::size_t body_at = reader.offset();
    const bytes_view body(frame.data() + body_at, frame.size() - body_at);
    auto decoded = decode_response_body<typename Api::response>(body, version);
    ASSERT_TRUE(decoded.has_value()) << decoded.error().what << " at " << decoded.error().offset;
    wire_writer w;
    decoded->encode(w, version);
    const byte_vector again = w.flatten();
    EXPECT_EQ(again.size(), body.size());
    EXPECT_TRUE(std::equal(again.begin(), again.end(), body.begin(), body.end()))
        << "re-encoded bytes differ";
  });
  return matched;
}

TEST(protocol_captured, every_real_broker_response_decodes_and_reencodes) {
  const std::regex name(R"((\d+)-v(\d+)\.bin)");
  int files = 0;
  for (const auto& version_dir : std::filesystem::directory_iterator(fixtures)) {
    if (!version_dir.is_directory()) continue;
    for (const auto& entry : std::filesystem::directory_iterator(version_dir)) {
      std::smatch m;
      const std::string file = entry.path().filename().string();
      if (!std::regex_match(file, m, name)) continue;
      SCOPED_TRACE(version_dir.path().filename().string() + "/" + file);
      const auto api_key = static_cast<int16_t>(std::stoi(m[1]));
      const auto version = static_cast<int16_t>(std::stoi(m[2]));
      EXPECT_EQ(check_frame(api_key, version, read_file(entry.path())), 1);
      ++files;
    }
  }
  // Both brokers' captures are present (a missing directory must not pass silently).
  EXPECT_GE(files, 13);
}

TEST(protocol_captured, a_fetch_from_kafka_4_carries_records) {
  const auto frame = read_file(fixtures / "kafka-4.1.1" / "1-v18.bin");
  wire_reader reader(bytes_view(frame.data(), frame.size()));
  ASSERT_TRUE(decode_response_header(reader, response_header_version(1, 18)).has_value());
  auto fetch = decode_response_body<msg::fetch_response>(
      bytes_view(frame.data() + reader.offset(), frame.size() - reader.offset()), 18);
  ASSERT_TRUE(fetch.has_value());
  std::size_t record_bytes = 0;
  for (const auto& t : fetch->responses) {
    for (const auto& p : t.partitions)
      record_bytes += p.records ? p.records->size() : 0;
  }
  EXPECT_GT(record_bytes, 1000u);
}

}  // namespace
