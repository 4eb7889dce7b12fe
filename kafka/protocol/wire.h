// Kafka wire primitives: the only place that knows how integers, varints,
// strings, arrays and tagged fields are laid out. Generated message codecs
// (kafka/messages/*.h) are written entirely in terms of these calls.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kafka/protocol/bytes.h"

namespace klink::kafka {

// Kafka's 16-byte UUID (topic ids, directory ids). All-zero is Kafka's
// "ZERO_UUID", the default for every uuid field.
struct uuid {
  std::array<std::byte, 16> bytes{};

  bool operator==(const uuid&) const = default;
  bool is_zero() const { return *this == uuid{}; }
  // Unpadded base64url, the form Kafka prints (e.g. in kafka-topics output).
  std::string to_string() const;
};

// A tagged field the decoder did not recognise at the decoded version. Kept so
// that a message can be re-encoded without losing data.
struct tagged_field {
  uint32_t tag = 0;
  byte_vector data;

  bool operator==(const tagged_field&) const = default;
};

// Decoding never throws: a malformed or truncated input yields one of these.
// `offset` is the byte position (from the start of the decoded buffer) where
// the problem was noticed.
struct decode_error {
  std::string what;
  std::size_t offset = 0;
};

// Serialises into an owned buffer, except for records, which are referenced
// in place: a Produce request carrying megabytes of batches must not copy
// them. The result is therefore a list of segments for a gathered write.
// Not thread-safe; owned by whoever builds the request.
class wire_writer {
 public:
  void write_int8(int8_t v) { put_be(static_cast<uint8_t>(v)); }
  void write_int16(int16_t v) { put_be(static_cast<uint16_t>(v)); }
  void write_int32(int32_t v) { put_be(static_cast<uint32_t>(v)); }
  void write_int64(int64_t v) { put_be(static_cast<uint64_t>(v)); }
  void write_uint16(uint16_t v) { put_be(v); }
  void write_uint32(uint32_t v) { put_be(v); }
  void write_float64(double v);
  void write_bool(bool v) { write_int8(v ? 1 : 0); }

  void write_uvarint(uint32_t v);
  void write_uvarlong(uint64_t v);
  void write_varint(int32_t v);   // zigzag
  void write_varlong(int64_t v);  // zigzag

  // Strings and bytes: `compact` selects the flexible-version form
  // (unsigned varint length + 1) over the classic int16/int32 length.
  void write_string(std::string_view s, bool compact);
  void write_nullable_string(const std::optional<std::string>& s, bool compact);
  void write_bytes(bytes_view b, bool compact);
  void write_nullable_bytes(const std::optional<byte_vector>& b, bool compact);
  void write_uuid(const uuid& u) { write_raw(u.bytes); }

  // Writes the length prefix (or null marker) only; the records themselves
  // become an external segment and must outlive every use of segments().
  void write_records(std::optional<bytes_view> records, bool compact);

  void write_array_length(std::size_t n, bool compact);
  void write_null_array(bool compact);

  // Tagged-field section helpers.
  void write_tagged_field(uint32_t tag, const wire_writer& value);
  void write_tagged_field(const tagged_field& f);
  void write_tagged_fields(const std::vector<tagged_field>& fields);

  void write_raw(bytes_view b);
  // Appends another writer's output, keeping its external segments external.
  void append(const wire_writer& other);

  // Placeholder for a length prefix that is only known once the frame is
  // written; returns a handle for patch_int32.
  std::size_t reserve_int32();
  void patch_int32(std::size_t handle, int32_t v);

  // Owned chunks and external spans in wire order. Views into the owned
  // buffer are invalidated by the next write.
  std::vector<bytes_view> segments() const;
  std::size_t size() const { return buf_.size() + external_size_; }
  byte_vector flatten() const;
  void clear();

 private:
  struct external {
    std::size_t at;  // owned-buffer offset the span is inserted before
    bytes_view span;
  };

  template <class U>
  void put_be(U v) {
    std::byte tmp[sizeof(U)];
    for (std::size_t i = 0; i < sizeof(U); ++i) {
      tmp[i] = static_cast<std::byte>(v >> (8 * (sizeof(U) - 1 - i)));
    }
    buf_.insert(buf_.end(), tmp, tmp + sizeof(U));
  }

  byte_vector buf_;
  std::vector<external> externals_;
  std::size_t external_size_ = 0;
};

// Reads from a borrowed buffer. The first error is sticky: every later read
// returns a zero value and remaining() becomes 0, so generated decoders can
// read a whole message and check status() once, and loops over counts end.
// Every length and count is checked against the bytes left before anything
// is allocated.
class wire_reader {
 public:
  explicit wire_reader(bytes_view data, std::size_t base_offset = 0)
      : data_(data), base_(base_offset) {}

  int8_t read_int8() { return static_cast<int8_t>(get_be<uint8_t>()); }
  int16_t read_int16() { return static_cast<int16_t>(get_be<uint16_t>()); }
  int32_t read_int32() { return static_cast<int32_t>(get_be<uint32_t>()); }
  int64_t read_int64() { return static_cast<int64_t>(get_be<uint64_t>()); }
  uint16_t read_uint16() { return get_be<uint16_t>(); }
  uint32_t read_uint32() { return get_be<uint32_t>(); }
  double read_float64();
  bool read_bool() { return read_int8() != 0; }

  uint32_t read_uvarint();
  uint64_t read_uvarlong();
  int32_t read_varint();
  int64_t read_varlong();

  // Non-nullable reads fail on a null marker.
  std::string read_string(bool compact);
  std::optional<std::string> read_nullable_string(bool compact);
  byte_vector read_bytes(bool compact);
  std::optional<byte_vector> read_nullable_bytes(bool compact);
  uuid read_uuid();

  // Zero copy: the view points into the reader's input.
  std::optional<bytes_view> read_records(bool compact, bool nullable = true);

  // Element count, capped by the bytes left (every element takes at least
  // one byte in practice; Kafka applies the same cap). nullopt means null,
  // which is an error unless `nullable`.
  std::optional<std::size_t> read_array_length(bool compact, bool nullable);

  // Reads a whole tagged-field section, keeping every field as unknown.
  void read_tagged_fields(std::vector<tagged_field>& out);

  bytes_view read_raw(std::size_t n);
  // A reader over the next n bytes (consumed from this one); errors in it
  // report offsets relative to this reader's input.
  wire_reader sub_reader(std::size_t n);

  void fail(std::string_view what);
  // Takes over the first error of a sub_reader.
  void adopt_error(const wire_reader& sub);

  bool ok() const { return !error_; }
  std::expected<void, decode_error> status() const;
  std::size_t offset() const { return base_ + pos_; }
  std::size_t remaining() const { return data_.size() - pos_; }

 private:
  template <class U>
  U get_be() {
    if (remaining() < sizeof(U)) {
      fail("truncated integer");
      return 0;
    }
    U v = 0;
    for (std::size_t i = 0; i < sizeof(U); ++i) {
      v = static_cast<U>((v << 8) | static_cast<U>(data_[pos_ + i]));
    }
    pos_ += sizeof(U);
    return v;
  }
  // Length of a string/bytes value; -1 for null. Fails on anything else
  // that is negative or longer than what is left.
  int64_t read_length(bool compact, bool wide);

  bytes_view data_;
  std::size_t base_ = 0;
  std::size_t pos_ = 0;
  std::optional<decode_error> error_;
};

namespace detail {
// Equality used by generated operator==: records compare by content.
template <class T>
bool field_equal(const T& a, const T& b) {
  return a == b;
}
bool field_equal(const bytes_view& a, const bytes_view& b);
bool field_equal(const std::optional<bytes_view>& a, const std::optional<bytes_view>& b);
}  // namespace detail

}  // namespace klink::kafka
