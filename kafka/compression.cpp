#include "kafka/compression.h"

#include <lz4frame.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <string>

namespace klink::kafka {
namespace {

using kind = batch_error_kind;

std::unexpected<batch_error> fail(kind k, std::string message) {
  return std::unexpected(batch_error{k, std::move(message)});
}

std::string over_limit(std::string_view codec, std::size_t max_size) {
  return std::string(codec) + ": output exceeds " + std::to_string(max_size) + " bytes";
}

const char* as_chars(const std::byte* p) {
  return reinterpret_cast<const char*>(p);
}
char* as_chars(std::byte* p) {
  return reinterpret_cast<char*>(p);
}

// Output grows in steps of this much so a hostile length field never makes
// us allocate more than we are about to fill.
constexpr std::size_t growth_step = 64 * 1024;

// Makes room for up to `want` more bytes in `out` without passing `max_size`;
// returns the writable window (empty only when the limit is reached).
std::span<std::byte> grow(byte_vector& out, std::size_t used, std::size_t max_size,
                          std::size_t want = growth_step) {
  const std::size_t room = max_size - used;  // used <= max_size always holds
  const std::size_t n = std::min(want, room);
  if (out.size() < used + n) out.resize(used + n);
  return {out.data() + used, n};
}

// ---------------------------------------------------------------- gzip

std::expected<byte_vector, batch_error> gzip_compress(bytes_view in) {
  z_stream zs{};
  // 15 window bits + 16 = write a gzip wrapper (what GZIPOutputStream does).
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return fail(kind::compression_failed, "gzip: deflateInit2 failed");
  byte_vector out(deflateBound(&zs, in.size()) + 32);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  const std::size_t written = zs.total_out;
  deflateEnd(&zs);
  if (rc != Z_STREAM_END)
    return fail(kind::compression_failed, "gzip: deflate rc=" + std::to_string(rc));
  out.resize(written);
  return out;
}

std::expected<byte_vector, batch_error> gzip_decompress(bytes_view in, std::size_t max_size) {
  z_stream zs{};
  // +32: accept gzip or zlib headers alike.
  if (inflateInit2(&zs, 15 + 32) != Z_OK)
    return fail(kind::decompression_failed, "gzip: inflateInit2 failed");
  std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&zs, &inflateEnd);
  byte_vector out;
  std::size_t used = 0;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  for (;;) {
    auto window = grow(out, used, max_size);
    if (window.empty()) {
      // Exactly at the limit: fine only if the stream ends here.
      std::array<std::byte, 1> probe;
      zs.next_out = reinterpret_cast<Bytef*>(probe.data());
      zs.avail_out = 1;
      const int rc = inflate(&zs, Z_NO_FLUSH);
      if (rc == Z_STREAM_END && zs.avail_out == 1) break;
      return fail(kind::too_large, over_limit("gzip", max_size));
    }
    zs.next_out = reinterpret_cast<Bytef*>(window.data());
    zs.avail_out = static_cast<uInt>(window.size());
    const int rc = inflate(&zs, Z_NO_FLUSH);
    used += window.size() - zs.avail_out;
    if (rc == Z_STREAM_END) {
      // Java's GZIPInputStream reads concatenated members; do the same when
      // another gzip header follows, and ignore anything else after the end.
      if (zs.avail_in >= 2 && zs.next_in[0] == 0x1f && zs.next_in[1] == 0x8b) {
        if (inflateReset(&zs) != Z_OK)
          return fail(kind::decompression_failed, "gzip: reset failed");
        continue;
      }
      break;
    }
    if (rc == Z_BUF_ERROR && zs.avail_in == 0)
      return fail(kind::truncated, "gzip: stream ends before its trailer");
    if (rc != Z_OK && rc != Z_BUF_ERROR)
      return fail(kind::decompression_failed,
                  std::string("gzip: ") + (zs.msg != nullptr ? zs.msg : "inflate failed"));
  }
  out.resize(used);
  return out;
}

// ---------------------------------------------------------------- snappy

// xerial snappy-java's stream header: magic, then format version 1 and
// minimum compatible version 1, both big-endian int32.
constexpr std::array<unsigned char, 8> xerial_magic = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
constexpr std::size_t xerial_header_size = 16;
// SnappyOutputStream's default block size, which Kafka keeps.
constexpr std::size_t xerial_chunk = 32 * 1024;

bool starts_with_xerial_magic(bytes_view in) {
  return in.size() >= xerial_magic.size() &&
         std::memcmp(in.data(), xerial_magic.data(), xerial_magic.size()) == 0;
}

void put_be32(byte_vector& out, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i)
    out[at + i] = std::byte(v >> (24 - 8 * i));
}

std::uint32_t get_be32(const std::byte* p) {
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) |
         std::uint32_t(p[3]);
}

std::expected<byte_vector, batch_error> snappy_compress_xerial(bytes_view in) {
  const std::size_t chunks = (in.size() + xerial_chunk - 1) / xerial_chunk;
  byte_vector out(xerial_header_size + chunks * (4 + snappy_max_compressed_length(xerial_chunk)));
  std::memcpy(out.data(), xerial_magic.data(), xerial_magic.size());
  put_be32(out, 8, 1);
  put_be32(out, 12, 1);
  std::size_t pos = xerial_header_size;
  for (std::size_t off = 0; off < in.size(); off += xerial_chunk) {
    const std::size_t n = std::min(xerial_chunk, in.size() - off);
    std::size_t clen = out.size() - pos - 4;
    if (snappy_compress(as_chars(in.data() + off), n, as_chars(out.data() + pos + 4), &clen) !=
        SNAPPY_OK)
      return fail(kind::compression_failed, "snappy: compress failed");
    put_be32(out, pos, static_cast<std::uint32_t>(clen));
    pos += 4 + clen;
  }
  out.resize(pos);
  return out;
}

// Appends one raw snappy block's output to `out`, respecting the limit.
std::expected<void, batch_error> snappy_raw_append(bytes_view block, byte_vector& out,
                                                   std::size_t max_size) {
  std::size_t n = 0;
  if (snappy_uncompressed_length(as_chars(block.data()), block.size(), &n) != SNAPPY_OK)
    return fail(kind::decompression_failed, "snappy: bad block length header");
  if (n > max_size - out.size()) return fail(kind::too_large, over_limit("snappy", max_size));
  // The length header is the sender's word: a few bytes may claim up to the
  // limit, which resize() would allocate and zero. A block that validates
  // really produces n bytes (snappy expands at most about 20 times), so only
  // then is the output allocated. snappy_uncompress checks every copy against
  // the output length it is given, so it cannot write past `out` either.
  if (snappy_validate_compressed_buffer(as_chars(block.data()), block.size()) != SNAPPY_OK)
    return fail(kind::decompression_failed, "snappy: corrupt block");
  const std::size_t at = out.size();
  out.resize(at + n);
  std::size_t got = n;
  if (snappy_uncompress(as_chars(block.data()), block.size(), as_chars(out.data() + at), &got) !=
          SNAPPY_OK ||
      got != n)
    return fail(kind::decompression_failed, "snappy: corrupt block");
  return {};
}

std::expected<byte_vector, batch_error> snappy_decompress(bytes_view in, std::size_t max_size) {
  byte_vector out;
  if (!starts_with_xerial_magic(in)) {
    // librdkafka (and others) send one raw snappy block without framing;
    // snappy-java falls back to this as well.
    if (auto r = snappy_raw_append(in, out, max_size); !r) return std::unexpected(r.error());
    return out;
  }
  if (in.size() < xerial_header_size) return fail(kind::truncated, "snappy: short xerial header");
  std::size_t pos = xerial_header_size;
  while (pos < in.size()) {
    // snappy-java tolerates concatenated streams: a header may reappear.
    if (starts_with_xerial_magic(in.subspan(pos))) {
      if (in.size() - pos < xerial_header_size)
        return fail(kind::truncated, "snappy: short xerial header");
      pos += xerial_header_size;
      continue;
    }
    if (in.size() - pos < 4) return fail(kind::truncated, "snappy: short chunk length");
    const std::uint32_t len = get_be32(in.data() + pos);
    pos += 4;
    if (len > in.size() - pos) return fail(kind::truncated, "snappy: chunk runs past the input");
    if (auto r = snappy_raw_append(in.subspan(pos, len), out, max_size); !r)
      return std::unexpected(r.error());
    pos += len;
  }
  return out;
}

// ---------------------------------------------------------------- lz4

LZ4F_preferences_t kafka_lz4_preferences() {
  LZ4F_preferences_t p;
  std::memset(&p, 0, sizeof p);
  p.frameInfo.blockSizeID = LZ4F_max64KB;
  // Kafka's reader decompresses each block on its own: linked blocks break it.
  p.frameInfo.blockMode = LZ4F_blockIndependent;
  p.frameInfo.contentChecksumFlag = LZ4F_noContentChecksum;
  p.frameInfo.blockChecksumFlag = LZ4F_noBlockChecksum;
  p.frameInfo.frameType = LZ4F_frame;
  p.frameInfo.contentSize = 0;
  p.compressionLevel = 0;
  return p;
}

std::expected<byte_vector, batch_error> lz4_compress(bytes_view in) {
  const LZ4F_preferences_t prefs = kafka_lz4_preferences();
  byte_vector out(LZ4F_compressFrameBound(in.size(), &prefs));
  const std::size_t n = LZ4F_compressFrame(out.data(), out.size(), in.data(), in.size(), &prefs);
  if (LZ4F_isError(n))
    return fail(kind::compression_failed, std::string("lz4: ") + LZ4F_getErrorName(n));
  out.resize(n);
  return out;
}

std::expected<byte_vector, batch_error> lz4_decompress(bytes_view in, std::size_t max_size) {
  LZ4F_dctx* raw = nullptr;
  if (LZ4F_isError(LZ4F_createDecompressionContext(&raw, LZ4F_VERSION)))
    return fail(kind::decompression_failed, "lz4: cannot create context");
  std::unique_ptr<LZ4F_dctx, LZ4F_errorCode_t (*)(LZ4F_dctx*)> ctx(raw,
                                                                   &LZ4F_freeDecompressionContext);
  byte_vector out;
  std::size_t used = 0;
  std::size_t pos = 0;
  std::size_t hint = 1;
  // Like Kafka's reader, stop at the end of the first frame.
  while (hint != 0) {
    auto window = grow(out, used, max_size);
    std::array<std::byte, 1> probe;
    const bool at_limit = window.empty();
    if (at_limit) window = probe;
    std::size_t dst = window.size();
    std::size_t src = in.size() - pos;
    hint = LZ4F_decompress(ctx.get(), window.data(), &dst, in.data() + pos, &src, nullptr);
    if (LZ4F_isError(hint))
      return fail(kind::decompression_failed, std::string("lz4: ") + LZ4F_getErrorName(hint));
    if (at_limit && dst > 0) return fail(kind::too_large, over_limit("lz4", max_size));
    used += dst;
    pos += src;
    if (hint != 0 && src == 0 && dst == 0) {
      if (at_limit) return fail(kind::too_large, over_limit("lz4", max_size));
      if (pos == in.size()) return fail(kind::truncated, "lz4: frame ends early");
      return fail(kind::decompression_failed, "lz4: decoder made no progress");
    }
  }
  out.resize(used);
  return out;
}

// ---------------------------------------------------------------- zstd

// Kafka's default zstd level.
constexpr int zstd_level = 3;

std::expected<byte_vector, batch_error> zstd_compress(bytes_view in) {
  byte_vector out(ZSTD_compressBound(in.size()));
  const std::size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), zstd_level);
  if (ZSTD_isError(n))
    return fail(kind::compression_failed, std::string("zstd: ") + ZSTD_getErrorName(n));
  out.resize(n);
  return out;
}

std::expected<byte_vector, batch_error> zstd_decompress(bytes_view in, std::size_t max_size) {
  std::unique_ptr<ZSTD_DCtx, std::size_t (*)(ZSTD_DCtx*)> ctx(ZSTD_createDCtx(), &ZSTD_freeDCtx);
  if (!ctx) return fail(kind::decompression_failed, "zstd: cannot create context");
  byte_vector out;
  std::size_t used = 0;
  ZSTD_inBuffer src{in.data(), in.size(), 0};
  std::size_t last = 1;  // != 0 until a frame has been completely decoded
  // Streaming, because producers may omit the content size from the frame.
  while (src.pos < src.size || last != 0) {
    auto window = grow(out, used, max_size);
    std::array<std::byte, 1> probe;
    const bool at_limit = window.empty();
    if (at_limit) window = probe;
    ZSTD_outBuffer dst{window.data(), window.size(), 0};
    const std::size_t before_in = src.pos;
    last = ZSTD_decompressStream(ctx.get(), &dst, &src);
    if (ZSTD_isError(last))
      return fail(kind::decompression_failed, std::string("zstd: ") + ZSTD_getErrorName(last));
    if (at_limit && dst.pos > 0) return fail(kind::too_large, over_limit("zstd", max_size));
    used += dst.pos;
    if (last != 0 && src.pos == src.size && dst.pos < dst.size)
      return fail(kind::truncated, "zstd: frame ends early");
    if (at_limit && src.pos == before_in && last != 0)
      return fail(kind::too_large, over_limit("zstd", max_size));
  }
  out.resize(used);
  return out;
}

}  // namespace

std::string_view to_string(compression_codec codec) {
  switch (codec) {
    case compression_codec::none:
      return "none";
    case compression_codec::gzip:
      return "gzip";
    case compression_codec::snappy:
      return "snappy";
    case compression_codec::lz4:
      return "lz4";
    case compression_codec::zstd:
      return "zstd";
  }
  return "unknown";
}

std::expected<byte_vector, batch_error> compress(compression_codec codec, bytes_view data) {
  switch (codec) {
    case compression_codec::none:
      return byte_vector(data.begin(), data.end());
    case compression_codec::gzip:
      return gzip_compress(data);
    case compression_codec::snappy:
      return snappy_compress_xerial(data);
    case compression_codec::lz4:
      return lz4_compress(data);
    case compression_codec::zstd:
      return zstd_compress(data);
  }
  return fail(kind::unsupported_codec,
              "unknown compression codec " + std::to_string(static_cast<int>(codec)));
}

std::expected<byte_vector, batch_error> decompress(compression_codec codec, bytes_view data,
                                                   std::size_t max_size) {
  switch (codec) {
    case compression_codec::none:
      if (data.size() > max_size) return fail(kind::too_large, over_limit("none", max_size));
      return byte_vector(data.begin(), data.end());
    case compression_codec::gzip:
      return gzip_decompress(data, max_size);
    case compression_codec::snappy:
      return snappy_decompress(data, max_size);
    case compression_codec::lz4:
      return lz4_decompress(data, max_size);
    case compression_codec::zstd:
      return zstd_decompress(data, max_size);
  }
  return fail(kind::unsupported_codec,
              "unknown compression codec " + std::to_string(static_cast<int>(codec)));
}

}  // namespace klink::kafka
