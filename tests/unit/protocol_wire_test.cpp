// Hand-written checks of the wire primitives: edge cases the generated
// round-trip tests cannot reach because they only see well-formed values.
#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <limits>

#include "kafka/protocol/wire.h"

namespace {

using namespace klink::kafka;

byte_vector bv(std::initializer_list<int> xs) {
  byte_vector out;
  for (int x : xs)
    out.push_back(static_cast<std::byte>(x));
  return out;
}

TEST(protocol_wire, big_endian_integers) {
  wire_writer w;
  w.write_int8(-2);
  w.write_int16(0x0102);
  w.write_int32(-1);
  w.write_int64(0x0102030405060708);
  w.write_uint16(0xfffe);
  w.write_uint32(0x80000000u);
  w.write_bool(true);
  w.write_float64(1.5);
  const auto bytes = w.flatten();
  EXPECT_EQ(bytes.size(), 1u + 2 + 4 + 8 + 2 + 4 + 1 + 8);
  EXPECT_EQ(bytes[1], std::byte{0x01});
  EXPECT_EQ(bytes[2], std::byte{0x02});
  wire_reader r(bytes);
  EXPECT_EQ(r.read_int8(), -2);
  EXPECT_EQ(r.read_int16(), 0x0102);
  EXPECT_EQ(r.read_int32(), -1);
  EXPECT_EQ(r.read_int64(), 0x0102030405060708);
  EXPECT_EQ(r.read_uint16(), 0xfffe);
  EXPECT_EQ(r.read_uint32(), 0x80000000u);
  EXPECT_TRUE(r.read_bool());
  EXPECT_EQ(r.read_float64(), 1.5);
  EXPECT_TRUE(r.status().has_value());
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(protocol_wire, unsigned_varint_edges) {
  for (uint32_t v : {0u, 1u, 127u, 128u, 16383u, 16384u, 0x0fffffffu, 0xffffffffu}) {
    wire_writer w;
    w.write_uvarint(v);
    const auto bytes = w.flatten();
    wire_reader r(bytes);
    EXPECT_EQ(r.read_uvarint(), v);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.remaining(), 0u);
  }
  EXPECT_EQ(wire_writer().size(), 0u);
  wire_writer w;
  w.write_uvarint(300);
  EXPECT_EQ(w.flatten(), bv({0xac, 0x02}));
}

TEST(protocol_wire, varint_overflow_and_truncation_fail) {
  {
    const auto b = bv({0xff, 0xff, 0xff, 0xff, 0x1f});  // 35 bits
    wire_reader r(b);
    r.read_uvarint();
    EXPECT_FALSE(r.ok());
  }
  {
    const auto b = bv({0xff, 0xff, 0xff, 0xff, 0xff, 0x01});  // six bytes
    wire_reader r(b);
    r.read_uvarint();
    EXPECT_FALSE(r.ok());
  }
  {
    const auto b = bv({0x80, 0x80});
    wire_reader r(b);
    r.read_uvarint();
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.status().error().offset, 2u);
  }
  {
    const auto b = bv({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02});
    wire_reader r(b);
    r.read_uvarlong();
    EXPECT_FALSE(r.ok());
  }
}

TEST(protocol_wire, zigzag_edges) {
  for (int32_t v : {0, -1, 1, -64, 64, std::numeric_limits<int32_t>::min(),
                    std::numeric_limits<int32_t>::max()}) {
    wire_writer w;
    w.write_varint(v);
    const auto b = w.flatten();
    wire_reader r(b);
    EXPECT_EQ(r.read_varint(), v);
    EXPECT_TRUE(r.ok());
  }
  for (int64_t v : {int64_t{0}, int64_t{-1}, std::numeric_limits<int64_t>::min(),
                    std::numeric_limits<int64_t>::max()}) {
    wire_writer w;
    w.write_varlong(v);
    const auto b = w.flatten();
    EXPECT_LE(b.size(), 10u);
    wire_reader r(b);
    EXPECT_EQ(r.read_varlong(), v);
    EXPECT_TRUE(r.ok());
  }
  wire_writer w;
  w.write_varint(-1);
  EXPECT_EQ(w.flatten(), bv({0x01}));
}

TEST(protocol_wire, compact_nullable_strings) {
  wire_writer w;
  w.write_nullable_string(std::nullopt, true);
  w.write_nullable_string(std::string(), true);
  w.write_nullable_string(std::string("ab"), true);
  w.write_nullable_string(std::nullopt, false);
  EXPECT_EQ(w.flatten(), bv({0x00, 0x01, 0x03, 'a', 'b', 0xff, 0xff}));
  const auto b = w.flatten();
  wire_reader r(b);
  EXPECT_EQ(r.read_nullable_string(true), std::nullopt);
  EXPECT_EQ(r.read_nullable_string(true), std::string());
  EXPECT_EQ(r.read_nullable_string(true), std::string("ab"));
  EXPECT_EQ(r.read_nullable_string(false), std::nullopt);
  EXPECT_TRUE(r.ok());
}

TEST(protocol_wire, null_in_non_nullable_string_fails) {
  const auto b = bv({0x00});
  wire_reader r(b);
  r.read_string(true);
  EXPECT_FALSE(r.ok());
}

TEST(protocol_wire, negative_lengths_rejected) {
  {
    const auto b = bv({0xff, 0xfe});  // int16 -2
    wire_reader r(b);
    r.read_nullable_string(false);
    EXPECT_FALSE(r.ok());
  }
  {
    const auto b = bv({0xff, 0xff, 0xff, 0xfe});  // int32 -2
    wire_reader r(b);
    r.read_nullable_bytes(false);
    EXPECT_FALSE(r.ok());
  }
  {
    const auto b = bv({0x80, 0x00, 0x00, 0x00});
    wire_reader r(b);
    r.read_records(false);
    EXPECT_FALSE(r.ok());
  }
  {
    const auto b = bv({0xff, 0xff, 0xff, 0xfe});
    wire_reader r(b);
    r.read_array_length(false, true);
    EXPECT_FALSE(r.ok());
  }
}

TEST(protocol_wire, lengths_beyond_input_rejected) {
  const auto b = bv({0x00, 0x05, 'a', 'b'});
  wire_reader r(b);
  r.read_string(false);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.remaining(), 0u);
  // Sticky: later reads return zero values and keep the first error.
  EXPECT_EQ(r.read_int32(), 0);
  EXPECT_EQ(r.status().error().what, "length exceeds remaining bytes");
}

TEST(protocol_wire, huge_array_counts_rejected) {
  {
    const auto b = bv({0x7f, 0xff, 0xff, 0xff, 0x00, 0x00});
    wire_reader r(b);
    EXPECT_EQ(r.read_array_length(false, false).value_or(99), 0u);
    EXPECT_FALSE(r.ok());
  }
  {
    const auto b = bv({0xff, 0xff, 0xff, 0xff, 0x0f, 0x00});  // compact 2^32-2
    wire_reader r(b);
    r.read_array_length(true, false);
    EXPECT_FALSE(r.ok());
  }
  {
    const auto b = bv({0x03, 0x01, 0x02});  // compact 2 with 2 bytes left is fine
    wire_reader r(b);
    EXPECT_EQ(r.read_array_length(true, false), std::optional<std::size_t>(2));
    EXPECT_TRUE(r.ok());
  }
  {
    const auto b = bv({0x00});  // compact null
    wire_reader r(b);
    EXPECT_EQ(r.read_array_length(true, true), std::nullopt);
    EXPECT_TRUE(r.ok());
    wire_reader r2(b);
    r2.read_array_length(true, false);
    EXPECT_FALSE(r2.ok());
  }
}

TEST(protocol_wire, records_are_not_copied) {
  const byte_vector batch(100, std::byte{7});
  wire_writer w;
  w.write_int16(1);
  w.write_records(bytes_view(batch), true);
  w.write_int16(2);
  w.write_records(std::nullopt, false);
  const auto segs = w.segments();
  ASSERT_EQ(segs.size(), 3u);
  EXPECT_EQ(segs[1].data(), batch.data());
  EXPECT_EQ(segs[1].size(), 100u);
  EXPECT_EQ(w.size(), 2u + 1 + 100 + 2 + 4);

  const auto flat = w.flatten();
  EXPECT_EQ(flat.size(), w.size());
  wire_reader r(flat);
  EXPECT_EQ(r.read_int16(), 1);
  auto rec = r.read_records(true);
  ASSERT_TRUE(rec.has_value());
  EXPECT_EQ(rec->data(), flat.data() + 3);  // points into the input
  EXPECT_EQ(rec->size(), 100u);
  EXPECT_EQ(r.read_int16(), 2);
  EXPECT_EQ(r.read_records(false), std::nullopt);
  EXPECT_TRUE(r.ok());
}

TEST(protocol_wire, frame_length_patch_and_append) {
  const byte_vector batch(10, std::byte{1});
  wire_writer inner;
  inner.write_records(bytes_view(batch), false);

  wire_writer w;
  w.write_int8(9);
  const std::size_t start = w.size();
  const auto at = w.reserve_int32();
  w.append(inner);
  w.write_int8(5);
  w.patch_int32(at, static_cast<int32_t>(w.size() - start - 4));
  const auto flat = w.flatten();
  wire_reader r(flat);
  EXPECT_EQ(r.read_int8(), 9);
  EXPECT_EQ(r.read_int32(), 4 + 10 + 1);
  EXPECT_EQ(w.segments().size(), 3u);
}

TEST(protocol_wire, tagged_field_section) {
  wire_writer w;
  w.write_tagged_fields({{0, bv({1})}, {300, bv({2, 3})}});
  const auto b = w.flatten();
  EXPECT_EQ(b, bv({0x02, 0x00, 0x01, 0x01, 0xac, 0x02, 0x02, 0x02, 0x03}));
  wire_reader r(b);
  std::vector<tagged_field> out;
  r.read_tagged_fields(out);
  EXPECT_TRUE(r.ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].tag, 300u);
  EXPECT_EQ(out[1].data, bv({2, 3}));

  const auto bad = bv({0x01, 0x00, 0x05, 0x01});  // size beyond input
  wire_reader r2(bad);
  std::vector<tagged_field> out2;
  r2.read_tagged_fields(out2);
  EXPECT_FALSE(r2.ok());
}

TEST(protocol_wire, uuid_prints_like_kafka) {
  uuid u;
  EXPECT_TRUE(u.is_zero());
  EXPECT_EQ(u.to_string(), "AAAAAAAAAAAAAAAAAAAAAA");
  for (std::size_t i = 0; i < 16; ++i)
    u.bytes[i] = std::byte{0xff};
  EXPECT_EQ(u.to_string(), "_____________________w");
  wire_writer w;
  w.write_uuid(u);
  const auto b = w.flatten();
  wire_reader r(b);
  EXPECT_EQ(r.read_uuid(), u);
}

TEST(protocol_wire, sub_reader_reports_absolute_offsets) {
  const auto b = bv({0x00, 0x00, 0x01});
  wire_reader r(b);
  r.read_int8();
  wire_reader sub = r.sub_reader(2);
  EXPECT_TRUE(r.ok());
  sub.read_int32();
  EXPECT_FALSE(sub.ok());
  EXPECT_EQ(sub.status().error().offset, 1u);
  r.adopt_error(sub);
  EXPECT_FALSE(r.ok());
}

}  // namespace
