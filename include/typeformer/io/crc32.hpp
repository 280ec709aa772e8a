#pragma once
// CRC-32 as zlib, PNG and ZIP compute it (reflected polynomial 0xEDB88320, initial and final
// value 0xFFFFFFFF), so a checksum typeformer-inspect prints can be compared with Python's
// zlib.crc32(tensor_bytes) or `crc32` from the shell.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace typeformer::io {

namespace detail {
inline constexpr std::array<std::uint32_t, 256> crc32_table = [] {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t byte = 0; byte < 256; ++byte) {
    std::uint32_t r = byte;
    for (int bit = 0; bit < 8; ++bit) r = (r & 1u) ? (r >> 1) ^ 0xEDB88320u : r >> 1;
    table[byte] = r;
  }
  return table;
}();
}  // namespace detail

/// The CRC-32 of `bytes`; pass a previous result as `crc` to continue over a second span.
constexpr std::uint32_t crc32(std::span<const std::byte> bytes, std::uint32_t crc = 0) noexcept {
  crc = ~crc;
  for (const std::byte b : bytes)
    crc = detail::crc32_table[(crc ^ static_cast<std::uint32_t>(b)) & 0xFFu] ^ (crc >> 8);
  return ~crc;
}

}  // namespace typeformer::io
