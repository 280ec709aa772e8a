#pragma once
// AVX-512 BF16's dot product of bfloat16 pairs (vdpbf16ps) and the conversion of float32
// inputs to such pairs: the operations xsimd 8.1 has no name for, so raw intrinsics, in this
// header only. Every function here is compiled for AVX-512 BF16 by its own target attribute,
// which adds that instruction set to the translation unit's flags, and is called only where
// the CPU reports the instruction (cpuid, read once). Units whose flags differ only by
// -mavx512bf16 therefore compile the same code; the kernels are templates over the
// architecture like every other, so the rule of docs/simd.md for mixing flags is unchanged.

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include <typeformer/kernels/unroll.hpp>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
/// Whether this compiler and target can build the vdpbf16ps kernels (x86-64 with GCC or Clang).
#define TYPEFORMER_BF16_DOT_KERNELS 1
/// The instruction sets of a function that runs vdpbf16ps (an attribute: a macro, since an
/// attribute's argument must be a string literal).
#define TYPEFORMER_TARGET_AVX512_BF16 gnu::target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")
#else
#define TYPEFORMER_BF16_DOT_KERNELS 0
#endif

namespace typeformer::kernels::bf16_dot {

/// Floats per register of the vdpbf16ps kernels: one panel of 16 columns.
inline constexpr std::size_t lanes = 16;

/// Whether the running CPU executes vdpbf16ps.
inline bool cpu_has_instruction() noexcept {
#if TYPEFORMER_BF16_DOT_KERNELS
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16") != 0;
  }();
  return has;
#else
  return false;
#endif
}

#if TYPEFORMER_BF16_DOT_KERNELS

/// The bfloat16 pairs of n floats: word i holds x[2i] in its low half and x[2i + 1] in its
/// high half (zero past n), each rounded to nearest, ties to even (vcvtne2ps2bf16). The
/// instruction flushes subnormal inputs to zero, the only values it rounds differently from
/// io::float_to_bf16.
template <class Arch>
[[TYPEFORMER_TARGET_AVX512_BF16]] void round_to_pairs(const float* x, std::size_t n,
                                                      std::uint32_t* out) noexcept {
  std::size_t i = 0;
  for (; i + 2 * lanes <= n; i += 2 * lanes) {
    const __m512bh pairs =
        _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + i + lanes), _mm512_loadu_ps(x + i));
    _mm512_storeu_si512(out + i / 2, reinterpret_cast<__m512i>(pairs));
  }
  if (i < n) {
    // Masked loads and stores: nothing past x + n is read, nothing past the last word written.
    const std::size_t rest = n - i;
    const auto mask = [](std::size_t count) {
      return static_cast<__mmask16>(count >= lanes ? 0xFFFFu : (1u << count) - 1u);
    };
    const __m512 low = _mm512_maskz_loadu_ps(mask(rest), x + i);
    const __m512 high =
        _mm512_maskz_loadu_ps(mask(rest > lanes ? rest - lanes : 0), x + i + std::min(rest, lanes));
    const __m512bh pairs = _mm512_cvtne2ps_pbh(high, low);
    _mm512_mask_storeu_epi32(out + i / 2, mask((rest + 1) / 2), reinterpret_cast<__m512i>(pairs));
  }
}

/// acc[r][q] += the dot products, over `pairs` word rows, of row r of `x` (pairs of inputs,
/// row stride ldx words) with each column of panel q (one word row of 16 columns each). Per
/// pair, vdpbf16ps adds the odd input's product to the sum and then the even one's, each
/// product exact and each sum rounded to nearest (subnormal inputs, products and sums flushed to
/// zero; the MXCSR is not consulted).
template <class Arch, std::size_t R, std::size_t P>
[[TYPEFORMER_TARGET_AVX512_BF16, gnu::always_inline]] inline void accumulate(
    __m512 (&acc)[R][P], const std::uint32_t* x, std::size_t ldx,
    const std::uint32_t* const (&panel)[P], std::size_t pairs) noexcept {
  for (std::size_t i = 0; i < pairs; ++i) {
    __m512i w[P];
    TYPEFORMER_UNROLL_REGISTER_LOOP
    for (std::size_t q = 0; q < P; ++q) w[q] = _mm512_loadu_si512(panel[q] + i * lanes);
    TYPEFORMER_UNROLL_REGISTER_LOOP
    for (std::size_t r = 0; r < R; ++r) {
      const __m512i xr = _mm512_set1_epi32(static_cast<int>(x[r * ldx + i]));
      TYPEFORMER_UNROLL_REGISTER_LOOP
      for (std::size_t q = 0; q < P; ++q)
        acc[r][q] = _mm512_dpbf16_ps(acc[r][q], reinterpret_cast<__m512bh>(w[q]),
                                     reinterpret_cast<__m512bh>(xr));
    }
  }
}

#endif

}  // namespace typeformer::kernels::bf16_dot
