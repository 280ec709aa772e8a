#pragma once
// What a score or mask function means: its value at one point, or at a register of key
// columns. One definition, generic over an algebra of values (scalar_algebra below; the
// kernels add one for SIMD registers), so that every path computes the same thing.
//
// A context supplies the algebra, the placeholders' values and the operands' elements:
//   ctx.score(), ctx.q_idx(), ctx.kv_idx(), ctx.head_idx(), ctx.batch_idx()
//   ctx.template read<Operand, Pattern>(indices...)   (indices are in range: checked per call;
//   Pattern, a read_pattern, says how the indices vary across a register's keys)

#include <cmath>
#include <cstdint>
#include <limits>
#include <tuple>
#include <type_traits>
#include <utility>

#include <typeformer/functions/nodes.hpp>
#include <typeformer/functions/operands.hpp>

namespace typeformer::expr {

/// How an operand's indices vary across the keys of one register: not at all (one element,
/// broadcast), only in the last index, which is kv_idx itself (consecutive elements), or
/// otherwise (an element per key).
enum class read_pattern { per_key, uniform, along_keys };

/// Plain C++ values: int32 indices, float reals, bool conditions.
struct scalar_algebra {
  using integer = std::int32_t;
  using real = float;
  using condition = bool;

  static constexpr integer integer_constant(std::int32_t v) noexcept { return v; }
  static constexpr real real_constant(float v) noexcept { return v; }
  static constexpr condition condition_constant(bool v) noexcept { return v; }
  static constexpr real to_real(integer v) noexcept { return static_cast<real>(v); }

  /// ⌊a / b⌋ as Python's //; 0 for b = 0 (a call whose divisor may be 0 is refused before
  /// anything is evaluated, so this only keeps the arithmetic defined).
  static constexpr integer floor_divide(integer a, integer b) noexcept {
    if (b == 0) return 0;
    const std::int64_t q = std::int64_t{a} / b;
    return static_cast<integer>((std::int64_t{a} % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q);
  }
  /// a − b·⌊a / b⌋: the sign of b, as Python's %.
  static constexpr integer modulo(integer a, integer b) noexcept {
    if (b == 0) return 0;
    return static_cast<integer>(std::int64_t{a} - std::int64_t{b} * floor_divide(a, b));
  }
  template <class T>
  static constexpr T min(T a, T b) noexcept {
    return b < a ? b : a;
  }
  template <class T>
  static constexpr T max(T a, T b) noexcept {
    return a < b ? b : a;
  }
  static constexpr integer abs(integer a) noexcept { return a < 0 ? -a : a; }
  static real abs(real a) noexcept { return std::fabs(a); }
  static real exp(real a) noexcept { return std::exp(a); }
  static real log(real a) noexcept { return std::log(a); }
  static real tanh(real a) noexcept { return std::tanh(a); }
  template <class T>
  static constexpr T select(condition c, T a, T b) noexcept {
    return c ? a : b;
  }
  static constexpr condition logical_and(condition a, condition b) noexcept { return a && b; }
  static constexpr condition logical_or(condition a, condition b) noexcept { return a || b; }
  static constexpr condition logical_not(condition a) noexcept { return !a; }
  template <class T>
  static constexpr condition compare(binary_op op, T a, T b) noexcept {
    switch (op) {
      case binary_op::less:
        return a < b;
      case binary_op::less_equal:
        return a <= b;
      case binary_op::greater:
        return a > b;
      case binary_op::greater_equal:
        return a >= b;
      case binary_op::equal:
        return a == b;
      default:
        return a != b;
    }
  }
  /// T5's bucket in float32, as PyTorch computes it (log_bucket_node).
  static integer log_bucket(integer n, std::int32_t exact, std::int32_t max_distance,
                            std::int32_t buckets) noexcept {
    if (n < exact) return n;
    // PyTorch: log(n.float() / exact) / math.log(max_distance / exact) * (buckets - exact),
    // the middle term a Python double that the float tensor takes as float32.
    const auto span = static_cast<float>(std::log(double(max_distance) / double(exact)));
    const float large = std::log(static_cast<float>(n) / static_cast<float>(exact)) / span *
                        static_cast<float>(buckets - exact);
    return min(exact + static_cast<integer>(large), buckets - 1);
  }
};

namespace detail {
// The value of an operation's operand as the operation takes it: integers become reals where
// the other operand, or the result, is real.
template <class Algebra, class V>
constexpr auto as_real(const V& v) {
  if constexpr (std::is_same_v<V, typename Algebra::integer>)
    return Algebra::to_real(v);
  else
    return v;
}
}  // namespace detail

template <class Context>
constexpr auto evaluate_function(const integer_constant& n, const Context&) {
  return Context::algebra::integer_constant(n.value);
}
template <class Context>
constexpr auto evaluate_function(const real_constant& n, const Context&) {
  return Context::algebra::real_constant(n.value());
}
template <class Context>
constexpr auto evaluate_function(const condition_constant& n, const Context&) {
  return Context::algebra::condition_constant(n.value);
}
template <class Context, placeholder_id P>
constexpr auto evaluate_function(const placeholder<P>&, const Context& ctx) {
  if constexpr (P == placeholder_id::score) return ctx.score();
  if constexpr (P == placeholder_id::q_idx) return ctx.q_idx();
  if constexpr (P == placeholder_id::kv_idx) return ctx.kv_idx();
  if constexpr (P == placeholder_id::head_idx) return ctx.head_idx();
  if constexpr (P == placeholder_id::batch_idx) return ctx.batch_idx();
}
template <class Context, fixed_string Name, class T>
constexpr auto evaluate_function(const operand<Name, T>&, const Context& ctx) {
  return ctx.template read<operand<Name, T>>();
}
template <class Context, class Operand, class... I>
constexpr auto evaluate_function(const indexed<Operand, I...>& n, const Context& ctx);

template <class Context, unary_op Op, class A>
constexpr auto evaluate_function(const unary<Op, A>& n, const Context& ctx) {
  using L = typename Context::algebra;
  const auto a = evaluate_function(n.a, ctx);
  if constexpr (Op == unary_op::negate) return -a;
  if constexpr (Op == unary_op::logical_not) return L::logical_not(a);
  if constexpr (Op == unary_op::abs) return L::abs(a);
  if constexpr (Op == unary_op::exp) return L::exp(detail::as_real<L>(a));
  if constexpr (Op == unary_op::log) return L::log(detail::as_real<L>(a));
  if constexpr (Op == unary_op::tanh) return L::tanh(detail::as_real<L>(a));
  if constexpr (Op == unary_op::to_real) return detail::as_real<L>(a);
}

template <class Context, binary_op Op, class A, class B>
constexpr auto evaluate_function(const binary<Op, A, B>& n, const Context& ctx) {
  using L = typename Context::algebra;
  const auto a = evaluate_function(n.a, ctx);
  const auto b = evaluate_function(n.b, ctx);
  if constexpr (Op == binary_op::logical_and) {
    return L::logical_and(a, b);
  } else if constexpr (Op == binary_op::logical_or) {
    return L::logical_or(a, b);
  } else if constexpr (A::kind == value_kind::integer && B::kind == value_kind::integer) {
    if constexpr (Op == binary_op::add) return a + b;
    if constexpr (Op == binary_op::subtract) return a - b;
    if constexpr (Op == binary_op::multiply) return a * b;
    if constexpr (Op == binary_op::divide) return L::floor_divide(a, b);
    if constexpr (Op == binary_op::modulo) return L::modulo(a, b);
    if constexpr (Op == binary_op::min) return L::min(a, b);
    if constexpr (Op == binary_op::max) return L::max(a, b);
    if constexpr (is_comparison(Op)) return L::compare(Op, a, b);
  } else {
    const auto x = detail::as_real<L>(a);
    const auto y = detail::as_real<L>(b);
    if constexpr (Op == binary_op::add) return x + y;
    if constexpr (Op == binary_op::subtract) return x - y;
    if constexpr (Op == binary_op::multiply) return x * y;
    if constexpr (Op == binary_op::divide) {
      // By a constant: times its reciprocal, within an ulp of the quotient. A division took a
      // tenth of Gemma 2's soft-capping, 30·tanh(s / 30), on AVX-512 (docs/expressions.md).
      if constexpr (std::is_same_v<B, real_constant>)
        return x * (1.0f / n.b.value());
      else
        return x / y;
    }
    if constexpr (Op == binary_op::min) return L::min(x, y);
    if constexpr (Op == binary_op::max) return L::max(x, y);
    if constexpr (is_comparison(Op)) return L::compare(Op, x, y);
  }
}

template <class Context, class C, class A, class B>
constexpr auto evaluate_function(const select_node<C, A, B>& n, const Context& ctx) {
  using L = typename Context::algebra;
  const auto c = evaluate_function(n.condition, ctx);
  const auto a = evaluate_function(n.if_true, ctx);
  const auto b = evaluate_function(n.if_false, ctx);
  if constexpr (select_node<C, A, B>::kind == value_kind::integer)
    return L::select(c, a, b);
  else
    return L::select(c, detail::as_real<L>(a), detail::as_real<L>(b));
}

template <class Context, class N>
auto evaluate_function(const log_bucket_node<N>& n, const Context& ctx) {
  return Context::algebra::log_bucket(evaluate_function(n.n, ctx), n.exact, n.max_distance,
                                      n.buckets);
}

/// q · table[index]: the context holds the row's products with every row of the table.
template <class Context, class R>
constexpr auto evaluate_function(const query_dot_node<R>& n, const Context& ctx) {
  return ctx.query_dot(evaluate_function(n.a.indices.first, ctx));
}

/// Whether a value may differ between the keys of one query row (it reads kv_idx or score):
/// an operand indexed by values that do not is read once per row, not once per key.
template <class T>
using varies_across_keys = reads_placeholder<T, placeholder_id::kv_idx, placeholder_id::score>;

namespace detail {
template <class Operand, read_pattern Pattern, class Context, class List, class... Done>
constexpr auto read_indexed(const Context& ctx, const List& list, const Done&... done) {
  if constexpr (requires { list.first; })
    return read_indexed<Operand, Pattern>(ctx, list.rest, done...,
                                          evaluate_function(list.first, ctx));
  else
    return ctx.template read<Operand, Pattern>(done...);
}

template <class... I>
constexpr read_pattern pattern_of() {
  if constexpr (!(varies_across_keys<I>::value || ...)) {
    return read_pattern::uniform;
  } else {
    using types = std::tuple<I...>;
    using last = std::tuple_element_t<sizeof...(I) - 1, types>;
    constexpr bool leading_uniform = []<std::size_t... K>(std::index_sequence<K...>) {
      return !(varies_across_keys<std::tuple_element_t<K, types>>::value || ...);
    }
    (std::make_index_sequence<sizeof...(I) - 1>{});
    if constexpr (leading_uniform && std::is_same_v<last, placeholder<placeholder_id::kv_idx>>)
      return read_pattern::along_keys;
    else
      return read_pattern::per_key;
  }
}
}  // namespace detail

template <class Context, class Operand, class... I>
constexpr auto evaluate_function(const indexed<Operand, I...>& n, const Context& ctx) {
  return detail::read_indexed<Operand, detail::pattern_of<I...>()>(ctx, n.indices);
}

/// One point of a call: the placeholders' values and the call's operands.
template <class Bindings>
struct function_point {
  using algebra = scalar_algebra;
  float score_value = 0;
  std::int32_t q = 0, kv = 0, head = 0, batch = 0;
  const Bindings* operands = nullptr;
  /// The query row's query_dot products, by table row (natural units), where the function
  /// has a query_dot.
  const float* query_terms = nullptr;

  constexpr float score() const noexcept { return score_value; }
  constexpr std::int32_t q_idx() const noexcept { return q; }
  constexpr std::int32_t kv_idx() const noexcept { return kv; }
  constexpr std::int32_t head_idx() const noexcept { return head; }
  constexpr std::int32_t batch_idx() const noexcept { return batch; }
  constexpr float query_dot(std::int32_t row) const noexcept { return query_terms[row]; }
  template <class Operand, read_pattern = read_pattern::per_key, class... I>
  constexpr typename Operand::element read(I... i) const noexcept {
    constexpr std::size_t at = Bindings::template find<Operand::name>();
    return operands->template get<at>().at(i...);
  }
};

}  // namespace typeformer::expr
