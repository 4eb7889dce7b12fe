// Kafka's record compression codecs, with the exact framings Kafka uses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <string_view>

#include "kafka/batch_error.h"
#include "kafka/protocol/bytes.h"

namespace klink::kafka {

// Values are the codec bits (0-2) of RecordBatch attributes.
enum class compression_codec : std::uint8_t { none = 0, gzip = 1, snappy = 2, lz4 = 3, zstd = 4 };

std::string_view to_string(compression_codec codec);

// Decompression stops with kind::too_large past this many bytes, so a small
// hostile batch (a "zip bomb") cannot exhaust memory. Generous on purpose:
// a topic's max.message.bytes bounds the compressed size, not this.
inline constexpr std::size_t default_max_decompressed_size = std::size_t{256} << 20;

// Output formats, chosen so any Kafka broker (2.8 .. 4.x) reads them:
//   gzip   - RFC 1952 gzip member (what java.util.zip.GZIPOutputStream writes)
//   snappy - xerial snappy-java SnappyOutputStream framing: 16-byte header,
//            then big-endian int32 length + raw snappy block per 32 KiB chunk
//   lz4    - LZ4 frame, independent 64 KiB blocks, no checksums or content
//            size (what Kafka's Lz4BlockOutputStream writes)
//   zstd   - one standard zstd frame
std::expected<byte_vector, batch_error> compress(compression_codec codec, bytes_view data);

// Accepts what Kafka clients really send: gzip or zlib streams (also
// concatenated gzip members), xerial-framed OR raw snappy (librdkafka
// writes raw snappy blocks), any LZ4 frame, one or more zstd frames with or
// without a content size.
std::expected<byte_vector, batch_error> decompress(
    compression_codec codec, bytes_view data, std::size_t max_size = default_max_decompressed_size);

}  // namespace klink::kafka
