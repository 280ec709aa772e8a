#pragma once
// Interval bounds of score and mask functions over a box of placeholder values: the range a
// value can take when q_idx, kv_idx, head_idx and batch_idx range over a tile (or a whole call,
// or, at compile time, over everything).
//
// They serve three purposes:
// - a mask function's bounds over a tile classify it: always false (skip the tile), always
//   true (run it without evaluating the mask), or either (evaluate it element by element);
// - an operand's index bounds are checked against its extents, statically where the indices'
//   range is known at compile time (a table of 21 rows under clamp(kv_idx − q_idx, −10, 10) +
//   10), or once per call over the call's whole box;
// - an integer value that could leave ±2^23, or a divisor that could be 0, is refused per
//   call, so the kernels' float lanes compute integers exactly (floor division included: its
//   quotient times the divisor then stays within 2^24, where floats are whole).
// Bounds are conservative: a tile classified "either" may be all true or all false.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include <typeformer/functions/evaluation.hpp>
#include <typeformer/functions/nodes.hpp>
#include <typeformer/functions/operands.hpp>

namespace typeformer::expr {

/// The integers every path computes exactly: float lanes hold whole numbers to 2^24, and floor
/// division needs a quotient times a divisor (at most |a| + |b|) to stay there.
inline constexpr double max_exact_integer = 8'388'608;  // 2^23

/// [lo, hi] of a value (a condition: 0 false, 1 true), in double so that every int32 and
/// float is exact and ±∞ means unbounded.
struct interval {
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
  /// Somewhere below: an integer outside ±2^23 (overflow), or a divisor that may be 0.
  bool may_overflow = false;
  bool may_divide_by_zero = false;

  static constexpr interval exactly(double v) noexcept { return {v, v}; }
  static constexpr interval between(double lo, double hi) noexcept { return {lo, hi}; }
  constexpr bool is_exact() const noexcept { return lo == hi; }
  constexpr bool is_finite() const noexcept {
    return lo > -std::numeric_limits<double>::infinity() &&
           hi < std::numeric_limits<double>::infinity();
  }
};

/// How a mask function stands over a tile.
enum class tile_class { empty, full, partial };

constexpr tile_class classify(const interval& condition) noexcept {
  if (condition.hi <= 0) return tile_class::empty;
  if (condition.lo >= 1) return tile_class::full;
  return tile_class::partial;
}

/// Ranges of the placeholders, and the bounds of operands' elements through `Operands`:
/// `operands.template bounds<Operand>(index intervals...)`.
template <class Operands>
struct function_box {
  interval score, q_idx, kv_idx, head_idx, batch_idx;
  Operands operands;
};

/// What is known of operands' elements before any is bound: their type's range.
struct unknown_operands {
  template <class Operand, class... I>
  constexpr interval bounds(const I&...) const noexcept {
    if constexpr (std::is_same_v<typename Operand::element, bool>) return interval::between(0, 1);
    if constexpr (std::is_same_v<typename Operand::element, std::int32_t>)
      return interval::between(std::numeric_limits<std::int32_t>::min(),
                               std::numeric_limits<std::int32_t>::max());
    return {};
  }
};

/// The box of every call: indices from 0 up, operands unknown. What a compile-time check sees.
constexpr function_box<unknown_operands> any_call_box() noexcept {
  constexpr double inf = std::numeric_limits<double>::infinity();
  return {{},
          interval::between(0, inf),
          interval::between(0, inf),
          interval::between(0, inf),
          interval::between(0, inf),
          {}};
}

namespace detail {
constexpr interval hull(const interval& a, const interval& b) noexcept {
  return {std::min(a.lo, b.lo), std::max(a.hi, b.hi), a.may_overflow || b.may_overflow,
          a.may_divide_by_zero || b.may_divide_by_zero};
}
// Carries the children's problems into a result.
constexpr interval with_problems(interval r, const interval& a, const interval& b) noexcept {
  r.may_overflow = r.may_overflow || a.may_overflow || b.may_overflow;
  r.may_divide_by_zero = r.may_divide_by_zero || a.may_divide_by_zero || b.may_divide_by_zero;
  return r;
}
// The smallest and largest of four candidates, a NaN (0·∞, ∞ − ∞, ∞/∞) meaning unbounded.
constexpr interval from_candidates(double a, double b, double c, double d) noexcept {
  constexpr double inf = std::numeric_limits<double>::infinity();
  if (a != a || b != b || c != c || d != d) return {-inf, inf};
  return {std::min({a, b, c, d}), std::max({a, b, c, d})};
}
constexpr double bound_product(double a, double b) noexcept {
  return (a == 0 || b == 0) ? 0.0 : a * b;  // 0·∞ is 0 for bounds of products
}
constexpr double floor_of(double x) noexcept {
  if (x != x || x == std::numeric_limits<double>::infinity() ||
      x == -std::numeric_limits<double>::infinity())
    return x;
  const auto t = static_cast<double>(static_cast<long long>(x));
  return t > x ? t - 1 : t;
}
constexpr interval integer_result(interval r) noexcept {
  if (r.lo < -max_exact_integer || r.hi > max_exact_integer) r.may_overflow = true;
  return r;
}
constexpr interval truth(bool can_be_false, bool can_be_true) noexcept {
  return {can_be_false ? 0.0 : 1.0, can_be_true ? 1.0 : 0.0};
}
}  // namespace detail

template <class Box>
constexpr interval function_bounds(const integer_constant& n, const Box&) noexcept {
  return interval::exactly(n.value);
}
template <class Box>
constexpr interval function_bounds(const real_constant& n, const Box&) noexcept {
  return interval::exactly(n.value());
}
template <class Box>
constexpr interval function_bounds(const condition_constant& n, const Box&) noexcept {
  return interval::exactly(n.value ? 1 : 0);
}
template <class Box, placeholder_id P>
constexpr interval function_bounds(const placeholder<P>&, const Box& box) noexcept {
  if constexpr (P == placeholder_id::score) return box.score;
  if constexpr (P == placeholder_id::q_idx) return box.q_idx;
  if constexpr (P == placeholder_id::kv_idx) return box.kv_idx;
  if constexpr (P == placeholder_id::head_idx) return box.head_idx;
  if constexpr (P == placeholder_id::batch_idx) return box.batch_idx;
}
template <class Box, fixed_string Name, class T>
constexpr interval function_bounds(const operand<Name, T>&, const Box& box) noexcept {
  return box.operands.template bounds<operand<Name, T>>();
}
template <class Box, class Operand, class... I>
constexpr interval function_bounds(const indexed<Operand, I...>& n, const Box& box) noexcept;

template <class Box, unary_op Op, class A>
constexpr interval function_bounds(const unary<Op, A>& n, const Box& box) noexcept {
  const interval a = function_bounds(n.a, box);
  interval r = a;
  if constexpr (Op == unary_op::negate) {
    r.lo = -a.hi, r.hi = -a.lo;
  } else if constexpr (Op == unary_op::logical_not) {
    r.lo = 1 - a.hi, r.hi = 1 - a.lo;
  } else if constexpr (Op == unary_op::abs) {
    if (a.hi <= 0) r.lo = -a.hi, r.hi = -a.lo;
    if (a.lo < 0 && a.hi > 0) r.lo = 0, r.hi = std::max(-a.lo, a.hi);
  } else if (std::is_constant_evaluated() &&
             (Op == unary_op::exp || Op == unary_op::log || Op == unary_op::tanh)) {
    r = {};  // not constexpr everywhere: unbounded at compile time
  } else if constexpr (Op == unary_op::exp) {
    r.lo = std::exp(a.lo), r.hi = std::exp(a.hi);
  } else if constexpr (Op == unary_op::log) {
    r.lo = a.lo > 0 ? std::log(a.lo) : -std::numeric_limits<double>::infinity();
    r.hi = a.hi > 0 ? std::log(a.hi) : -std::numeric_limits<double>::infinity();
  } else if constexpr (Op == unary_op::tanh) {
    r.lo = std::tanh(a.lo), r.hi = std::tanh(a.hi);
  }
  return unary<Op, A>::kind == value_kind::integer ? detail::integer_result(r) : r;
}

template <class Box, binary_op Op, class A, class B>
constexpr interval function_bounds(const binary<Op, A, B>& n, const Box& box) noexcept {
  const interval a = function_bounds(n.a, box);
  const interval b = function_bounds(n.b, box);
  constexpr double inf = std::numeric_limits<double>::infinity();
  constexpr bool integers = A::kind == value_kind::integer && B::kind == value_kind::integer;
  interval r;
  if constexpr (Op == binary_op::add) {
    r = detail::from_candidates(a.lo + b.lo, a.lo + b.lo, a.hi + b.hi, a.hi + b.hi);
  } else if constexpr (Op == binary_op::subtract) {
    r = detail::from_candidates(a.lo - b.hi, a.lo - b.hi, a.hi - b.lo, a.hi - b.lo);
  } else if constexpr (Op == binary_op::multiply) {
    r = detail::from_candidates(
        detail::bound_product(a.lo, b.lo), detail::bound_product(a.lo, b.hi),
        detail::bound_product(a.hi, b.lo), detail::bound_product(a.hi, b.hi));
  } else if constexpr (Op == binary_op::divide) {
    if (b.lo <= 0 && b.hi >= 0) {
      r = {-inf, inf};
      r.may_divide_by_zero = true;
    } else if constexpr (integers) {
      r = detail::from_candidates(detail::floor_of(a.lo / b.lo), detail::floor_of(a.lo / b.hi),
                                  detail::floor_of(a.hi / b.lo), detail::floor_of(a.hi / b.hi));
    } else {
      r = detail::from_candidates(a.lo / b.lo, a.lo / b.hi, a.hi / b.lo, a.hi / b.hi);
    }
  } else if constexpr (Op == binary_op::modulo) {
    if (b.lo <= 0 && b.hi >= 0) {
      r = {-inf, inf};
      r.may_divide_by_zero = true;
    } else if (b.is_exact() && a.is_finite() &&
               detail::floor_of(a.lo / b.lo) == detail::floor_of(a.hi / b.lo)) {
      const double base = b.lo * detail::floor_of(a.lo / b.lo);  // one period: no wrap
      r = {a.lo - base, a.hi - base};
    } else {
      r = b.lo > 0 ? interval::between(0, b.hi - 1) : interval::between(b.lo + 1, 0);
    }
  } else if constexpr (Op == binary_op::min) {
    r = {std::min(a.lo, b.lo), std::min(a.hi, b.hi)};
  } else if constexpr (Op == binary_op::max) {
    r = {std::max(a.lo, b.lo), std::max(a.hi, b.hi)};
  } else if constexpr (Op == binary_op::less) {
    r = detail::truth(a.hi >= b.lo, a.lo < b.hi);
  } else if constexpr (Op == binary_op::less_equal) {
    r = detail::truth(a.hi > b.lo, a.lo <= b.hi);
  } else if constexpr (Op == binary_op::greater) {
    r = detail::truth(a.lo <= b.hi, a.hi > b.lo);
  } else if constexpr (Op == binary_op::greater_equal) {
    r = detail::truth(a.lo < b.hi, a.hi >= b.lo);
  } else if constexpr (Op == binary_op::equal) {
    const bool same_point = a.is_exact() && b.is_exact() && a.lo == b.lo;
    r = detail::truth(!same_point, a.lo <= b.hi && b.lo <= a.hi);
  } else if constexpr (Op == binary_op::not_equal) {
    const bool same_point = a.is_exact() && b.is_exact() && a.lo == b.lo;
    r = detail::truth(a.lo <= b.hi && b.lo <= a.hi, !same_point);
  } else if constexpr (Op == binary_op::logical_and) {
    r = {std::min(a.lo, b.lo), std::min(a.hi, b.hi)};
  } else if constexpr (Op == binary_op::logical_or) {
    r = {std::max(a.lo, b.lo), std::max(a.hi, b.hi)};
  }
  r = detail::with_problems(r, a, b);
  return binary<Op, A, B>::kind == value_kind::integer ? detail::integer_result(r) : r;
}

template <class Box, class C, class A, class B>
constexpr interval function_bounds(const select_node<C, A, B>& n, const Box& box) noexcept {
  const interval c = function_bounds(n.condition, box);
  const interval a = function_bounds(n.if_true, box);
  const interval b = function_bounds(n.if_false, box);
  interval r = classify(c) == tile_class::full    ? a
               : classify(c) == tile_class::empty ? b
                                                  : detail::hull(a, b);
  r = detail::with_problems(detail::with_problems(r, a, b), c, c);
  return r;
}

template <class Box, class N>
constexpr interval function_bounds(const log_bucket_node<N>& n, const Box& box) noexcept {
  const interval d = function_bounds(n.n, box);
  // Non-decreasing in n (for n ≥ 0): the ends' buckets; below 0 a distance is its own bucket.
  // At compile time (std::log is not constexpr everywhere) the large ends widen to
  // [exact, buckets − 1].
  const auto bucket = [&](double x, bool upper) -> double {
    if (x < n.exact) return x;
    if (x == std::numeric_limits<double>::infinity()) return n.buckets - 1;
    if (std::is_constant_evaluated()) return upper ? n.buckets - 1 : n.exact;
    return scalar_algebra::log_bucket(static_cast<std::int32_t>(x), n.exact, n.max_distance,
                                      n.buckets);
  };
  interval r = {bucket(d.lo, false), bucket(d.hi, true), d.may_overflow, d.may_divide_by_zero};
  return r;
}

namespace detail {
template <class Operand, class Box, class List, class... Done>
constexpr interval indexed_bounds(const Box& box, const List& list, const Done&... done) {
  if constexpr (requires { list.first; })
    return indexed_bounds<Operand>(box, list.rest, done..., function_bounds(list.first, box));
  else
    return box.operands.template bounds<Operand>(done...);
}
}  // namespace detail

/// A table row is a vector, not a value: unbounded, with its index's problems.
template <class Box, class Operand, class I>
constexpr interval function_bounds(const table_row<Operand, I>& n, const Box& box) noexcept {
  const interval index = function_bounds(n.indices.first, box);
  return detail::with_problems(interval{}, index, index);
}
/// A query_dot is unbounded (it depends on the query); its index's problems carry over.
template <class Box, class R>
constexpr interval function_bounds(const query_dot_node<R>& n, const Box& box) noexcept {
  const interval index = function_bounds(n.a.indices.first, box);
  return detail::with_problems(interval{}, index, index);
}

template <class Box, class Operand, class... I>
constexpr interval function_bounds(const indexed<Operand, I...>& n, const Box& box) noexcept {
  return detail::indexed_bounds<Operand>(box, n.indices);
}

}  // namespace typeformer::expr
