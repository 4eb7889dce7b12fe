#include "kafka/records.h"

#include <algorithm>
#include <string>

#include "kafka/crc32c.h"
#include "kafka/record_batch_detail.h"

namespace klink::kafka {
namespace {

using kind = batch_error_kind;
namespace L = batch_layout;

std::unexpected<batch_error> corrupt(std::string message) {
  return std::unexpected(batch_error{kind::corrupt_records, std::move(message)});
}

// Signed arithmetic on untrusted timestamps must not overflow (that would be
// undefined behaviour); Java wraps, and so do we.
std::int64_t wrap_add(std::int64_t a, std::int64_t b) {
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(a) + static_cast<std::uint64_t>(b));
}
std::int64_t wrap_sub(std::int64_t a, std::int64_t b) {
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(a) - static_cast<std::uint64_t>(b));
}

// ------------------------------------------------------------ varints
// Zigzag base-128 varints as in Kafka's ByteUtils. Like Java, bits beyond
// the type's width in the last permitted byte are dropped rather than
// rejected, so we accept exactly what a Java broker accepts.

class reader {
 public:
  explicit reader(bytes_view data) : data_(data) {}

  std::size_t remaining() const { return data_.size() - pos_; }

  std::optional<std::uint64_t> raw_varint(int max_bytes) {
    std::uint64_t v = 0;
    for (int i = 0; i < max_bytes; ++i) {
      if (pos_ >= data_.size()) return std::nullopt;
      const auto b = static_cast<std::uint8_t>(data_[pos_++]);
      v |= static_cast<std::uint64_t>(b & 0x7Fu) << (7 * i);
      if ((b & 0x80u) == 0) return v;
    }
    return std::nullopt;  // too long
  }

  std::optional<std::int32_t> varint() {
    auto raw = raw_varint(5);
    if (!raw) return std::nullopt;
    const auto u = static_cast<std::uint32_t>(*raw);
    return static_cast<std::int32_t>((u >> 1) ^ (~(u & 1u) + 1u));
  }

  std::optional<std::int64_t> varlong() {
    auto raw = raw_varint(10);
    if (!raw) return std::nullopt;
    const std::uint64_t u = *raw;
    return static_cast<std::int64_t>((u >> 1) ^ (~(u & 1u) + 1u));
  }

  std::optional<std::int8_t> int8() {
    if (pos_ >= data_.size()) return std::nullopt;
    return static_cast<std::int8_t>(data_[pos_++]);
  }

  std::optional<bytes_view> take(std::size_t n) {
    if (n > remaining()) return std::nullopt;
    bytes_view v = data_.subspan(pos_, n);
    pos_ += n;
    return v;
  }

 private:
  bytes_view data_;
  std::size_t pos_ = 0;
};

void put_raw_varint(byte_vector& out, std::uint64_t u) {
  while (u >= 0x80u) {
    out.push_back(static_cast<std::byte>((u & 0x7Fu) | 0x80u));
    u >>= 7;
  }
  out.push_back(static_cast<std::byte>(u));
}

std::uint32_t zigzag32(std::int32_t v) {
  return (static_cast<std::uint32_t>(v) << 1) ^ static_cast<std::uint32_t>(v >> 31);
}
std::uint64_t zigzag64(std::int64_t v) {
  return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}

void put_varint(byte_vector& out, std::int32_t v) {
  put_raw_varint(out, zigzag32(v));
}
void put_varlong(byte_vector& out, std::int64_t v) {
  put_raw_varint(out, zigzag64(v));
}

std::size_t raw_varint_size(std::uint64_t u) {
  std::size_t n = 1;
  while (u >= 0x80u) {
    u >>= 7;
    ++n;
  }
  return n;
}
std::size_t varint_size(std::int32_t v) {
  return raw_varint_size(zigzag32(v));
}
std::size_t varlong_size(std::int64_t v) {
  return raw_varint_size(zigzag64(v));
}

std::size_t nullable_bytes_size(const std::optional<bytes_view>& b) {
  if (!b) return varint_size(-1);
  return varint_size(static_cast<std::int32_t>(b->size())) + b->size();
}

void put_nullable_bytes(byte_vector& out, const std::optional<bytes_view>& b) {
  if (!b) {
    put_varint(out, -1);
    return;
  }
  put_varint(out, static_cast<std::int32_t>(b->size()));
  out.insert(out.end(), b->begin(), b->end());
}

// A length prefix: -1 means null, other negatives are corrupt.
std::expected<std::optional<bytes_view>, batch_error> read_nullable_bytes(reader& in,
                                                                          const char* what) {
  auto len = in.varint();
  if (!len) return corrupt(std::string("bad varint in ") + what + " length");
  if (*len == -1) return std::optional<bytes_view>{};
  if (*len < 0) return corrupt(std::string("negative ") + what + " length");
  auto b = in.take(static_cast<std::size_t>(*len));
  if (!b) return corrupt(std::string(what) + " runs past the record");
  return std::optional<bytes_view>{*b};
}

std::expected<record, batch_error> decode_record_body(bytes_view body) {
  reader in(body);
  record r;
  auto attrs = in.int8();
  auto ts = in.varlong();
  auto off = ts ? in.varint() : std::nullopt;
  if (!attrs || !ts || !off) return corrupt("truncated record prefix");
  r.attributes = *attrs;
  r.timestamp_delta = *ts;
  r.offset_delta = *off;
  auto key = read_nullable_bytes(in, "key");
  if (!key) return std::unexpected(key.error());
  r.key = *key;
  auto value = read_nullable_bytes(in, "value");
  if (!value) return std::unexpected(value.error());
  r.value = *value;
  auto count = in.varint();
  if (!count || *count < 0) return corrupt("bad header count");
  // Each header takes at least two bytes; this bounds the reservation.
  if (static_cast<std::size_t>(*count) > in.remaining() / 2)
    return corrupt("header count exceeds the record");
  r.headers.reserve(static_cast<std::size_t>(*count));
  for (std::int32_t i = 0; i < *count; ++i) {
    auto klen = in.varint();
    if (!klen || *klen < 0) return corrupt("bad header key length");
    auto k = in.take(static_cast<std::size_t>(*klen));
    if (!k) return corrupt("header key runs past the record");
    auto v = read_nullable_bytes(in, "header value");
    if (!v) return std::unexpected(v.error());
    r.headers.push_back(
        {std::string_view(reinterpret_cast<const char*>(k->data()), k->size()), *v});
  }
  if (in.remaining() != 0)
    return corrupt("record length says " + std::to_string(body.size()) + " bytes but " +
                   std::to_string(body.size() - in.remaining()) + " were used");
  return r;
}

// The smallest possible record: length, attributes, timestamp delta, offset
// delta, key length, value length, header count - one byte each.
constexpr std::size_t min_record_size = 7;

struct batch_fields {
  std::uint16_t attributes = 0;  // without codec bits
  compression_codec codec = compression_codec::none;
  std::int64_t base_timestamp = 0;
  std::int64_t max_timestamp = 0;
  std::int64_t producer_id = no_producer_id;
  std::int16_t producer_epoch = no_producer_epoch;
  std::int32_t base_sequence = no_sequence;
  std::int32_t count = 0;
};

std::expected<byte_vector, batch_error> assemble_batch(const batch_fields& f,
                                                       bytes_view plain_records) {
  using detail::store_be;
  auto compressed = compress(f.codec, plain_records);
  if (!compressed) return std::unexpected(compressed.error());
  const std::size_t total = L::header_size + compressed->size();
  if (total - L::log_overhead > static_cast<std::size_t>(INT32_MAX))
    return std::unexpected(batch_error{kind::too_large, "batch exceeds 2 GiB"});
  byte_vector out(total);
  std::byte* p = out.data();
  store_be(p + L::base_offset, std::int64_t{0});
  store_be(p + L::length, static_cast<std::int32_t>(total - L::log_overhead));
  store_be(p + L::partition_leader_epoch, no_partition_leader_epoch);
  store_be(p + L::magic, record_batch_magic);
  store_be(p + L::attributes,
           static_cast<std::uint16_t>((f.attributes & ~batch_attributes::codec_mask) |
                                      static_cast<std::uint16_t>(f.codec)));
  store_be(p + L::last_offset_delta, f.count - 1);
  store_be(p + L::base_timestamp, f.base_timestamp);
  store_be(p + L::max_timestamp, f.max_timestamp);
  store_be(p + L::producer_id, f.producer_id);
  store_be(p + L::producer_epoch, f.producer_epoch);
  store_be(p + L::base_sequence, f.base_sequence);
  store_be(p + L::records_count, f.count);
  std::copy(compressed->begin(), compressed->end(), out.begin() + L::records);
  store_be(p + L::crc, crc32c(bytes_view(out).subspan(L::crc_start)));
  return out;
}

bool known_codec(compression_codec c) {
  return static_cast<std::uint8_t>(c) <= static_cast<std::uint8_t>(compression_codec::zstd);
}

bool fits_int32(std::size_t n) {
  return n <= static_cast<std::size_t>(INT32_MAX);
}

std::expected<void, batch_error> check_record_sizes(const std::optional<bytes_view>& key,
                                                    const std::optional<bytes_view>& value,
                                                    const std::vector<record_header>& headers) {
  bool ok = (!key || fits_int32(key->size())) && (!value || fits_int32(value->size())) &&
            fits_int32(headers.size());
  for (const auto& h : headers)
    ok = ok && fits_int32(h.key.size()) && (!h.value || fits_int32(h.value->size()));
  if (!ok) return std::unexpected(batch_error{kind::invalid_argument, "record field over 2 GiB"});
  return {};
}

}  // namespace

std::expected<std::vector<record>, batch_error> decode_record_sequence(bytes_view data,
                                                                       std::int32_t count) {
  if (count < 0) return corrupt("negative records count " + std::to_string(count));
  if (static_cast<std::size_t>(count) > data.size() / min_record_size)
    return corrupt("records count " + std::to_string(count) + " cannot fit in " +
                   std::to_string(data.size()) + " bytes");
  std::vector<record> out;
  out.reserve(static_cast<std::size_t>(count));
  reader in(data);
  for (std::int32_t i = 0; i < count; ++i) {
    auto len = in.varint();
    if (!len || *len < 0) return corrupt("bad length of record " + std::to_string(i));
    auto body = in.take(static_cast<std::size_t>(*len));
    if (!body) return corrupt("record " + std::to_string(i) + " runs past the batch");
    auto r = decode_record_body(*body);
    if (!r) {
      r.error().message = "record " + std::to_string(i) + ": " + r.error().message;
      return std::unexpected(r.error());
    }
    out.push_back(std::move(*r));
  }
  if (in.remaining() != 0)
    return corrupt(std::to_string(in.remaining()) + " bytes left after " + std::to_string(count) +
                   " records");
  return out;
}

std::expected<decoded_records, batch_error> decode_records(const record_batch_view& batch,
                                                           std::size_t max_decompressed) {
  const compression_codec codec = batch.codec();
  if (!known_codec(codec))
    return std::unexpected(batch_error{
        kind::unsupported_codec,
        "compression codec " + std::to_string(static_cast<int>(codec)) + " is unknown"});
  decoded_records out;
  bytes_view plain = batch.records_section();
  if (codec != compression_codec::none) {
    auto d = decompress(codec, plain, max_decompressed);
    if (!d) return std::unexpected(d.error());
    out.buffer = std::move(*d);
    plain = out.buffer;
  }
  auto records = decode_record_sequence(plain, batch.records_count());
  if (!records) return std::unexpected(records.error());
  out.records = std::move(*records);
  return out;
}

void encode_record(byte_vector& out, const record& r) {
  std::size_t body = 1 + varlong_size(r.timestamp_delta) + varint_size(r.offset_delta) +
                     nullable_bytes_size(r.key) + nullable_bytes_size(r.value) +
                     varint_size(static_cast<std::int32_t>(r.headers.size()));
  for (const auto& h : r.headers)
    body += varint_size(static_cast<std::int32_t>(h.key.size())) + h.key.size() +
            nullable_bytes_size(h.value);
  out.reserve(out.size() + body + 5);
  put_varint(out, static_cast<std::int32_t>(body));
  out.push_back(static_cast<std::byte>(r.attributes));
  put_varlong(out, r.timestamp_delta);
  put_varint(out, r.offset_delta);
  put_nullable_bytes(out, r.key);
  put_nullable_bytes(out, r.value);
  put_varint(out, static_cast<std::int32_t>(r.headers.size()));
  for (const auto& h : r.headers) {
    put_varint(out, static_cast<std::int32_t>(h.key.size()));
    const auto* k = reinterpret_cast<const std::byte*>(h.key.data());
    out.insert(out.end(), k, k + h.key.size());
    put_nullable_bytes(out, h.value);
  }
}

std::expected<byte_vector, batch_error> rebuild_batch(const record_batch_view& src,
                                                      const rebuild_options& opt) {
  auto decoded = decode_records(src, opt.max_decompressed_size);
  if (!decoded) return std::unexpected(decoded.error());
  auto& records = decoded->records;
  if (records.empty())
    return std::unexpected(
        batch_error{kind::invalid_argument, "an empty batch cannot be rebuilt for produce"});
  // Compaction removes records but never reorders them: offset deltas that do
  // not increase inside the batch's range place no record at a known offset.
  std::int64_t previous_delta = -1;
  for (const auto& r : records) {
    if (r.offset_delta <= previous_delta || r.offset_delta > src.last_offset_delta())
      return corrupt("record offset delta " + std::to_string(r.offset_delta) + " after " +
                     std::to_string(previous_delta) + " in a batch of last offset delta " +
                     std::to_string(src.last_offset_delta()));
    previous_delta = r.offset_delta;
  }

  const bool lat = src.has_log_append_time();
  const bool convert = lat && opt.log_append_time_to_create_time;
  auto absolute = [&](const record& r) {
    return convert ? src.max_timestamp() : wrap_add(src.base_timestamp(), r.timestamp_delta);
  };

  batch_fields f;
  f.attributes = src.attributes() & ~batch_attributes::delete_horizon;
  if (convert) f.attributes &= ~batch_attributes::log_append_time;
  f.codec = src.codec();
  f.base_timestamp = absolute(records.front());
  f.max_timestamp = f.base_timestamp;
  for (const auto& r : records)
    f.max_timestamp = std::max(f.max_timestamp, absolute(r));
  // A LogAppendTime batch's max timestamp is the broker's append time, not
  // derived from the records; keep it.
  if (lat && !convert) f.max_timestamp = src.max_timestamp();
  f.producer_id = src.producer_id();
  f.producer_epoch = src.producer_epoch();
  f.base_sequence = src.base_sequence();
  f.count = static_cast<std::int32_t>(records.size());

  byte_vector plain;
  plain.reserve(src.records_section().size() + decoded->buffer.size());
  std::int32_t delta = 0;
  for (auto& r : records) {
    const std::int64_t ts = absolute(r);
    r.timestamp_delta = wrap_sub(ts, f.base_timestamp);
    r.offset_delta = delta++;
    encode_record(plain, r);
  }
  return assemble_batch(f, plain);
}

std::expected<byte_vector, batch_error> build_batch(compression_codec codec,
                                                    std::int64_t base_timestamp,
                                                    std::span<const record_to_write> records) {
  if (!known_codec(codec))
    return std::unexpected(batch_error{kind::unsupported_codec, "unknown compression codec"});
  if (records.empty())
    return std::unexpected(batch_error{kind::invalid_argument, "a batch needs a record"});
  if (!fits_int32(records.size()))
    return std::unexpected(batch_error{kind::invalid_argument, "too many records"});
  batch_fields f;
  f.codec = codec;
  f.base_timestamp = base_timestamp;
  f.max_timestamp = records.front().timestamp;
  f.count = static_cast<std::int32_t>(records.size());
  byte_vector plain;
  std::int32_t delta = 0;
  for (const auto& w : records) {
    if (auto ok = check_record_sizes(w.key, w.value, w.headers); !ok)
      return std::unexpected(ok.error());
    f.max_timestamp = std::max(f.max_timestamp, w.timestamp);
    record r;
    r.timestamp_delta = wrap_sub(w.timestamp, base_timestamp);
    r.offset_delta = delta++;
    r.key = w.key;
    r.value = w.value;
    r.headers = w.headers;
    encode_record(plain, r);
  }
  return assemble_batch(f, plain);
}

}  // namespace klink::kafka
