#pragma once
// Score and mask functions (functions/) over a register of key columns: the algebra
// of SIMD lanes, and the context of one query row against one register of keys.
//
// Integers are kept in float lanes (exact within ±2^23, which every call is checked to stay
// in): SSE2 has no 32-bit integer multiply, and one lane type means no conversions between
// integer and float masks. On the scalar path the algebra is expr::scalar_algebra (int32), so
// both paths compute the same values.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <typeformer/functions/evaluation.hpp>
#include <typeformer/kernels/simd.hpp>

namespace typeformer::kernels {

/// Values of a register of lanes, all kept in float lanes.
template <class Arch>
struct lane_algebra {
  using real = xsimd::batch<float, Arch>;
  using integer = real;
  using condition = xsimd::batch_bool<float, Arch>;
  static constexpr std::size_t width = real::size;

  static integer integer_constant(std::int32_t v) noexcept { return integer(float(v)); }
  static real real_constant(float v) noexcept { return real(v); }
  static condition condition_constant(bool v) noexcept { return condition(v); }
  static real to_real(const integer& v) noexcept { return v; }

  /// ⌊a / b⌋ for integers within ±2^23 (b ≠ 0): the float quotient is within one of the true
  /// floor, and the remainder says which way; q·b stays within 2^24, so the remainder is exact
  /// with or without a fused multiply-add.
  static integer floor_divide(const integer& a, const integer& b) noexcept {
    integer q = xsimd::floor(a / b);
    const integer r = xsimd::fma(-q, b, a);
    const auto positive = b > integer(0.0f);
    const auto low = (positive && r < integer(0.0f)) || (~positive && r > integer(0.0f));
    const auto high = (positive && r >= b) || (~positive && r <= b);
    q = xsimd::select(low, q - integer(1.0f), q);
    return xsimd::select(high, q + integer(1.0f), q);
  }
  static integer modulo(const integer& a, const integer& b) noexcept {
    return xsimd::fma(-floor_divide(a, b), b, a);
  }
  static real min(const real& a, const real& b) noexcept { return xsimd::min(a, b); }
  static real max(const real& a, const real& b) noexcept { return xsimd::max(a, b); }
  static real abs(const real& a) noexcept { return xsimd::abs(a); }
  static real exp(const real& a) noexcept { return xsimd::exp(a); }
  static real log(const real& a) noexcept { return xsimd::log(a); }
  static real tanh(const real& a) noexcept { return xsimd::tanh(a); }
  static real select(const condition& c, const real& a, const real& b) noexcept {
    return xsimd::select(c, a, b);
  }
  static condition logical_and(const condition& a, const condition& b) noexcept { return a && b; }
  static condition logical_or(const condition& a, const condition& b) noexcept { return a || b; }
  static condition logical_not(const condition& a) noexcept { return ~a; }
  static condition compare(expr::binary_op op, const real& a, const real& b) noexcept {
    switch (op) {
      case expr::binary_op::less:
        return a < b;
      case expr::binary_op::less_equal:
        return a <= b;
      case expr::binary_op::greater:
        return a > b;
      case expr::binary_op::greater_equal:
        return a >= b;
      case expr::binary_op::equal:
        return a == b;
      default:
        return a != b;
    }
  }
  /// Lane by lane through the scalar form, so that every path buckets alike (a vector log may
  /// round differently at a bucket's edge).
  static integer log_bucket(const integer& n, std::int32_t exact, std::int32_t max_distance,
                            std::int32_t buckets) noexcept {
    alignas(64) float lanes[width];
    n.store_aligned(lanes);
    for (float& x : lanes)
      x = float(expr::scalar_algebra::log_bucket(static_cast<std::int32_t>(x), exact, max_distance,
                                                 buckets));
    return integer::load_aligned(lanes);
  }
};

/// The algebra of a path: lanes of a register, or plain values on the scalar path.
template <class Arch>
using function_algebra = std::conditional_t<std::is_same_v<Arch, simd::scalar>,
                                            expr::scalar_algebra, lane_algebra<Arch>>;

/// One query row against one register of keys [kv0, kv0 + width) of (batch, head), with the
/// register's scores (natural units) and the call's operands. Lanes past the call's last key
/// (a register's tail, masked afterwards) read as that key, so operands are read in range.
template <class Arch, class Bindings>
struct function_lanes {
  using algebra = function_algebra<Arch>;
  using real = typename algebra::real;
  using integer = typename algebra::integer;

  real score_lanes;
  std::int32_t q, kv0, kv_last, head, batch;
  const Bindings* operands;
  /// The row's query_dot products by table row (natural units), and whether the register's
  /// index is known to be one row (`constant_term` its product): a key tile beyond Shaw's
  /// ±K adds one value, with no lookup per key.
  const float* query_terms = nullptr;
  bool has_constant_term = false;
  float constant_term = 0;

  real score() const noexcept { return score_lanes; }
  integer q_idx() const noexcept { return uniform(q); }
  integer kv_idx() const noexcept {
    if constexpr (std::is_same_v<Arch, simd::scalar>) {
      return kv0;
    } else {
      alignas(64) static constexpr float lane_numbers[16] = {0, 1, 2,  3,  4,  5,  6,  7,
                                                             8, 9, 10, 11, 12, 13, 14, 15};
      static_assert(real::size <= 16);
      return xsimd::min(real::load_aligned(lane_numbers) + real(float(kv0)), real(float(kv_last)));
    }
  }
  real query_dot(const integer& row) const noexcept {
    if constexpr (std::is_same_v<Arch, simd::scalar>) {
      return has_constant_term ? constant_term : query_terms[row];
    } else {
      if (has_constant_term) return real(constant_term);
      constexpr std::size_t W = simd::ops<Arch>::width;
      alignas(64) float lanes[W];
      row.store_aligned(lanes);
      for (float& x : lanes) x = query_terms[static_cast<std::size_t>(x)];
      return real::load_aligned(lanes);
    }
  }
  integer head_idx() const noexcept { return uniform(head); }
  integer batch_idx() const noexcept { return uniform(batch); }

  /// An operand's elements at the lanes' indices (in range: checked once per call), read as
  /// `Pattern` says the indices vary: one element broadcast (uniform), consecutive elements from
  /// the register's first key (along_keys, unless the register runs past the last key), or one
  /// element per lane.
  template <class Operand, expr::read_pattern Pattern = expr::read_pattern::per_key, class... I>
  auto read(const I&... indices) const noexcept {
    constexpr std::size_t at = Bindings::template find<Operand::name>();
    const auto& bound = operands->template get<at>();
    using element = typename Operand::element;
    constexpr std::size_t W = simd::ops<Arch>::width;
    if constexpr (std::is_same_v<Arch, simd::scalar>) {
      return bound.at(indices...);
    } else if constexpr (sizeof...(I) == 0 || Pattern == expr::read_pattern::uniform) {
      return as_lanes(bound.at(static_cast<std::int64_t>(indices.get(0))...));
    } else {
      alignas(64) float values[W];
      if constexpr (Pattern == expr::read_pattern::along_keys) {
        if (kv0 + static_cast<std::int32_t>(W) - 1 <= kv_last) {
          // The leading indices are uniform; the last is kv0, kv0 + 1, …
          const element* run = bound.address(static_cast<std::int64_t>(indices.get(0))...);
          for (std::size_t w = 0; w < W; ++w) values[w] = static_cast<float>(run[w]);
          return as_lanes<element>(values);
        }
      }
      alignas(64) float lanes[sizeof...(I)][W];
      std::size_t k = 0;
      ((indices.store_aligned(lanes[k++])), ...);
      for (std::size_t w = 0; w < W; ++w)
        values[w] = static_cast<float>(
            read_lane(bound, lanes, w, std::make_index_sequence<sizeof...(I)>{}));
      return as_lanes<element>(values);
    }
  }

 private:
  template <class Element>
  static auto as_lanes(Element v) noexcept {
    if constexpr (std::is_same_v<Element, bool>)
      return typename algebra::condition(v);
    else
      return real(static_cast<float>(v));
  }
  template <class Element>
  static auto as_lanes(const float (&values)[simd::ops<Arch>::width]) noexcept {
    if constexpr (std::is_same_v<Element, bool>)
      return real::load_aligned(values) != real(0.0f);
    else
      return real::load_aligned(values);
  }
  static integer uniform(std::int32_t v) noexcept {
    if constexpr (std::is_same_v<Arch, simd::scalar>)
      return v;
    else
      return integer(float(v));
  }
  template <class Bound, std::size_t N, std::size_t W, std::size_t... K>
  static auto read_lane(const Bound& bound, const float (&lanes)[N][W], std::size_t w,
                        std::index_sequence<K...>) noexcept {
    return bound.at(static_cast<std::int64_t>(lanes[K][w])...);
  }
};

}  // namespace typeformer::kernels
