// Byte views used across the protocol layer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace klink::kafka {

// A read-only window into bytes owned by someone else (usually a response
// buffer). Holders must keep the owner alive; see `shared_buffer`.
using bytes_view = std::span<const std::byte>;
using mutable_bytes_view = std::span<std::byte>;
using byte_vector = std::vector<std::byte>;

inline bytes_view as_bytes_view(const void* data, std::size_t size) {
  return {static_cast<const std::byte*>(data), size};
}

}  // namespace klink::kafka
