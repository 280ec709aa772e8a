#pragma once
// IEEE 754 binary16 (F16) and bfloat16 (BF16) to and from float, on bit patterns. Widening is
// exact for every input. Narrowing rounds to nearest, ties to even, as numpy, PyTorch and the
// F16C/AVX-512 converters do, so a file written here holds the bits those exporters would write.

#include <bit>
#include <cstdint>

namespace typeformer::io {

namespace detail {

// Rounds `truncated` (the kept bits) to nearest, ties to even, given the dropped bits'
// value `dropped` and the value `halfway` that is exactly half a unit of the kept part.
constexpr std::uint32_t round_to_nearest_even(std::uint32_t truncated, std::uint32_t dropped,
                                              std::uint32_t halfway) noexcept {
  const bool up = dropped > halfway || (dropped == halfway && (truncated & 1u) != 0);
  return truncated + (up ? 1u : 0u);
}

}  // namespace detail

constexpr float f16_to_float(std::uint16_t bits) noexcept {
  const std::uint32_t sign = (bits & 0x8000u) << 16;
  const std::uint32_t exponent = (bits >> 10) & 0x1Fu;
  std::uint32_t mantissa = bits & 0x3FFu;
  // Infinity, or NaN with its payload (quiet bit included) kept in the top mantissa bits.
  if (exponent == 0x1Fu) return std::bit_cast<float>(sign | 0x7F800000u | (mantissa << 13));
  if (exponent != 0)
    return std::bit_cast<float>(sign | ((exponent + 112u) << 23) | (mantissa << 13));
  if (mantissa == 0) return std::bit_cast<float>(sign);
  // Subnormal: mantissa · 2^-24 is a normal float; move the leading one to the implicit bit.
  std::uint32_t float_exponent = 113;
  while ((mantissa & 0x400u) == 0) {
    mantissa <<= 1;
    --float_exponent;
  }
  return std::bit_cast<float>(sign | (float_exponent << 23) | ((mantissa & 0x3FFu) << 13));
}

constexpr float bf16_to_float(std::uint16_t bits) noexcept {
  // bfloat16 is the top half of a float.
  return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16);
}

constexpr std::uint16_t float_to_f16(float value) noexcept {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(value);
  const std::uint32_t sign = (bits >> 16) & 0x8000u;
  const std::uint32_t magnitude = bits & 0x7FFFFFFFu;
  // NaN stays NaN: quiet it and keep the payload's top bits (all-zero kept bits would be inf).
  if (magnitude > 0x7F800000u)
    return static_cast<std::uint16_t>(sign | 0x7E00u | ((magnitude >> 13) & 0x3FFu));
  // 65520 is halfway between 65504 (odd mantissa) and 2^16, so it and above round to inf.
  if (magnitude >= 0x477FF000u) return static_cast<std::uint16_t>(sign | 0x7C00u);
  if (magnitude >= 0x38800000u) {  // at least 2^-14: a normal half
    const std::uint32_t rebiased = (magnitude >> 13) - (112u << 10);
    return static_cast<std::uint16_t>(
        sign | detail::round_to_nearest_even(rebiased, magnitude & 0x1FFFu, 0x1000u));
  }
  // At most 2^-25, half the smallest subnormal: a tie or less, which rounds to (even) zero.
  if (magnitude <= 0x33000000u) return static_cast<std::uint16_t>(sign);
  // Subnormal half: count units of 2^-24. The float exponent is 102..112, so shift is 14..24.
  const std::uint32_t significand = (magnitude & 0x7FFFFFu) | 0x800000u;
  const std::uint32_t shift = 126u - (magnitude >> 23);
  const std::uint32_t units = detail::round_to_nearest_even(
      significand >> shift, significand & ((1u << shift) - 1u), 1u << (shift - 1u));
  return static_cast<std::uint16_t>(sign | units);
}

constexpr std::uint16_t float_to_bf16(float value) noexcept {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(value);
  // NaN: keep the top bits and set the quiet bit so that truncation cannot make it infinity.
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<std::uint16_t>((bits >> 16) | 0x40u);
  // Adding just under half a unit, plus one when the kept part is odd, rounds ties to even;
  // a carry out of the mantissa is the correct next binade (or infinity).
  const std::uint32_t rounded = bits + 0x7FFFu + ((bits >> 16) & 1u);
  return static_cast<std::uint16_t>(rounded >> 16);
}

}  // namespace typeformer::io
