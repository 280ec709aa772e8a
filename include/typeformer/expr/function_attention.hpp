#pragma once
// Score and mask functions in the attention expression (expr/nodes.hpp):
//
//   using namespace typeformer::expr;
//   constexpr operand<"window", std::int32_t> window;
//   constexpr auto sliding = kv_idx <= q_idx && q_idx - kv_idx < window;
//   constexpr auto capped = 30.0f * tanh(score / 30.0f);
//
//   evaluate(out, softmax(score_function<capped>(s * q * transpose(k)) +
//                         mask_function<sliding>(bind<"window">(256))) * v, ws);
//
// score_function<E>(scores, operands...) replaces each scaled score s by E at it (FlexAttention's
// score_mod); mask_function<E>(operands...) hides the keys where E is false (its mask_mod);
// v + value_function<E>(operands...) adds the table row E to value j as row i sees it (Shaw's
// rel_v, beyond FlexAttention). The operands a function names are bound beside it. Both run inside
// the fused kernel: no score matrix, and tiles the mask function rules out are skipped
// (kernels/attention_functions.hpp).

#include <tuple>
#include <type_traits>
#include <utility>

#include <typeformer/expr/masks.hpp>
#include <typeformer/expr/nodes.hpp>
#include <typeformer/functions/call.hpp>
#include <typeformer/functions/nodes.hpp>
#include <typeformer/functions/operands.hpp>
#include <typeformer/functions/static_checks.hpp>

namespace typeformer::expr {

/// Scores with a score function applied: `score_function<E>(scores, operands...)`.
template <auto E, class Scores, class Bindings>
struct scored {
  static constexpr auto function = E;
  Scores inner;
  Bindings operands;
};
template <auto E, class S, class B>
struct is_node<scored<E, S, B>> : std::true_type {};

/// A mask function as a mask of the attention expression: `scores + mask_function<E>(...)`.
template <auto E, class Bindings>
struct function_mask {
  static constexpr auto function = E;
  static constexpr masks::static_extents extents{};
  static constexpr masks::mask_slot slot = masks::mask_slot::none;
  Bindings operands;
  // The kernel takes the function itself; nothing goes into the mask slots.
  void lower(kernels::mask_spec&, const masks::call_extents&) const noexcept {}
};

/// Operands bound at one call of a layer whose declared score or mask function names them,
/// given in the mask's place: `layer::forward(p, x, x, x, y, ws,
/// call_operands(bind<"window">(256)))`.
template <class Bindings>
struct operands_at_call {
  template <class>
  using is_operands_at_call = void;
  static constexpr masks::static_extents extents{};
  static constexpr masks::mask_slot slot = masks::mask_slot::none;
  Bindings operands;
  void lower(kernels::mask_spec&, const masks::call_extents&) const noexcept {}
};

template <class... Bound>
requires(is_bound_operand<Bound>::value&&...) auto call_operands(const Bound&... operands) {
  constexpr bool each_name_once = bindings<Bound...>::distinct;
  static_assert(each_name_once,
                "an operand is bound twice at one call (two bind<\"name\">(...) of one name): "
                "bind each name once");
  return operands_at_call<bindings<Bound...>>{bind_all(operands...)};
}

/// A value function: one row of a 2-D table added to each value as each query row sees it,
/// `v + value_function<rel_v[bucket]>(bind<"rel_v">(...))` (Shaw's z_i = Σ_j α_ij·(v_j +
/// rel_v[r(i, j)])). The kernel keeps the probability mass per table row, not the rows per key.
template <auto E, class Bindings>
struct value_rows_term {
  static constexpr auto function = E;
  Bindings operands;
};

/// Values with a value function's rows added: `v + value_function<E>(...)`.
template <class V, auto E, class Bindings>
struct with_value_rows {
  V inner;  // a leaf
  Bindings operands;
  static constexpr auto function = E;
};
template <class V, auto E, class B>
struct is_node<with_value_rows<V, E, B>> : std::true_type {};

template <class T>
struct is_value_rows_term : std::false_type {};
template <auto E, class B>
struct is_value_rows_term<value_rows_term<E, B>> : std::true_type {};

template <tensor_operand V, class T>
requires is_value_rows_term<T>::value auto operator+(V&& v, const T& rows) {
  return with_value_rows<node_t<V>, T::function, std::remove_cvref_t<decltype(rows.operands)>>{
      node(std::forward<V>(v)), rows.operands};
}

/// The operands of two functions as one set.
template <class... A, class... B>
bindings<A..., B...> joined(const bindings<A...>& a, const bindings<B...>& b);

template <class T>
struct is_function_mask : std::false_type {};
template <auto E, class B>
struct is_function_mask<function_mask<E, B>> : std::true_type {};

/// Whether T is what expr::call_operands(...) returns.
template <class T>
inline constexpr bool is_operands_at_call_v = false;
template <class B>
inline constexpr bool is_operands_at_call_v<operands_at_call<B>> = true;

/// What a call's mask argument carries for the kernel's functions: a mask function and its
/// operands, or call_operands' operands, also as parts of masks::all (the mask functions of the
/// parts all hold, and their operands join).
template <class Mask>
struct carried {
  static constexpr auto function = no_function{};
  static bindings<> operands(const Mask&) { return {}; }
};
template <auto E, class B>
struct carried<function_mask<E, B>> {
  static constexpr auto function = E;
  static const B& operands(const function_mask<E, B>& m) { return m.operands; }
};
template <class B>
struct carried<operands_at_call<B>> {
  static constexpr auto function = no_function{};
  static const B& operands(const operands_at_call<B>& m) { return m.operands; }
};
namespace detail {
template <auto A, auto B>
constexpr auto both_hold() {
  if constexpr (std::is_same_v<std::remove_cvref_t<decltype(A)>, no_function>)
    return B;
  else if constexpr (std::is_same_v<std::remove_cvref_t<decltype(B)>, no_function>)
    return A;
  else
    return A && B;
}
template <auto... F>
struct all_hold {
  static constexpr auto value = no_function{};
};
template <auto First, auto... Rest>
struct all_hold<First, Rest...> {
  static constexpr auto value = both_hold<First, all_hold<Rest...>::value>();
};
template <class... B>
auto join_all(const B&... b) {
  if constexpr (sizeof...(B) == 0) {
    return bindings<>{};
  } else {
    return [](const auto& first, const auto&... rest) {
      if constexpr (sizeof...(rest) == 0)
        return first;
      else
        return joined(first, join_all(rest...));
    }(b...);
  }
}
}  // namespace detail
template <class... Parts>
struct carried<masks::all<Parts...>> {
  static constexpr auto function = detail::all_hold<carried<Parts>::function...>::value;
  static auto operands(const masks::all<Parts...>& m) {
    return std::apply(
        [](const auto&... p) { return detail::join_all(carried<Parts>::operands(p)...); }, m.parts);
  }
};

// The checks below sit in the function the user calls, so that a broken rule is one error
// one instantiation deep; after one, nothing that depends on it is instantiated.

template <auto E, class Scores, class... Bound>
requires is_node<std::remove_cvref_t<Scores>>::value auto score_function(Scores&& scores,
                                                                         const Bound&... operands) {
  using T = std::remove_cvref_t<decltype(E)>;
  constexpr bool yields_a_number = function_value<T> && T::kind != value_kind::condition;
  static_assert(yields_a_number,
                "score_function<E> takes an expression that yields a number (the new score); a "
                "condition hides keys: pass it to mask_function<E>");
  constexpr bool each_name_once = bindings<Bound...>::distinct;
  static_assert(
      each_name_once,
      "an operand is bound twice beside one function (two bind<\"name\">(...) of one name): "
      "bind each name once");
  constexpr bool all_bound = operands_bound<T, bindings<Bound...>>::value;
  static_assert(!yields_a_number || all_bound,
                "an operand the function names is not bound beside it (bind<\"name\">(data)), "
                "or is bound to data of another element type (int32_t, float, bool) or rank");
  if constexpr (yields_a_number && all_bound) {
    using index_rule = typename static_index_check<E>::rule;
    static_assert(index_rule::rule_holds);
    using S = std::remove_cvref_t<Scores>;
    return scored<E, S, bindings<Bound...>>{std::forward<Scores>(scores), bind_all(operands...)};
  } else {
    return std::forward<Scores>(scores);
  }
}

template <auto E, class... Bound>
auto mask_function(const Bound&... operands) {
  using T = std::remove_cvref_t<decltype(E)>;
  constexpr bool yields_a_condition = function_value<T> && T::kind == value_kind::condition;
  static_assert(yields_a_condition,
                "mask_function<E> takes a condition (true: the key is seen), such as "
                "kv_idx <= q_idx; an expression that yields a number is a score_function");
  constexpr bool reads_no_score = !reads_score<T>::value;
  static_assert(
      !yields_a_condition || reads_no_score,
      "a mask function cannot read `score` or query_dot: it says which keys are seen, before any "
      "score exists; change scores with a score_function");
  constexpr bool each_name_once = bindings<Bound...>::distinct;
  static_assert(
      each_name_once,
      "an operand is bound twice beside one function (two bind<\"name\">(...) of one name): "
      "bind each name once");
  constexpr bool all_bound = operands_bound<T, bindings<Bound...>>::value;
  static_assert(!yields_a_condition || !reads_no_score || all_bound,
                "an operand the function names is not bound beside it (bind<\"name\">(data)), "
                "or is bound to data of another element type (int32_t, float, bool) or rank");
  if constexpr (yields_a_condition && reads_no_score && all_bound) {
    using index_rule = typename static_index_check<E>::rule;
    static_assert(index_rule::rule_holds);
    return function_mask<E, bindings<Bound...>>{bind_all(operands...)};
  } else {
    return masks::none{};
  }
}

template <auto E, class... Bound>
auto value_function(const Bound&... operands) {
  using T = std::remove_cvref_t<decltype(E)>;
  constexpr bool a_table_row = is_table_row<T>;  // named: clang prints a condition's text
  static_assert(a_table_row,
                "value_function<E> takes one row of a 2-D float operand table, rel_v[index]: the "
                "row added to value j as query row i sees it");
  constexpr bool each_name_once = bindings<Bound...>::distinct;
  static_assert(
      each_name_once,
      "an operand is bound twice beside one function (two bind<\"name\">(...) of one name): "
      "bind each name once");
  constexpr bool all_bound = operands_bound<T, bindings<Bound...>>::value;
  static_assert(!is_table_row<T> || all_bound,
                "an operand the function names is not bound beside it (bind<\"name\">(data)), "
                "or is bound to data of another element type (int32_t, float, bool) or rank");
  if constexpr (is_table_row<T> && all_bound) {
    using index_rule = typename static_index_check<E>::rule;
    static_assert(index_rule::rule_holds);
    return value_rows_term<E, bindings<Bound...>>{bind_all(operands...)};
  } else {
    return value_rows_term<no_function{}, bindings<>>{};
  }
}

template <class... A, class... B>
bindings<A..., B...> joined(const bindings<A...>& a, const bindings<B...>& b) {
  return [&]<std::size_t... I, std::size_t... J>(std::index_sequence<I...>,
                                                 std::index_sequence<J...>) {
    return bind_all(a.template get<I>()..., b.template get<J>()...);
  }
  (std::index_sequence_for<A...>{}, std::index_sequence_for<B...>{});
}

}  // namespace typeformer::expr
