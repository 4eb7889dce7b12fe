// Big-endian field access shared by record_batch.cpp and records.cpp only.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace klink::kafka::detail {

template <typename T>
T load_be(const std::byte* p) {
  using U = std::make_unsigned_t<T>;
  U v;
  std::memcpy(&v, p, sizeof v);
  if constexpr (std::endian::native == std::endian::little && sizeof(U) > 1) v = std::byteswap(v);
  return static_cast<T>(v);
}

template <typename T>
void store_be(std::byte* p, T value) {
  using U = std::make_unsigned_t<T>;
  U v = static_cast<U>(value);
  if constexpr (std::endian::native == std::endian::little && sizeof(U) > 1) v = std::byteswap(v);
  std::memcpy(p, &v, sizeof v);
}

}  // namespace klink::kafka::detail
