#pragma once
// Operands of score and mask functions: tables and scalars named in the expression and bound
// to data at the call.
//
//   constexpr operand<"slopes", float, dynamic> slopes;           // one per head
//   constexpr auto alibi = score + slopes[head_idx] * to_real(kv_idx - q_idx);
//   ... bind<"slopes">(slope_values) ...
//
// A rank-0 operand is a value (a window size); a table is indexed by integer expressions,
// `name[i]` or `name(i, j)`. Static extents are checked against the range of the indices the
// expression can produce where the function is used (functions/bounds.hpp), dynamic ones once
// per call.

#include <array>
#include <cstddef>
#include <cstdint>
#include <ranges>
#include <span>
#include <type_traits>

#include <typeformer/core/extent.hpp>
#include <typeformer/core/fixed_string.hpp>
#include <typeformer/functions/nodes.hpp>

namespace typeformer::expr {

/// The kind of value an operand's elements are: std::int32_t (indices, lengths, document ids),
/// float, or bool (conditions).
template <class T>
inline constexpr value_kind element_kind = std::is_same_v<T, float>  ? value_kind::real
                                           : std::is_same_v<T, bool> ? value_kind::condition
                                                                     : value_kind::integer;
template <class T>
concept operand_element =
    std::is_same_v<T, float> || std::is_same_v<T, std::int32_t> || std::is_same_v<T, bool>;

/// The indices of a table operand, as a structural list (std::tuple is not one).
template <class... I>
struct index_list {};
template <class First, class... Rest>
struct index_list<First, Rest...> {
  First first;
  index_list<Rest...> rest;
};

template <class Operand, class... I>
struct indexed;
template <class Operand, class I>
struct table_row;

namespace detail {
template <class I0, class... I>
constexpr index_list<I0, I...> make_index_list(const I0& first, const I&... rest) {
  if constexpr (sizeof...(I) == 0)
    return {first, {}};
  else
    return {first, make_index_list(rest...)};
}
}  // namespace detail

namespace detail {
template <std::size_t Rank, class T>
struct operand_value_kind {};  // a table: not a value until indexed
template <class T>
struct operand_value_kind<0, T> {
  static constexpr value_kind kind = element_kind<T>;
};
}  // namespace detail

/// A named operand of element type T and the given extents (each static or `dynamic`).
template <fixed_string Name, operand_element T, extent_t... Extents>
struct operand : function_node, detail::operand_value_kind<sizeof...(Extents), T> {
  using element = T;
  static constexpr fixed_string name = Name;
  static constexpr std::size_t rank = sizeof...(Extents);
  static constexpr std::array<extent_t, rank> extents{Extents...};

  template <class... I>
  requires(sizeof...(I) > 0 && (function_operand<I> && ...)) constexpr auto operator()(
      const I&... i) const {
    // One index of a 2-D float table is one of its rows: a vector for query_dot or a value
    // function (Shaw's rel_k[r] and rel_v[r]).
    constexpr bool row = rank == 2 && sizeof...(I) == 1 && std::is_same_v<T, float>;
    static_assert(sizeof...(I) == rank || row,
                  "an operand table takes one index per dimension: name[i] for one, "
                  "name(i, j) for two (one index of a 2-D float table is a row, for query_dot "
                  "and value functions)");
    static_assert(((lifted<I>::kind == value_kind::integer) && ...),
                  "an operand table is indexed by integer expressions (q_idx, kv_idx, head_idx, "
                  "batch_idx, integer constants and operands)");
    if constexpr (row)
      return table_row<operand, lifted<I>...>{{}, detail::make_index_list(lift(i)...)};
    else
      return indexed<operand, lifted<I>...>{{}, detail::make_index_list(lift(i)...)};
  }
  template <function_operand I>
  constexpr auto operator[](const I& i) const {
    return (*this)(i);
  }
};

template <class Operand, class... I>
struct indexed : function_node {
  static constexpr value_kind kind = element_kind<typename Operand::element>;
  using operand_type = Operand;
  index_list<I...> indices;
};

/// Row `index` of a 2-D float table (rows, width): not a value but a vector of `width`,
/// read by query_dot (a score term) or added to the values as a value function.
template <class Operand, class I>
struct table_row : function_node {
  using operand_type = Operand;
  index_list<I> indices;
};

template <class T>
inline constexpr bool is_table_row = false;
template <class Operand, class I>
inline constexpr bool is_table_row<table_row<Operand, I>> = true;

/// q · row: the query row, scaled as for its scores, times a row of a 2-D table; Shaw's
/// q·rel_k[clip(j − i, −K, K) + K]. The kernel computes q·table[t] once per query block for
/// every row t the index can reach, so the term costs a lookup per score.
template <class Row>
struct query_dot_node : function_node {
  static constexpr value_kind kind = value_kind::real;
  Row a;  // the row (a table_row); `a` so that the walks over children see it
};

template <class R>
constexpr auto query_dot(const R& row) {
  constexpr bool a_table_row = is_table_row<R>;
  static_assert(a_table_row,
                "query_dot takes one row of a 2-D float operand table: query_dot(rel_k[index]) "
                "with operand<\"rel_k\", float, rows, width>");
  if constexpr (a_table_row)
    return query_dot_node<R>{{}, row};
  else
    return real_constant{{}, 0};
}

/// Whether an expression reads any of the placeholders `P...` (through any operation or index).
template <class T, placeholder_id... P>
struct reads_placeholder : std::false_type {};
template <placeholder_id Q, placeholder_id... P>
struct reads_placeholder<placeholder<Q>, P...> : std::bool_constant<((Q == P) || ...)> {};
template <unary_op Op, class A, placeholder_id... P>
struct reads_placeholder<unary<Op, A>, P...> : reads_placeholder<A, P...> {};
template <binary_op Op, class A, class B, placeholder_id... P>
struct reads_placeholder<binary<Op, A, B>, P...>
    : std::bool_constant<reads_placeholder<A, P...>::value || reads_placeholder<B, P...>::value> {};
template <class C, class A, class B, placeholder_id... P>
struct reads_placeholder<select_node<C, A, B>, P...>
    : std::bool_constant<reads_placeholder<C, P...>::value || reads_placeholder<A, P...>::value ||
                         reads_placeholder<B, P...>::value> {};
template <class N, placeholder_id... P>
struct reads_placeholder<log_bucket_node<N>, P...> : reads_placeholder<N, P...> {};
template <class Operand, class... I, placeholder_id... P>
struct reads_placeholder<indexed<Operand, I...>, P...>
    : std::bool_constant<(reads_placeholder<I, P...>::value || ...)> {};
template <class Operand, class I, placeholder_id... P>
struct reads_placeholder<table_row<Operand, I>, P...> : reads_placeholder<I, P...> {};
template <class R, placeholder_id... P>
struct reads_placeholder<query_dot_node<R>, P...> : reads_placeholder<R, P...> {};

/// How many query_dot terms an expression holds.
template <class T>
constexpr std::size_t query_dot_count() noexcept {
  if constexpr (requires { typename T::operand_type; }) {
    return 0;  // an operand's indices are integers: no query_dot inside
  } else {
    std::size_t n = 0;
    if constexpr (requires { T::a; }) {
      if constexpr (is_table_row<std::remove_cvref_t<decltype(T::a)>>)
        n += 1;
      else
        n += query_dot_count<std::remove_cvref_t<decltype(T::a)>>();
    }
    if constexpr (requires { T::b; }) n += query_dot_count<std::remove_cvref_t<decltype(T::b)>>();
    if constexpr (requires { T::condition; })
      n += query_dot_count<std::remove_cvref_t<decltype(T::condition)>>() +
           query_dot_count<std::remove_cvref_t<decltype(T::if_true)>>() +
           query_dot_count<std::remove_cvref_t<decltype(T::if_false)>>();
    return n;
  }
}

/// The query_dot term of an expression that holds one.
template <class T>
constexpr auto query_dot_of(const T& e) noexcept {
  if constexpr (requires { e.a; } && is_table_row<std::remove_cvref_t<decltype(T::a)>>) {
    return e;
  } else if constexpr (requires { e.a; } &&
                       query_dot_count<std::remove_cvref_t<decltype(T::a)>>() > 0) {
    return query_dot_of(e.a);
  } else if constexpr (requires { e.b; } &&
                       query_dot_count<std::remove_cvref_t<decltype(T::b)>>() > 0) {
    return query_dot_of(e.b);
  } else if constexpr (requires { e.condition; } &&
                       query_dot_count<std::remove_cvref_t<decltype(T::condition)>>() > 0) {
    return query_dot_of(e.condition);
  } else if constexpr (requires { e.condition; } &&
                       query_dot_count<std::remove_cvref_t<decltype(T::if_true)>>() > 0) {
    return query_dot_of(e.if_true);
  } else {
    return query_dot_of(e.if_false);
  }
}

// ---- Binding operands to data at the call -------------------------------------------------

/// Data for the operand named `Name`: a scalar (Rank 0) or a row-major table.
template <fixed_string Name, class T, std::size_t Rank>
struct bound_operand {
  static constexpr fixed_string name = Name;
  using element = T;
  static constexpr std::size_t rank = Rank;
  const T* data = nullptr;
  T value{};  // rank 0
  std::array<extent_t, Rank> extents{};

  constexpr std::size_t size() const noexcept {
    std::size_t n = 1;
    for (extent_t e : extents) n *= static_cast<std::size_t>(e);
    return n;
  }
  /// The element at in-range indices (checked before any evaluation).
  template <class... I>
  constexpr T at(I... i) const noexcept {
    if constexpr (Rank == 0) {
      return value;
    } else {
      const std::array<std::int64_t, Rank> index{static_cast<std::int64_t>(i)...};
      std::size_t offset = 0;
      for (std::size_t d = 0; d < Rank; ++d)
        offset = offset * static_cast<std::size_t>(extents[d]) + static_cast<std::size_t>(index[d]);
      return data[offset];
    }
  }
  /// Where the element at in-range indices lives (rank ≥ 1).
  template <class... I>
  requires(Rank > 0 && sizeof...(I) == Rank) const T* address(I... i) const noexcept {
    const std::array<std::int64_t, Rank> index{static_cast<std::int64_t>(i)...};
    std::size_t offset = 0;
    for (std::size_t d = 0; d < Rank; ++d)
      offset = offset * static_cast<std::size_t>(extents[d]) + static_cast<std::size_t>(index[d]);
    return data + offset;
  }
};

/// Binds a scalar: `bind<"window">(256)`.
template <fixed_string Name, class T>
requires operand_element<T>
constexpr bound_operand<Name, T, 0> bind(T value) noexcept { return {nullptr, value, {}}; }
/// Binds a contiguous range as a rank-1 table: `bind<"slopes">(std::vector<float>{...})`.
template <fixed_string Name, std::ranges::contiguous_range R>
requires operand_element<std::remove_cv_t<std::ranges::range_value_t<R>>>
constexpr auto bind(const R& values) noexcept {
  using T = std::remove_cv_t<std::ranges::range_value_t<R>>;
  return bound_operand<Name, T, 1>{
      std::ranges::data(values), T{}, {static_cast<extent_t>(std::ranges::size(values))}};
}
/// Binds row-major data of the given extents: `bind<"bias">(table.data(), {32, 8})`.
template <fixed_string Name, operand_element T, std::size_t Rank>
constexpr bound_operand<Name, T, Rank> bind(const T* data,
                                            const extent_t (&extents)[Rank]) noexcept {
  bound_operand<Name, T, Rank> b{data, T{}, {}};
  for (std::size_t d = 0; d < Rank; ++d) b.extents[d] = extents[d];
  return b;
}

template <class T>
struct is_bound_operand : std::false_type {};
template <fixed_string Name, class T, std::size_t Rank>
struct is_bound_operand<bound_operand<Name, T, Rank>> : std::true_type {};

/// The operands bound at one call.
template <class... Bound>
requires(is_bound_operand<Bound>::value&&...) struct bindings {
  static constexpr std::size_t count = sizeof...(Bound);
  index_list<Bound...> bound;

  /// Index of the binding named Name, or count when there is none.
  template <fixed_string Name>
  static constexpr std::size_t find() noexcept {
    constexpr bool matches[] = {(Bound::name == Name)..., false};
    for (std::size_t i = 0; i < count; ++i)
      if (matches[i]) return i;
    return count;
  }
  template <std::size_t I>
  constexpr const auto& get() const noexcept {
    return get_from<I>(bound);
  }
  /// Bindings named Name.
  template <fixed_string Name>
  static constexpr std::size_t named() noexcept {
    return (std::size_t{0} + ... + std::size_t(Bound::name == Name));
  }
  /// Whether no two bindings share a name (find would take the first of two silently).
  static constexpr bool distinct = ((named<Bound::name>() == 1) && ...);
  /// Whether a binding of `Other` has the name of one of these.
  template <class Other>
  static constexpr bool shares_a_name_with() noexcept {
    return (false || ... || (Other::template named<Bound::name>() > 0));
  }

 private:
  template <std::size_t I, class L>
  static constexpr const auto& get_from(const L& list) noexcept {
    if constexpr (I == 0)
      return list.first;
    else
      return get_from<I - 1>(list.rest);
  }
};

template <class... Bound>
constexpr bindings<Bound...> bind_all(const Bound&... b) noexcept {
  if constexpr (sizeof...(Bound) == 0)
    return {};
  else
    return {detail::make_index_list(b...)};
}

}  // namespace typeformer::expr
