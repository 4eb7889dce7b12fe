#include "kafka/protocol/wire.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>

namespace klink::kafka {

std::string uuid::to_string() const {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve(22);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t n = (std::to_integer<uint32_t>(bytes[i]) << 16) |
                 (std::to_integer<uint32_t>(bytes[i + 1]) << 8) |
                 std::to_integer<uint32_t>(bytes[i + 2]);
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += alphabet[(n >> 6) & 63];
    out += alphabet[n & 63];
  }
  // 16 = 5*3 + 1: one byte left, two characters, no padding.
  uint32_t n = std::to_integer<uint32_t>(bytes[i]) << 16;
  out += alphabet[(n >> 18) & 63];
  out += alphabet[(n >> 12) & 63];
  return out;
}

// ---------------------------------------------------------------- writer

void wire_writer::write_float64(double v) {
  put_be(std::bit_cast<uint64_t>(v));
}

void wire_writer::write_uvarint(uint32_t v) {
  while (v >= 0x80) {
    buf_.push_back(static_cast<std::byte>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  buf_.push_back(static_cast<std::byte>(v));
}

void wire_writer::write_uvarlong(uint64_t v) {
  while (v >= 0x80) {
    buf_.push_back(static_cast<std::byte>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  buf_.push_back(static_cast<std::byte>(v));
}

void wire_writer::write_varint(int32_t v) {
  auto u = static_cast<uint32_t>(v);
  write_uvarint((u << 1) ^ static_cast<uint32_t>(v >> 31));
}

void wire_writer::write_varlong(int64_t v) {
  auto u = static_cast<uint64_t>(v);
  write_uvarlong((u << 1) ^ static_cast<uint64_t>(v >> 63));
}

void wire_writer::write_string(std::string_view s, bool compact) {
  // Kafka caps classic strings at int16; longer ones are a caller bug that
  // would corrupt the stream, so they are truncated rather than overflowed.
  if (!compact && s.size() > static_cast<std::size_t>(std::numeric_limits<int16_t>::max())) {
    s = s.substr(0, std::numeric_limits<int16_t>::max());
  }
  if (compact) {
    write_uvarint(static_cast<uint32_t>(s.size() + 1));
  } else {
    write_int16(static_cast<int16_t>(s.size()));
  }
  write_raw(as_bytes_view(s.data(), s.size()));
}

void wire_writer::write_nullable_string(const std::optional<std::string>& s, bool compact) {
  if (!s) {
    if (compact) {
      write_uvarint(0);
    } else {
      write_int16(-1);
    }
    return;
  }
  write_string(*s, compact);
}

void wire_writer::write_bytes(bytes_view b, bool compact) {
  if (compact) {
    write_uvarint(static_cast<uint32_t>(b.size() + 1));
  } else {
    write_int32(static_cast<int32_t>(b.size()));
  }
  write_raw(b);
}

void wire_writer::write_nullable_bytes(const std::optional<byte_vector>& b, bool compact) {
  if (!b) {
    if (compact) {
      write_uvarint(0);
    } else {
      write_int32(-1);
    }
    return;
  }
  write_bytes(*b, compact);
}

void wire_writer::write_records(std::optional<bytes_view> records, bool compact) {
  if (!records) {
    if (compact) {
      write_uvarint(0);
    } else {
      write_int32(-1);
    }
    return;
  }
  if (compact) {
    write_uvarint(static_cast<uint32_t>(records->size() + 1));
  } else {
    write_int32(static_cast<int32_t>(records->size()));
  }
  if (!records->empty()) {
    externals_.push_back({buf_.size(), *records});
    external_size_ += records->size();
  }
}

void wire_writer::write_array_length(std::size_t n, bool compact) {
  if (compact) {
    write_uvarint(static_cast<uint32_t>(n + 1));
  } else {
    write_int32(static_cast<int32_t>(n));
  }
}

void wire_writer::write_null_array(bool compact) {
  if (compact) {
    write_uvarint(0);
  } else {
    write_int32(-1);
  }
}

void wire_writer::write_tagged_field(uint32_t tag, const wire_writer& value) {
  write_uvarint(tag);
  write_uvarint(static_cast<uint32_t>(value.size()));
  append(value);
}

void wire_writer::write_tagged_field(const tagged_field& f) {
  write_uvarint(f.tag);
  write_uvarint(static_cast<uint32_t>(f.data.size()));
  write_raw(f.data);
}

void wire_writer::write_tagged_fields(const std::vector<tagged_field>& fields) {
  write_uvarint(static_cast<uint32_t>(fields.size()));
  for (const auto& f : fields)
    write_tagged_field(f);
}

void wire_writer::write_raw(bytes_view b) {
  buf_.insert(buf_.end(), b.begin(), b.end());
}

void wire_writer::append(const wire_writer& other) {
  const std::size_t shift = buf_.size();
  for (const auto& e : other.externals_) {
    externals_.push_back({e.at + shift, e.span});
  }
  external_size_ += other.external_size_;
  buf_.insert(buf_.end(), other.buf_.begin(), other.buf_.end());
}

std::size_t wire_writer::reserve_int32() {
  const std::size_t at = buf_.size();
  write_int32(0);
  return at;
}

void wire_writer::patch_int32(std::size_t handle, int32_t v) {
  auto u = static_cast<uint32_t>(v);
  for (std::size_t i = 0; i < 4; ++i) {
    buf_[handle + i] = static_cast<std::byte>(u >> (8 * (3 - i)));
  }
}

std::vector<bytes_view> wire_writer::segments() const {
  std::vector<bytes_view> out;
  out.reserve(externals_.size() * 2 + 1);
  std::size_t owned_from = 0;
  const bytes_view owned(buf_);
  for (const auto& e : externals_) {
    if (e.at > owned_from) out.push_back(owned.subspan(owned_from, e.at - owned_from));
    out.push_back(e.span);
    owned_from = e.at;
  }
  if (owned.size() > owned_from) out.push_back(owned.subspan(owned_from));
  return out;
}

byte_vector wire_writer::flatten() const {
  byte_vector out;
  out.reserve(size());
  for (auto s : segments())
    out.insert(out.end(), s.begin(), s.end());
  return out;
}

void wire_writer::clear() {
  buf_.clear();
  externals_.clear();
  external_size_ = 0;
}

// ---------------------------------------------------------------- reader

double wire_reader::read_float64() {
  return std::bit_cast<double>(get_be<uint64_t>());
}

uint32_t wire_reader::read_uvarint() {
  uint32_t v = 0;
  for (int i = 0; i < 5; ++i) {
    if (remaining() == 0) {
      fail("truncated varint");
      return 0;
    }
    const auto b = std::to_integer<uint32_t>(data_[pos_++]);
    if (i == 4 && b > 0x0f) {
      fail("varint overflows 32 bits");
      return 0;
    }
    v |= (b & 0x7f) << (7 * i);
    if ((b & 0x80) == 0) return v;
  }
  return v;  // unreachable: the fifth byte either ends or fails
}

uint64_t wire_reader::read_uvarlong() {
  uint64_t v = 0;
  for (int i = 0; i < 10; ++i) {
    if (remaining() == 0) {
      fail("truncated varlong");
      return 0;
    }
    const auto b = std::to_integer<uint64_t>(data_[pos_++]);
    if (i == 9 && b > 0x01) {
      fail("varlong overflows 64 bits");
      return 0;
    }
    v |= (b & 0x7f) << (7 * i);
    if ((b & 0x80) == 0) return v;
  }
  return v;
}

int32_t wire_reader::read_varint() {
  const uint32_t u = read_uvarint();
  return static_cast<int32_t>((u >> 1) ^ (~(u & 1) + 1));
}

int64_t wire_reader::read_varlong() {
  const uint64_t u = read_uvarlong();
  return static_cast<int64_t>((u >> 1) ^ (~(u & 1) + 1));
}

int64_t wire_reader::read_length(bool compact, bool wide) {
  int64_t n = 0;
  if (compact) {
    n = static_cast<int64_t>(read_uvarint()) - 1;
  } else if (wide) {
    n = read_int32();
  } else {
    n = read_int16();
  }
  if (!ok()) return 0;
  if (n < -1) {
    fail("negative length");
    return 0;
  }
  if (n > static_cast<int64_t>(remaining())) {
    fail("length exceeds remaining bytes");
    return 0;
  }
  return n;
}

std::optional<std::string> wire_reader::read_nullable_string(bool compact) {
  const int64_t n = read_length(compact, false);
  if (!ok()) return std::string();
  if (n < 0) return std::nullopt;
  auto raw = read_raw(static_cast<std::size_t>(n));
  return std::string(reinterpret_cast<const char*>(raw.data()), raw.size());
}

std::string wire_reader::read_string(bool compact) {
  auto s = read_nullable_string(compact);
  if (!s) {
    fail("null in non-nullable string");
    return {};
  }
  return std::move(*s);
}

std::optional<byte_vector> wire_reader::read_nullable_bytes(bool compact) {
  const int64_t n = read_length(compact, true);
  if (!ok()) return byte_vector();
  if (n < 0) return std::nullopt;
  auto raw = read_raw(static_cast<std::size_t>(n));
  return byte_vector(raw.begin(), raw.end());
}

byte_vector wire_reader::read_bytes(bool compact) {
  auto b = read_nullable_bytes(compact);
  if (!b) {
    fail("null in non-nullable bytes");
    return {};
  }
  return std::move(*b);
}

uuid wire_reader::read_uuid() {
  uuid u;
  auto raw = read_raw(u.bytes.size());
  if (raw.size() == u.bytes.size()) std::copy(raw.begin(), raw.end(), u.bytes.begin());
  return u;
}

std::optional<bytes_view> wire_reader::read_records(bool compact, bool nullable) {
  const int64_t n = read_length(compact, true);
  if (!ok()) return bytes_view();
  if (n < 0) {
    if (!nullable) {
      fail("null in non-nullable records");
      return bytes_view();
    }
    return std::nullopt;
  }
  return read_raw(static_cast<std::size_t>(n));
}

std::optional<std::size_t> wire_reader::read_array_length(bool compact, bool nullable) {
  int64_t n = 0;
  if (compact) {
    n = static_cast<int64_t>(read_uvarint()) - 1;
  } else {
    n = read_int32();
  }
  if (!ok()) return std::size_t{0};
  if (n == -1) {
    if (!nullable) {
      fail("null in non-nullable array");
      return std::size_t{0};
    }
    return std::nullopt;
  }
  if (n < 0) {
    fail("negative array length");
    return std::size_t{0};
  }
  if (n > static_cast<int64_t>(remaining())) {
    fail("array length exceeds remaining bytes");
    return std::size_t{0};
  }
  return static_cast<std::size_t>(n);
}

void wire_reader::read_tagged_fields(std::vector<tagged_field>& out) {
  const uint32_t count = read_uvarint();
  for (uint32_t i = 0; i < count && ok(); ++i) {
    const uint32_t tag = read_uvarint();
    const uint32_t size = read_uvarint();
    if (!ok()) break;
    if (size > remaining()) {
      fail("tagged field exceeds remaining bytes");
      break;
    }
    auto raw = read_raw(size);
    out.push_back({tag, byte_vector(raw.begin(), raw.end())});
  }
}

bytes_view wire_reader::read_raw(std::size_t n) {
  if (n > remaining()) {
    fail("truncated input");
    return {};
  }
  auto out = data_.subspan(pos_, n);
  pos_ += n;
  return out;
}

wire_reader wire_reader::sub_reader(std::size_t n) {
  const std::size_t at = offset();
  auto raw = read_raw(n);
  return wire_reader(raw, at);
}

void wire_reader::fail(std::string_view what) {
  if (!error_) error_ = decode_error{std::string(what), offset()};
  pos_ = data_.size();
}

void wire_reader::adopt_error(const wire_reader& sub) {
  if (!sub.error_) return;
  if (!error_) error_ = sub.error_;
  pos_ = data_.size();
}

std::expected<void, decode_error> wire_reader::status() const {
  if (error_) return std::unexpected(*error_);
  return {};
}

namespace detail {
bool field_equal(const bytes_view& a, const bytes_view& b) {
  return std::ranges::equal(a, b);
}
bool field_equal(const std::optional<bytes_view>& a, const std::optional<bytes_view>& b) {
  if (a.has_value() != b.has_value()) return false;
  return !a || std::ranges::equal(*a, *b);
}
}  // namespace detail

}  // namespace klink::kafka
