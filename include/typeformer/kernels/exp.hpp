#pragma once
// exp and exp2 for the softmax inside the attention kernels, under a maths policy: the exact
// ones are xsimd's (std::exp and std::exp2 on the scalar path); the fast ones trade a few ulp for
// a shorter range reduction and polynomial. All are tested against each other and against
// float64.

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include <typeformer/kernels/simd.hpp>
#include <typeformer/kernels/unroll.hpp>

namespace typeformer {

/// How the attention kernels evaluate the exponentials of their softmax.
enum class maths {
  /// xsimd's exp (std::exp on the scalar path): within 1 ulp.
  exact,
  /// A degree-5 polynomial and no special-case handling beyond clamping: relative error below
  /// 5e-7 on [−87.3, 88], below 2.5e-7 on [−20, 20]. Inputs below −88 (and −∞) give exactly 0,
  /// inputs above 88 give e^88, NaN stays NaN. A softmax only feeds it inputs ≤ 0. The tiled
  /// attention kernel keeps its scores in base 2 under this policy (the queries scaled by
  /// log2 e) and takes 2^x, the same polynomial without the range reduction's two products:
  /// relative error below 2.5e-7 on [−126, 127].
  fast
};

namespace kernels {
namespace detail {

// exp(x) = 2^n · e^f with n = round(x·log2 e), f = x − n·ln 2 in [−ln2/2, ln2/2]. ln 2 is
// split in two (Cody and Waite): n·ln2_hi is exact for |n| ≤ 127, so f stays accurate on
// instruction sets without FMA too. Coefficients: a relative-error minimax fit of e^f on that
// interval, degree 5 (the exact policy's xsimd exp uses a longer one).
inline constexpr float exp_log2e = 1.44269504088896341f;
inline constexpr float exp_ln2_hi = 0.693359375f;
inline constexpr float exp_ln2_lo = -2.12194440e-4f;
inline constexpr float exp_limit = 88.0f;
inline constexpr float exp_poly[6] = {1.00000012f,  0.999999702f,  0.499988943f,
                                      0.166675746f, 0.0419153832f, 0.00829765480f};

// 2^x = 2^n · 2^f with n = round(x) and f = x − n in [−1/2, 1/2], exact in float; 2^f =
// e^(f·ln 2) by the polynomial above with its coefficients times powers of ln 2.
inline constexpr float exp2_limit = 127.0f;
inline constexpr float exp2_poly[6] = {1.00000012f,   0.693146974f,   0.240221195f,
                                       0.0555071323f, 0.00967554161f, 0.00132764715f};

/// x clamped to [−limit, limit], and its nearest whole number. A NaN x gives NaN on x86, where
/// MAXPS and MINPS return their second operand when either is NaN, and on the scalar path
/// (checked first); scaled_polynomial restores it on other instruction sets.
template <class Arch>
[[gnu::always_inline]] inline typename simd::ops<Arch>::batch clamp(
    const typename simd::ops<Arch>::batch& x, float limit) noexcept {
  if constexpr (std::is_same_v<Arch, simd::scalar>) {
    return std::isnan(x) ? x : std::fmin(std::fmax(x, -limit), limit);
  } else {
    using batch = typename simd::ops<Arch>::batch;
    return xsimd::min(batch(limit), xsimd::max(batch(-limit), x));
  }
}

template <class Arch>
[[gnu::always_inline]] inline typename simd::ops<Arch>::batch nearest_whole(
    const typename simd::ops<Arch>::batch& x) noexcept {
  if constexpr (std::is_same_v<Arch, simd::scalar>) {
    return std::nearbyint(x);
  } else {
    return xsimd::nearbyint(x);
  }
}

/// poly(f)·2^n, the degree-5 polynomial `c` at f, for whole n in [−127, 127]: 2^n from the
/// exponent bits, where n = −127 gives the bits of 0. A NaN x gives NaN: through the
/// polynomial where clamp kept it (no compare and blend: 1–2% of the AVX2 attention core),
/// by a select elsewhere.
template <class Arch>
[[gnu::always_inline]] inline typename simd::ops<Arch>::batch scaled_polynomial(
    const typename simd::ops<Arch>::batch& x, const typename simd::ops<Arch>::batch& f,
    const typename simd::ops<Arch>::batch& n, const float (&c)[6]) noexcept {
  using O = simd::ops<Arch>;
  auto p = O::splat(c[5]);
  TYPEFORMER_UNROLL_REGISTER_LOOP
  for (int k = 4; k >= 0; --k) p = O::fma(p, f, O::splat(c[k]));
  if constexpr (std::is_same_v<Arch, simd::scalar>) {
    if (std::isnan(x)) return x;
    const auto bits = static_cast<std::uint32_t>(static_cast<std::int32_t>(n) + 127) << 23;
    float two_n;
    std::memcpy(&two_n, &bits, sizeof two_n);
    return p * two_n;
  } else {
    using ints = xsimd::batch<std::int32_t, Arch>;
    const auto two_n = xsimd::bitwise_cast<typename O::batch>((xsimd::to_int(n) + ints(127)) << 23);
    if constexpr (simd::max_min_keep_nan_of_second<Arch>) return p * two_n;
    return xsimd::select(xsimd::isnan(x), x, p * two_n);
  }
}

}  // namespace detail

/// e^x lane by lane under the policy `M`. Always inlined: a softmax evaluates several
/// registers of it side by side, and GCC's -O2 inliner left it a call (11% of the attention
/// core, against 0 at -O3).
template <class Arch, maths M>
[[gnu::always_inline]] inline typename simd::ops<Arch>::batch exp(
    const typename simd::ops<Arch>::batch& x) noexcept {
  using O = simd::ops<Arch>;
  if constexpr (M == maths::exact) {
    return O::exp(x);
  } else {
    const auto xc = detail::clamp<Arch>(x, detail::exp_limit);
    const auto n = detail::nearest_whole<Arch>(xc * O::splat(detail::exp_log2e));
    const auto f =
        O::fma(-n, O::splat(detail::exp_ln2_lo), O::fma(-n, O::splat(detail::exp_ln2_hi), xc));
    return detail::scaled_polynomial<Arch>(x, f, n, detail::exp_poly);
  }
}

/// 2^x lane by lane under the policy `M`. The fast one: relative error below 2.5e-7 on
/// [−126, 127]; inputs below −127 (and −∞) give exactly 0, inputs above 127 give 2^127, NaN stays
/// NaN. Against exp it saves the product by log2 e and the two of the range reduction: a third
/// of the softmax step's multiplies in the attention core.
template <class Arch, maths M>
[[gnu::always_inline]] inline typename simd::ops<Arch>::batch exp2(
    const typename simd::ops<Arch>::batch& x) noexcept {
  using O = simd::ops<Arch>;
  if constexpr (M == maths::exact) {
    return O::exp2(x);
  } else {
    const auto xc = detail::clamp<Arch>(x, detail::exp2_limit);
    const auto n = detail::nearest_whole<Arch>(xc);
    return detail::scaled_polynomial<Arch>(x, xc - n, n, detail::exp2_poly);
  }
}

/// e^x under a policy chosen at run time (one predictable branch per call).
template <class Arch>
typename simd::ops<Arch>::batch exp(maths m, const typename simd::ops<Arch>::batch& x) noexcept {
  return m == maths::fast ? kernels::exp<Arch, maths::fast>(x)
                          : kernels::exp<Arch, maths::exact>(x);
}

}  // namespace kernels
}  // namespace typeformer
