#pragma once
// The vocabulary of score and mask functions: what a user writes to make an attention variant.
//
//   using namespace typeformer::expr;
//   constexpr auto window = kv_idx <= q_idx && q_idx - kv_idx < 256;   // a mask function
//   constexpr auto capped = 50.0f * tanh(score / 50.0f);               // a score function
//
// An expression is a value of a structural type: its tree is the type, its constants are
// members (floats as their bits: clang 14 takes no floating-point template arguments), so a
// whole expression travels as a template argument (`mask_function<window>`) and the kernel
// sees every constant at compile time. Three kinds of value: integers (indices), reals (float)
// and conditions. Integers are exact within ±2^23 (the kernels keep them in float lanes, where
// SSE2 has no 32-bit multiply); a call whose integer values could leave that range is refused
// before anything is evaluated (functions/bounds.hpp).
// Integer `/` and `%` floor, as Python's `//` and `%` do (FlexAttention's mask_mods are Python),
// so ported code means the same; for non-negative operands they are C++'s.

#include <bit>
#include <cstdint>
#include <limits>
#include <type_traits>

#include <typeformer/core/errors.hpp>

namespace typeformer::expr {

enum class value_kind { integer, real, condition };

/// The base of every node: what makes a type part of this vocabulary.
struct function_node {};

template <class T>
concept function_expr = std::is_base_of_v<function_node, T>;

/// A node that stands for a value (not an operand table that still needs its indices).
template <class T>
concept function_value = function_expr<T> && requires {
  T::kind;
};

// ---- Leaves -------------------------------------------------------------------------------

struct integer_constant : function_node {
  static constexpr value_kind kind = value_kind::integer;
  std::int32_t value;
};

/// A float constant, kept as its bits so that the expression stays a valid template argument
/// on compilers without floating-point ones.
struct real_constant : function_node {
  static constexpr value_kind kind = value_kind::real;
  std::uint32_t bits;
  constexpr float value() const noexcept { return std::bit_cast<float>(bits); }
};

struct condition_constant : function_node {
  static constexpr value_kind kind = value_kind::condition;
  bool value;
};

enum class placeholder_id { score, q_idx, kv_idx, head_idx, batch_idx };

/// What a function is evaluated at: the score (a score function's input, in natural units,
/// after the layer's scale), the query row, the key column, the head and the batch entry.
template <placeholder_id P>
struct placeholder : function_node {
  static constexpr value_kind kind =
      P == placeholder_id::score ? value_kind::real : value_kind::integer;
  static constexpr placeholder_id id = P;
};

inline constexpr placeholder<placeholder_id::score> score{};
inline constexpr placeholder<placeholder_id::q_idx> q_idx{};
inline constexpr placeholder<placeholder_id::kv_idx> kv_idx{};
/// FlexAttention's `h` and `b` (named so as not to clash with `typeformer::batch<N>`).
inline constexpr placeholder<placeholder_id::head_idx> head_idx{};
inline constexpr placeholder<placeholder_id::batch_idx> batch_idx{};

// ---- Operations ---------------------------------------------------------------------------

enum class unary_op { negate, logical_not, abs, exp, log, tanh, to_real };
enum class binary_op {
  add,
  subtract,
  multiply,
  divide,  // floor division for integers, true division for reals
  modulo,  // integers only; the result takes the divisor's sign
  min,
  max,
  less,
  less_equal,
  greater,
  greater_equal,
  equal,
  not_equal,
  logical_and,
  logical_or
};

constexpr bool is_comparison(binary_op op) noexcept {
  return op >= binary_op::less && op <= binary_op::not_equal;
}
constexpr bool is_logical(binary_op op) noexcept {
  return op == binary_op::logical_and || op == binary_op::logical_or;
}

/// The kind an operation yields. Misuse (arithmetic on conditions, `&&` on numbers, `%` on
/// reals) is refused where the expression is written (function_rules below); the kind computed
/// here for it is only a placeholder that keeps the compiler from a second error.
constexpr value_kind result_kind(binary_op op, value_kind a, value_kind b) noexcept {
  if (is_comparison(op) || is_logical(op)) return value_kind::condition;
  return a == value_kind::integer && b == value_kind::integer ? value_kind::integer
                                                              : value_kind::real;
}
constexpr value_kind result_kind(unary_op op, value_kind a) noexcept {
  switch (op) {
    case unary_op::logical_not:
      return value_kind::condition;
    case unary_op::negate:
    case unary_op::abs:
      return a == value_kind::integer ? value_kind::integer : value_kind::real;
    default:
      return value_kind::real;
  }
}

template <unary_op Op, function_value A>
struct unary : function_node {
  static constexpr value_kind kind = result_kind(Op, A::kind);
  static constexpr unary_op op = Op;
  A a;
};

template <binary_op Op, function_value A, function_value B>
struct binary : function_node {
  static constexpr value_kind kind = result_kind(Op, A::kind, B::kind);
  static constexpr binary_op op = Op;
  A a;
  B b;
};

/// `if_true` where `condition` holds, else `if_false` (both evaluated: lanes take one each).
template <function_value C, function_value A, function_value B>
struct select_node : function_node {
  static constexpr value_kind kind =
      A::kind == value_kind::integer && B::kind == value_kind::integer ? value_kind::integer
                                                                       : value_kind::real;
  C condition;
  A if_true;
  B if_false;
};

/// T5's logarithmic bucket of a non-negative distance n (Hugging Face's
/// `_relative_position_bucket` after its sign handling): n itself below `exact`, then
/// exact + ⌊log(n / exact) / log(max_distance / exact) · (buckets − exact)⌋, at most
/// buckets − 1; the logarithms in float32, as PyTorch computes them.
template <function_value N>
struct log_bucket_node : function_node {
  static constexpr value_kind kind = value_kind::integer;
  N n;
  std::int32_t exact, max_distance, buckets;
};

// ---- Writing expressions ------------------------------------------------------------------

/// What may stand beside a node in an expression: a node, or a C++ number or bool (a constant).
template <class T>
concept function_operand =
    function_expr<std::remove_cvref_t<T>> || std::is_arithmetic_v<std::remove_cvref_t<T>>;

template <class T>
constexpr auto lift(const T& x) {
  if constexpr (function_expr<T>) {
    return x;
  } else if constexpr (std::is_same_v<T, bool>) {
    return condition_constant{{}, x};
  } else if constexpr (std::is_integral_v<T>) {
    if (x < std::numeric_limits<std::int32_t>::min() ||
        x > std::numeric_limits<std::int32_t>::max())
      throw shape_error("an integer constant of a score or mask function must fit 32 bits");
    return integer_constant{{}, static_cast<std::int32_t>(x)};
  } else {
    return real_constant{{}, std::bit_cast<std::uint32_t>(static_cast<float>(x))};
  }
}
template <class T>
using lifted = decltype(lift(std::declval<T>()));

namespace function_rules {
// Each rule is a static_assert in the operator that breaks it, so the first error line says
// what is wrong; the node it returns still has a valid type, so nothing else fails after it.
template <class A>
constexpr bool is_value = function_value<A>;
template <class A>
constexpr bool is_number = function_value<A>&& A::kind != value_kind::condition;
template <class A>
constexpr bool is_condition = function_value<A>&& A::kind == value_kind::condition;
}  // namespace function_rules

template <binary_op Op, class A, class B>
constexpr auto make_binary(const A& a, const B& b) {
  using L = lifted<A>;
  using R = lifted<B>;
  static_assert(function_rules::is_value<L> && function_rules::is_value<R>,
                "an operand table must be indexed before it is used as a value: name[i] or "
                "name(i, j)");
  if constexpr (is_logical(Op)) {
    static_assert(function_rules::is_condition<L> && function_rules::is_condition<R>,
                  "&& and || take conditions (comparisons), not numbers");
  } else {
    static_assert(function_rules::is_number<L> && function_rules::is_number<R>,
                  "arithmetic, comparisons, min and max take numbers, not conditions: use && || "
                  "! or select(condition, a, b)");
  }
  if constexpr (Op == binary_op::modulo)
    static_assert(L::kind == value_kind::integer && R::kind == value_kind::integer,
                  "% takes integers (indices), not reals");
  if constexpr (function_value<L> && function_value<R>)
    return binary<Op, L, R>{{}, lift(a), lift(b)};
  else
    return integer_constant{{}, 0};
}

template <unary_op Op, class A>
constexpr auto make_unary(const A& a) {
  using L = lifted<A>;
  static_assert(function_rules::is_value<L>,
                "an operand table must be indexed before it is used as a value: name[i] or "
                "name(i, j)");
  if constexpr (Op == unary_op::logical_not)
    static_assert(function_rules::is_condition<L>, "! takes a condition, not a number");
  else
    static_assert(function_rules::is_number<L>,
                  "arithmetic and exp, log, tanh, abs take numbers, not conditions");
  if constexpr (function_value<L>)
    return unary<Op, L>{{}, lift(a)};
  else
    return integer_constant{{}, 0};
}

template <class A, class B>
concept function_pair = function_operand<A> && function_operand<B> &&
    (function_expr<std::remove_cvref_t<A>> || function_expr<std::remove_cvref_t<B>>);

template <class A, class B>
requires function_pair<A, B>
constexpr auto operator+(const A& a, const B& b) { return make_binary<binary_op::add>(a, b); }
template <class A, class B>
requires function_pair<A, B>
constexpr auto operator-(const A& a, const B& b) { return make_binary<binary_op::subtract>(a, b); }
template <class A, class B>
requires function_pair<A, B>
constexpr auto operator*(const A& a, const B& b) { return make_binary<binary_op::multiply>(a, b); }
template <class A, class B>
requires function_pair<A, B>
constexpr auto operator/(const A& a, const B& b) { return make_binary<binary_op::divide>(a, b); }
template <class A, class B>
requires function_pair<A, B>
constexpr auto operator%(const A& a, const B& b) { return make_binary<binary_op::modulo>(a, b); }
template <class A, class B>
requires function_pair<A, B>
constexpr auto operator<(const A& a, const B& b) { return make_binary<binary_op::less>(a, b); }
template <class A, class B>
requires function_pair<A, B>
constexpr auto operator<=(const A& a, const B& b) {
  return make_binary<binary_op::less_equal>(a, b);
}
template <class A, class B>
requires function_pair<A, B>
constexpr auto operator>(const A& a, const B& b) { return make_binary<binary_op::greater>(a, b); }
template <class A, class B>
requires function_pair<A, B>
constexpr auto operator>=(const A& a, const B& b) {
  return make_binary<binary_op::greater_equal>(a, b);
}
template <class A, class B>
requires function_pair<A, B>
constexpr auto operator==(const A& a, const B& b) { return make_binary<binary_op::equal>(a, b); }
template <class A, class B>
requires function_pair<A, B>
constexpr auto operator!=(const A& a, const B& b) {
  return make_binary<binary_op::not_equal>(a, b);
}
template <class A, class B>
requires function_pair<A, B>
constexpr auto operator&&(const A& a, const B& b) {
  return make_binary<binary_op::logical_and>(a, b);
}
template <class A, class B>
requires function_pair<A, B>
constexpr auto operator||(const A& a, const B& b) {
  return make_binary<binary_op::logical_or>(a, b);
}

template <function_expr A>
constexpr auto operator-(const A& a) {
  return make_unary<unary_op::negate>(a);
}
template <function_expr A>
constexpr auto operator!(const A& a) {
  return make_unary<unary_op::logical_not>(a);
}

template <class A, class B>
requires function_pair<A, B>
constexpr auto min(const A& a, const B& b) { return make_binary<binary_op::min>(a, b); }
template <class A, class B>
requires function_pair<A, B>
constexpr auto max(const A& a, const B& b) { return make_binary<binary_op::max>(a, b); }
/// min(max(x, lo), hi).
template <function_expr X, function_operand Lo, function_operand Hi>
constexpr auto clamp(const X& x, const Lo& lo, const Hi& hi) {
  return min(max(x, lo), hi);
}
template <function_expr A>
constexpr auto abs(const A& a) {
  return make_unary<unary_op::abs>(a);
}
template <function_expr A>
constexpr auto exp(const A& a) {
  return make_unary<unary_op::exp>(a);
}
template <function_expr A>
constexpr auto log(const A& a) {
  return make_unary<unary_op::log>(a);
}
template <function_expr A>
constexpr auto tanh(const A& a) {
  return make_unary<unary_op::tanh>(a);
}
/// An integer as a real (float).
template <function_expr A>
constexpr auto to_real(const A& a) {
  return make_unary<unary_op::to_real>(a);
}

template <function_operand C, function_operand A, function_operand B>
requires function_expr<std::remove_cvref_t<C>>
constexpr auto select(const C& condition, const A& if_true, const B& if_false) {
  using LC = lifted<C>;
  using LA = lifted<A>;
  using LB = lifted<B>;
  static_assert(function_rules::is_condition<LC>,
                "select(condition, a, b) takes a condition first (a comparison)");
  static_assert(function_rules::is_number<LA> && function_rules::is_number<LB>,
                "select(condition, a, b) chooses between numbers; for conditions use && and ||");
  if constexpr (function_value<LC> && function_value<LA> && function_value<LB>)
    return select_node<LC, LA, LB>{{}, lift(condition), lift(if_true), lift(if_false)};
  else
    return integer_constant{{}, 0};
}

/// T5's logarithmic bucket of a distance n ≥ 0 (see log_bucket_node). The bidirectional and
/// causal forms add the sign handling around it (docs/expressions.md).
template <function_expr N>
constexpr auto log_bucket(const N& n, std::int32_t exact, std::int32_t max_distance,
                          std::int32_t buckets) {
  static_assert(function_value<N> && N::kind == value_kind::integer,
                "log_bucket(n, exact, max_distance, buckets) takes an integer distance");
  if (!(exact > 0 && max_distance > exact && buckets > exact))
    throw shape_error("log_bucket needs 0 < exact < max_distance and exact < buckets");
  return log_bucket_node<N>{{}, n, exact, max_distance, buckets};
}

}  // namespace typeformer::expr
