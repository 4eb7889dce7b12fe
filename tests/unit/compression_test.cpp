#include "kafka/compression.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace klink::kafka {
namespace {

constexpr compression_codec all_codecs[] = {compression_codec::none, compression_codec::gzip,
                                            compression_codec::snappy, compression_codec::lz4,
                                            compression_codec::zstd};

bytes_view sv(std::string_view s) {
  return as_bytes_view(s.data(), s.size());
}
template <std::size_t N>
bytes_view arr(const unsigned char (&a)[N]) {
  return as_bytes_view(a, N);
}
std::string str(const byte_vector& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size());
}

std::string fixture_plain() {
  std::string s;
  for (int i = 0; i < 20; ++i)
    s += "klink compression fixture, ";
  return s;
}

// Fixtures made by second implementations (the gzip, zstd and lz4 command
// line tools) from fixture_plain(); see each comment for the command.
// `gzip -9 -n` (GNU gzip 1.12)
constexpr unsigned char gzip_fixture[] = {
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xcb, 0xce, 0xc9,
    0xcc, 0xcb, 0x56, 0x48, 0xce, 0xcf, 0x2d, 0x28, 0x4a, 0x2d, 0x2e, 0xce, 0xcc,
    0xcf, 0x53, 0x48, 0xcb, 0xac, 0x28, 0x29, 0x2d, 0x4a, 0xd5, 0x51, 0xc8, 0x1e,
    0x95, 0x1a, 0xd9, 0x52, 0x00, 0x33, 0xb8, 0xfc, 0x70, 0x1c, 0x02, 0x00, 0x00};

// `zstd -19` from a pipe: no content size in the frame, with checksum
constexpr unsigned char zstd_streamed_fixture[] = {
    0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x68, 0x15, 0x01, 0x00, 0xd8, 0x6b, 0x6c, 0x69, 0x6e, 0x6b, 0x20,
    0x63, 0x6f, 0x6d, 0x70, 0x72, 0x65, 0x73, 0x73, 0x69, 0x6f, 0x6e, 0x20, 0x66, 0x69, 0x78, 0x74,
    0x75, 0x72, 0x65, 0x2c, 0x20, 0x01, 0x00, 0xfb, 0xbb, 0x3a, 0xc7, 0x11, 0x7f, 0x9f, 0x2f};

// `zstd` from a file: content size present
constexpr unsigned char zstd_sized_fixture[] = {
    0x28, 0xb5, 0x2f, 0xfd, 0x64, 0x1c, 0x01, 0x15, 0x01, 0x00, 0xd8, 0x6b, 0x6c, 0x69, 0x6e, 0x6b,
    0x20, 0x63, 0x6f, 0x6d, 0x70, 0x72, 0x65, 0x73, 0x73, 0x69, 0x6f, 0x6e, 0x20, 0x66, 0x69, 0x78,
    0x74, 0x75, 0x72, 0x65, 0x2c, 0x20, 0x01, 0x00, 0xfb, 0xbb, 0x3a, 0xc7, 0x11, 0x7f, 0x9f, 0x2f};

// `lz4 -B4 -BI --no-frame-crc` (lz4 CLI 1.9.4): the frame shape Kafka writes
constexpr unsigned char lz4_kafka_fixture[] = {
    0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82, 0x27, 0x00, 0x00, 0x00, 0xff, 0x0c, 0x6b,
    0x6c, 0x69, 0x6e, 0x6b, 0x20, 0x63, 0x6f, 0x6d, 0x70, 0x72, 0x65, 0x73, 0x73, 0x69,
    0x6f, 0x6e, 0x20, 0x66, 0x69, 0x78, 0x74, 0x75, 0x72, 0x65, 0x2c, 0x20, 0x1b, 0x00,
    0xff, 0xea, 0x50, 0x75, 0x72, 0x65, 0x2c, 0x20, 0x00, 0x00, 0x00, 0x00};

// `lz4 -BD --frame-crc`: linked blocks and a content checksum
constexpr unsigned char lz4_linked_fixture[] = {
    0x04, 0x22, 0x4d, 0x18, 0x64, 0x40, 0xa7, 0x27, 0x00, 0x00, 0x00, 0xff, 0x0c, 0x6b, 0x6c,
    0x69, 0x6e, 0x6b, 0x20, 0x63, 0x6f, 0x6d, 0x70, 0x72, 0x65, 0x73, 0x73, 0x69, 0x6f, 0x6e,
    0x20, 0x66, 0x69, 0x78, 0x74, 0x75, 0x72, 0x65, 0x2c, 0x20, 0x1b, 0x00, 0xff, 0xea, 0x50,
    0x75, 0x72, 0x65, 0x2c, 0x20, 0x00, 0x00, 0x00, 0x00, 0x90, 0xcf, 0x4a, 0x92};

// Hand-assembled raw snappy (the format librdkafka sends): preamble varint
// 12, a 4-byte literal "abcd" (tag 0x0c), then a copy of length 8 at offset
// 4 (tag 0x11, offset byte 0x04) -> "abcdabcdabcd".
constexpr unsigned char snappy_raw_fixture[] = {0x0c, 0x0c, 'a', 'b', 'c', 'd', 0x11, 0x04};

// Hand-assembled xerial framing (snappy-java's SnappyOutputStream, what the
// Java client sends): magic, version 1, compatible version 1, then two
// chunks, each a big-endian length and a raw snappy block.
constexpr unsigned char snappy_xerial_fixture[] = {
    0x82, 'S', 'N', 'A', 'P',  'P',  'Y', 0x00, 0,   0,   0,    1,    0, 0, 0, 1,  // header
    0,    0,   0,   8,   0x0c, 0x0c, 'a', 'b',  'c', 'd', 0x11, 0x04,              // "abcdabcdabcd"
    0,    0,   0,   4,   0x02, 0x04, 'h', 'i',                                     // literal "hi"
};

TEST(Compression, CodecNames) {
  EXPECT_EQ(to_string(compression_codec::none), "none");
  EXPECT_EQ(to_string(compression_codec::gzip), "gzip");
  EXPECT_EQ(to_string(compression_codec::snappy), "snappy");
  EXPECT_EQ(to_string(compression_codec::lz4), "lz4");
  EXPECT_EQ(to_string(compression_codec::zstd), "zstd");
  EXPECT_EQ(static_cast<int>(compression_codec::zstd), 4);
}

TEST(Compression, RoundTripEveryCodecAndSize) {
  std::mt19937 rng(7);
  for (std::size_t size :
       {0, 1, 13, 1000, 32 * 1024 - 1, 32 * 1024, 32 * 1024 + 1, 65536, 200001}) {
    byte_vector data(size);
    // Half compressible text, half noise: exercises both block kinds.
    for (std::size_t i = 0; i < size; ++i)
      data[i] = i < size / 2 ? std::byte("abcdefgh"[i % 8]) : std::byte(rng());
    for (auto codec : all_codecs) {
      auto c = compress(codec, data);
      ASSERT_TRUE(c) << to_string(codec) << " " << size << ": " << c.error().message;
      auto d = decompress(codec, *c);
      ASSERT_TRUE(d) << to_string(codec) << " " << size << ": " << d.error().message;
      EXPECT_EQ(*d, data) << to_string(codec) << " " << size;
    }
  }
}

TEST(Compression, DecodesGzipFromGnuGzip) {
  auto d = decompress(compression_codec::gzip, arr(gzip_fixture));
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(str(*d), fixture_plain());
}

TEST(Compression, DecodesConcatenatedGzipMembers) {
  auto b = reinterpret_cast<const std::byte*>(gzip_fixture);
  byte_vector two(b, b + sizeof gzip_fixture);
  two.insert(two.end(), b, b + sizeof gzip_fixture);
  auto d = decompress(compression_codec::gzip, two);
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(str(*d), fixture_plain() + fixture_plain());
}

TEST(Compression, GzipOutputIsAGzipMember) {
  auto c = compress(compression_codec::gzip, sv("hello"));
  ASSERT_TRUE(c);
  ASSERT_GE(c->size(), 18u);
  EXPECT_EQ((*c)[0], std::byte{0x1f});
  EXPECT_EQ((*c)[1], std::byte{0x8b});
  EXPECT_EQ((*c)[2], std::byte{8});  // deflate
}

TEST(Compression, DecodesZstdWithAndWithoutContentSize) {
  for (bytes_view in : {arr(zstd_streamed_fixture), arr(zstd_sized_fixture)}) {
    auto d = decompress(compression_codec::zstd, in);
    ASSERT_TRUE(d) << d.error().message;
    EXPECT_EQ(str(*d), fixture_plain());
  }
}

TEST(Compression, DecodesLz4FramesFromLz4Cli) {
  for (bytes_view in : {arr(lz4_kafka_fixture), arr(lz4_linked_fixture)}) {
    auto d = decompress(compression_codec::lz4, in);
    ASSERT_TRUE(d) << d.error().message;
    EXPECT_EQ(str(*d), fixture_plain());
  }
}

TEST(Compression, Lz4FrameHeaderIsWhatKafkaWrites) {
  // Magic 0x184D2204 (LE), FLG 0x60 = version 01 + independent blocks and no
  // checksums or content size, BD 0x40 = 64 KiB blocks, then the header
  // checksum byte. The lz4 CLI with the same settings writes the same
  // 7 bytes (see lz4_kafka_fixture), Kafka's Lz4BlockOutputStream too.
  auto c = compress(compression_codec::lz4, sv(fixture_plain()));
  ASSERT_TRUE(c);
  ASSERT_GE(c->size(), 7u);
  EXPECT_EQ(std::memcmp(c->data(), lz4_kafka_fixture, 7), 0);
  // End mark: a zero block size, and no content checksum after it.
  ASSERT_GE(c->size(), 11u);
  const std::byte* end = c->data() + c->size() - 4;
  EXPECT_EQ(std::memcmp(end, "\0\0\0\0", 4), 0);
}

TEST(Compression, DecodesRawAndXerialSnappy) {
  auto raw = decompress(compression_codec::snappy, arr(snappy_raw_fixture));
  ASSERT_TRUE(raw) << raw.error().message;
  EXPECT_EQ(str(*raw), "abcdabcdabcd");
  auto xerial = decompress(compression_codec::snappy, arr(snappy_xerial_fixture));
  ASSERT_TRUE(xerial) << xerial.error().message;
  EXPECT_EQ(str(*xerial), "abcdabcdabcdhi");
}

TEST(Compression, SnappyOutputUsesXerialFramingIn32KiBChunks) {
  byte_vector data(70000, std::byte{'x'});
  auto c = compress(compression_codec::snappy, data);
  ASSERT_TRUE(c);
  ASSERT_GE(c->size(), 16u);
  EXPECT_EQ(std::memcmp(c->data(), snappy_xerial_fixture, 16), 0);
  // Walk the chunks: 70000 bytes = 32768 + 32768 + 4464.
  std::size_t pos = 16;
  int chunks = 0;
  while (pos < c->size()) {
    ASSERT_LE(pos + 4, c->size());
    const auto* p = reinterpret_cast<const unsigned char*>(c->data() + pos);
    const std::size_t len = (std::size_t(p[0]) << 24) | (p[1] << 16) | (p[2] << 8) | p[3];
    pos += 4 + len;
    ++chunks;
  }
  EXPECT_EQ(pos, c->size());
  EXPECT_EQ(chunks, 3);
}

TEST(Compression, EmptyInputHasValidFraming) {
  for (auto codec : all_codecs) {
    auto c = compress(codec, {});
    ASSERT_TRUE(c);
    auto d = decompress(codec, *c);
    ASSERT_TRUE(d) << to_string(codec) << ": " << d.error().message;
    EXPECT_TRUE(d->empty());
  }
}

TEST(Compression, LimitStopsZipBombs) {
  byte_vector zeros(4 << 20, std::byte{0});
  for (auto codec : all_codecs) {
    auto c = compress(codec, zeros);
    ASSERT_TRUE(c);
    auto d = decompress(codec, *c, 1 << 20);
    ASSERT_FALSE(d) << to_string(codec);
    EXPECT_EQ(d.error().kind, batch_error::kind::too_large) << to_string(codec);
    // Exactly at the limit is fine.
    auto exact = decompress(codec, *c, zeros.size());
    ASSERT_TRUE(exact) << to_string(codec) << ": " << exact.error().message;
    EXPECT_EQ(exact->size(), zeros.size());
  }
}

TEST(Compression, SnappyLyingLengthHeaderIsRejected) {
  // Preamble claims 2^32-ish bytes: must fail on the limit, not allocate.
  const unsigned char lie[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x00, 'a'};
  auto d = decompress(compression_codec::snappy, arr(lie));
  ASSERT_FALSE(d);
  // Preamble says 12 but the block only produces 4.
  const unsigned char short_block[] = {0x0c, 0x0c, 'a', 'b', 'c', 'd'};
  EXPECT_FALSE(decompress(compression_codec::snappy, arr(short_block)));
}

// Found by fuzz_batch_transform: a claim under the limit was allocated and
// zeroed before the block turned out corrupt, so a 130-byte batch cost
// 256 MiB (and seconds) per decode. The block is validated first now.
TEST(Compression, SnappyLyingLengthUnderTheLimitFailsAsCorrupt) {
  const unsigned char lie[] = {0x80, 0x80, 0x80, 0x64, 0x00, 'a'};  // claims 200 MiB
  auto d = decompress(compression_codec::snappy, arr(lie));
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().kind, batch_error::kind::decompression_failed);
}

TEST(Compression, TruncatedAndCorruptInputsFailCleanly) {
  std::mt19937 rng(99);
  byte_vector data(50000);
  for (std::size_t i = 0; i < data.size(); ++i)
    data[i] = std::byte("kafka"[i % 5] ^ (i / 1000));
  for (auto codec : all_codecs) {
    if (codec == compression_codec::none) continue;
    auto c = compress(codec, data);
    ASSERT_TRUE(c);
    // Every strict prefix must fail (or, never, yield the full output).
    for (std::size_t cut = 0; cut < c->size(); cut += 1 + cut / 16) {
      auto d = decompress(codec, bytes_view(*c).first(cut));
      if (d) {
        EXPECT_NE(*d, data) << to_string(codec) << " cut " << cut;
      }
    }
    // Random byte flips must never crash (sanitizers watch this).
    for (int i = 0; i < 300; ++i) {
      byte_vector bad = *c;
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int f = 0; f < flips; ++f)
        bad[rng() % bad.size()] ^= std::byte(1 + rng() % 255);
      (void)decompress(codec, bad, 1 << 20);
    }
    // Pure garbage too.
    byte_vector junk(300);
    for (auto& b : junk)
      b = std::byte(rng());
    (void)decompress(codec, junk, 1 << 20);
  }
}

TEST(Compression, UnknownCodecIsReported) {
  auto bad = static_cast<compression_codec>(5);
  auto c = compress(bad, sv("x"));
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().kind, batch_error::kind::unsupported_codec);
  auto d = decompress(bad, sv("x"));
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().kind, batch_error::kind::unsupported_codec);
}

}  // namespace
}  // namespace klink::kafka
