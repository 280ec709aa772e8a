#pragma once
// What the compiler checks of a score or mask function where it is used: a mask function
// reads no score, and an operand's static extents hold every index the expression can produce
// over any call (a table of 21 rows under clamp(kv_idx − q_idx, −10, 10) + 10). The second is
// a diagnostic with the operand's name and the numbers in its first line, like the shape rules
// (core/diagnostics.hpp); dynamic extents are checked per call (functions/call.hpp).

#include <cstddef>
#include <type_traits>

#include <typeformer/core/diagnostics.hpp>
#include <typeformer/core/extent.hpp>
#include <typeformer/core/fixed_string.hpp>
#include <typeformer/functions/bounds.hpp>
#include <typeformer/functions/nodes.hpp>
#include <typeformer/functions/operands.hpp>

namespace typeformer::diagnostics {
/// An index of operand `Name` on `Axis` can range over [Lowest, Highest] in some call, outside
/// the operand's static extent `Extent`.
template <class Name, extent_t Axis, extent_t Extent, extent_t Lowest, extent_t Highest>
struct operand_index_outside_its_static_extent {};
}  // namespace typeformer::diagnostics

namespace typeformer::expr {

/// Whether an expression reads `score` or a query_dot anywhere (both are scores).
template <class T>
using reads_score = std::bool_constant<reads_placeholder<T, placeholder_id::score>::value ||
                                       (query_dot_count<T>() > 0)>;

/// The first index of an operand with a static extent that some call could take outside it.
struct static_index_problem {
  bool found = false;
  std::size_t name_length = 0;
  char name[64] = {};
  extent_t axis = 0, extent = 0, lowest = 0, highest = 0;
};

namespace detail {
template <class N>
constexpr void find_static_index_problem(const N& n, static_index_problem& p);

template <class Operand, class List>
constexpr void check_static_indices(const List& list, std::size_t axis, static_index_problem& p) {
  if constexpr (requires { list.first; }) {
    find_static_index_problem(list.first, p);
    const extent_t e = Operand::extents[axis];
    const interval r = function_bounds(list.first, any_call_box());
    if (!p.found && e != dynamic && r.is_finite() && (r.lo < 0 || r.hi > double(e) - 1)) {
      p.found = true;
      p.name_length = Operand::name.size() < 63 ? Operand::name.size() : 63;
      for (std::size_t c = 0; c < p.name_length; ++c) p.name[c] = Operand::name.chars[c];
      p.axis = extent_t(axis), p.extent = e;
      p.lowest = extent_t(r.lo), p.highest = extent_t(r.hi);
    }
    check_static_indices<Operand>(list.rest, axis + 1, p);
  }
}

template <class N>
constexpr void find_static_index_problem(const N& n, static_index_problem& p) {
  if constexpr (requires { n.a; }) find_static_index_problem(n.a, p);
  if constexpr (requires { n.b; }) find_static_index_problem(n.b, p);
  if constexpr (requires { n.condition; }) {
    find_static_index_problem(n.condition, p);
    find_static_index_problem(n.if_true, p);
    find_static_index_problem(n.if_false, p);
  }
  if constexpr (requires { n.n; }) find_static_index_problem(n.n, p);
  if constexpr (requires { n.indices; })
    check_static_indices<typename N::operand_type>(n.indices, 0, p);
}

template <auto E>
constexpr static_index_problem static_index_problem_of() {
  static_index_problem p;
  find_static_index_problem(E, p);
  return p;
}

template <auto E, std::size_t... C>
constexpr auto problem_name(std::index_sequence<C...>) {
  constexpr static_index_problem p = static_index_problem_of<E>();
  return layer_name<p.name[C]...>{};
}
}  // namespace detail

/// Whether every operand an expression names is bound in `Bindings`, to data of its element
/// type and rank.
template <class T, class Bindings>
struct operands_bound : std::true_type {};
template <fixed_string Name, class T, extent_t... X, class Bindings>
struct operands_bound<operand<Name, T, X...>, Bindings> {
  static constexpr bool check() {
    constexpr std::size_t at = Bindings::template find<Name>();
    if constexpr (at >= Bindings::count) {
      return false;
    } else {
      using B = std::remove_cvref_t<decltype(std::declval<Bindings>().template get<at>())>;
      return std::is_same_v<typename B::element, T> && B::rank == sizeof...(X);
    }
  }
  static constexpr bool value = check();
};
template <class Operand, class... I, class Bindings>
struct operands_bound<indexed<Operand, I...>, Bindings>
    : std::bool_constant<operands_bound<Operand, Bindings>::value &&
                         (operands_bound<I, Bindings>::value && ...)> {};
template <unary_op Op, class A, class Bindings>
struct operands_bound<unary<Op, A>, Bindings> : operands_bound<A, Bindings> {};
template <binary_op Op, class A, class B, class Bindings>
struct operands_bound<binary<Op, A, B>, Bindings>
    : std::bool_constant<operands_bound<A, Bindings>::value && operands_bound<B, Bindings>::value> {
};
template <class C, class A, class B, class Bindings>
struct operands_bound<select_node<C, A, B>, Bindings>
    : std::bool_constant<operands_bound<C, Bindings>::value && operands_bound<A, Bindings>::value &&
                         operands_bound<B, Bindings>::value> {};
template <class N, class Bindings>
struct operands_bound<log_bucket_node<N>, Bindings> : operands_bound<N, Bindings> {};
template <class Operand, class I, class Bindings>
struct operands_bound<table_row<Operand, I>, Bindings>
    : std::bool_constant<operands_bound<Operand, Bindings>::value &&
                         operands_bound<I, Bindings>::value> {};
template <class R, class Bindings>
struct operands_bound<query_dot_node<R>, Bindings> : operands_bound<R, Bindings> {};

/// The rule of static_index_problem_of<E>(): `rule` is `passed`, or the diagnostic naming the
/// operand, the axis, the extent and the index range, whose `rule_holds` does not exist.
template <auto E>
struct static_index_check {
  static constexpr static_index_problem problem = detail::static_index_problem_of<E>();
  using name = decltype(detail::problem_name<E>(std::make_index_sequence<problem.name_length>{}));
  using rule = diagnostics::require<
      !problem.found, diagnostics::operand_index_outside_its_static_extent<
                          name, problem.axis, problem.extent, problem.lowest, problem.highest>>;
};

}  // namespace typeformer::expr
