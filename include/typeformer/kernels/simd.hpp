#pragma once
// The instruction-set layer every kernel is written against.
//
// Kernels are templates over an architecture tag: an xsimd 8.1 architecture (`xsimd::avx2`,
// `xsimd::fma3<xsimd::avx2>`, `xsimd::avx512bw`, ...) or `simd::scalar`, the one-lane path
// that is always correct and needs no instruction set. `simd::ops<Arch>` gives the handful of
// operations the kernels use, with the same spelling for both. Which architecture a
// translation unit uses is fixed by its compiler flags (xsimd cannot instantiate an AVX2
// batch without -mavx2): `simd::best_arch`. See docs/simd.md.

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include <xsimd/xsimd.hpp>

namespace typeformer::simd {

/// The one-lane architecture: plain C++ arithmetic, always available.
struct scalar {
  static constexpr std::string_view name() noexcept { return "scalar"; }
  static constexpr bool available() noexcept { return true; }
};

#if defined(TYPEFORMER_FORCE_SCALAR)
using best_arch = scalar;
#else
/// The best architecture the compiler flags of this translation unit allow.
using best_arch = std::conditional_t<std::is_same_v<xsimd::default_arch, xsimd::unavailable>,
                                     scalar, xsimd::default_arch>;
#endif

/// A layer's default architecture argument: "the best this translation unit allows". A tag
/// of our own, so that diagnostics print `simd::best_available`, not an xsimd type.
struct best_available {};

template <class Arch>
using resolve_arch = std::conditional_t<std::is_same_v<Arch, best_available>, best_arch, Arch>;

/// The floating-point operations of one SIMD register of `Arch`.
template <class Arch>
struct ops {
  using batch = xsimd::batch<float, Arch>;
  using words = xsimd::batch<std::uint32_t, Arch>;
  static constexpr std::size_t width = batch::size;

  static batch load(const float* p) noexcept { return batch::load_unaligned(p); }
  static void store(float* p, const batch& b) noexcept { b.store_unaligned(p); }
  static batch splat(float x) noexcept { return batch(x); }
  /// The floats whose bfloat16 bits are the low (or high) halves of `width` 32-bit words at
  /// p: one shift (or mask), since a bfloat16 is the top half of a float.
  static batch widen_bf16_low(const std::uint32_t* p) noexcept {
    return xsimd::bitwise_cast<batch>(words::load_unaligned(p) << 16);
  }
  static batch widen_bf16_high(const std::uint32_t* p) noexcept {
    return xsimd::bitwise_cast<batch>(words::load_unaligned(p) & words(0xFFFF0000u));
  }
  static batch fma(const batch& a, const batch& b, const batch& c) noexcept {
    return xsimd::fma(a, b, c);
  }
  static batch max(const batch& a, const batch& b) noexcept { return xsimd::max(a, b); }
  static batch exp(const batch& a) noexcept { return xsimd::exp(a); }
  static batch exp2(const batch& a) noexcept { return xsimd::exp2(a); }
  static batch erf(const batch& a) noexcept { return xsimd::erf(a); }
  static batch tanh(const batch& a) noexcept { return xsimd::tanh(a); }
  static float sum(const batch& a) noexcept { return xsimd::hadd(a); }
  /// Makes the compiler keep `a` in a register. A register loaded once and used by several
  /// FMAs is otherwise re-read from memory by each of them (GCC folds the load into every
  /// FMA), and the kernel then waits on load ports instead of FMA units.
  static void keep_in_register([[maybe_unused]] batch& a) noexcept {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    asm("" : "+v"(a.data));
#elif defined(__GNUC__) && defined(__aarch64__)
    asm("" : "+w"(a.data));
#endif
  }
  static float max_of(const batch& a) noexcept {
    alignas(64) float lanes[width];
    a.store_aligned(lanes);
    float m = lanes[0];
    for (std::size_t i = 1; i < width; ++i) m = std::max(m, lanes[i]);
    return m;
  }
};

template <>
struct ops<scalar> {
  using batch = float;
  static constexpr std::size_t width = 1;

  static float load(const float* p) noexcept { return *p; }
  static void store(float* p, float b) noexcept { *p = b; }
  static float splat(float x) noexcept { return x; }
  static float widen_bf16_low(const std::uint32_t* p) noexcept {
    return std::bit_cast<float>(*p << 16);
  }
  static float widen_bf16_high(const std::uint32_t* p) noexcept {
    return std::bit_cast<float>(*p & 0xFFFF0000u);
  }
  static float fma(float a, float b, float c) noexcept { return std::fma(a, b, c); }
  static float max(float a, float b) noexcept { return std::max(a, b); }
  static float exp(float a) noexcept { return std::exp(a); }
  static float exp2(float a) noexcept { return std::exp2(a); }
  static float erf(float a) noexcept { return std::erf(a); }
  static float tanh(float a) noexcept { return std::tanh(a); }
  static float sum(float a) noexcept { return a; }
  static void keep_in_register(float&) noexcept {}
  static float max_of(float a) noexcept { return a; }
};

/// Whether the running CPU can execute code built for `Arch` (cpuid, checked at run time).
template <class Arch>
bool cpu_supports() noexcept {
  if constexpr (std::is_same_v<Arch, scalar>) {
    return true;
  } else {
    const auto have = xsimd::available_architectures();
    return have.best >= Arch::version();
  }
}

/// Whether xsimd's max(a, b) and min(a, b) return b when either is NaN: x86's MAXPS and MINPS
/// return their second operand then (Intel SDM), and xsimd maps onto them in order, so
/// max(bound, x) keeps a NaN x. Elsewhere it is not promised.
template <class Arch>
inline constexpr bool max_min_keep_nan_of_second =
    std::is_base_of_v<xsimd::sse2, Arch> || std::is_base_of_v<xsimd::avx, Arch> ||
    std::is_base_of_v<xsimd::avx512f, Arch>;

/// `p`, hidden from the optimiser, so that a value loaded through it is loaded again rather
/// than kept in a register from an earlier load of the same address (which may need a
/// register the kernel has not got).
template <class T>
const T* opaque(const T* p) noexcept {
#if defined(__GNUC__)
  asm("" : "+r"(p));
#endif
  return p;
}

/// Rounds `n` up to a multiple of `m`.
constexpr std::size_t round_up(std::size_t n, std::size_t m) noexcept {
  return (n + m - 1) / m * m;
}

}  // namespace typeformer::simd
