#pragma once
// The element types a safetensors file can hold: their spelling in the header, their size, and
// their little-endian encoding in the data section.

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>
#include <type_traits>

namespace typeformer::io {

enum class dtype { boolean, u8, i8, i16, u16, i32, u32, i64, u64, f16, bf16, f32, f64 };

inline constexpr std::array<dtype, 13> all_dtypes = {
    dtype::boolean, dtype::u8,  dtype::i8,  dtype::i16,  dtype::u16, dtype::i32, dtype::u32,
    dtype::i64,     dtype::u64, dtype::f16, dtype::bf16, dtype::f32, dtype::f64};

namespace detail {

// Indexed by the enumerator's value, in declaration order.
inline constexpr std::array<std::string_view, 13> dtype_names = {
    "BOOL", "U8", "I8", "I16", "U16", "I32", "U32", "I64", "U64", "F16", "BF16", "F32", "F64"};
inline constexpr std::array<std::size_t, 13> dtype_sizes = {1, 1, 1, 2, 2, 4, 4, 8, 8, 2, 2, 4, 8};

}  // namespace detail

/// The header's spelling: "BOOL", "U8", ..., "BF16", "F64".
constexpr std::string_view dtype_name(dtype type) noexcept {
  return detail::dtype_names[static_cast<std::size_t>(type)];
}

/// Bytes per element.
constexpr std::size_t element_size(dtype type) noexcept {
  return detail::dtype_sizes[static_cast<std::size_t>(type)];
}

/// The dtype spelled `name` exactly (case matters, as in the reference implementation);
/// nullopt for anything else, including dtypes of the format this library does not read
/// (F8_E4M3, F8_E5M2, ...). The caller reports the error with its context.
constexpr std::optional<dtype> parse_dtype(std::string_view name) noexcept {
  for (const dtype type : all_dtypes)
    if (dtype_name(type) == name) return type;
  return std::nullopt;
}

constexpr bool is_floating_dtype(dtype type) noexcept {
  return type == dtype::f16 || type == dtype::bf16 || type == dtype::f32 || type == dtype::f64;
}

/// BOOL and the integer dtypes: the ones `read_integers` returns.
constexpr bool is_integer_dtype(dtype type) noexcept { return !is_floating_dtype(type); }

namespace detail {

template <class Unsigned>
constexpr Unsigned byte_reversed(Unsigned value) noexcept {
  Unsigned reversed = 0;
  for (std::size_t i = 0; i < sizeof(Unsigned); ++i) {
    reversed = static_cast<Unsigned>((reversed << 8) | (value & 0xFFu));
    value = static_cast<Unsigned>(value >> 8);
  }
  return reversed;
}

}  // namespace detail

/// The unsigned value stored little-endian at `bytes`, which need not be aligned: memcpy, not a
/// pointer cast, because tensor data sits at whatever offset the header length leaves it.
template <class Unsigned>
Unsigned load_little_endian(const std::byte* bytes) noexcept {
  static_assert(std::is_unsigned_v<Unsigned>);
  static_assert(std::endian::native == std::endian::little ||
                std::endian::native == std::endian::big);
  Unsigned value;
  std::memcpy(&value, bytes, sizeof value);
  if constexpr (std::endian::native == std::endian::big) value = detail::byte_reversed(value);
  return value;
}

/// Stores `value` little-endian at `bytes` (any alignment).
template <class Unsigned>
void store_little_endian(Unsigned value, std::byte* bytes) noexcept {
  static_assert(std::is_unsigned_v<Unsigned>);
  if constexpr (std::endian::native == std::endian::big) value = detail::byte_reversed(value);
  std::memcpy(bytes, &value, sizeof value);
}

}  // namespace typeformer::io
