#pragma once
// The part of a mask function that lets each query row see a contiguous range of the keys. A
// mask is a conjunction (`a && b && …`); a conjunct that does not read kv_idx is a row condition
// (the row sees no key where it is false: Keras's attending queries, a document id of -1), and a
// comparison of kv_idx, of a difference of kv_idx and a row value, or of the absolute value of
// such a difference with a row value X is a key bound: causal `kv_idx <= q_idx` and padding
// `kv_idx < lengths[batch_idx]` end the row's keys, a sliding window's `q_idx - kv_idx < window`
// starts them, `abs(q_idx - kv_idx) <= window` does both. Their intersection over a row is found
// once per row: the kernel computes no key outside it, starts each query block at the first tile
// a row may see, and a mask of nothing else is never evaluated key by key, so a written causal
// mask, padding or sliding window runs as fast as the kernel with no mask function at all.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <typeformer/functions/evaluation.hpp>
#include <typeformer/functions/operands.hpp>

namespace typeformer::expr {

namespace detail {
template <class X>
inline constexpr bool row_value =
    !reads_placeholder<X, placeholder_id::kv_idx, placeholder_id::score>::value && requires {
  X::kind;
}
&&X::kind == value_kind::integer;
using kv_placeholder = placeholder<placeholder_id::kv_idx>;

/// An integer subexpression's value, widened so that the bounds computed from it (X + 1, R + X)
/// cannot overflow: the call's checks bound the expression as written, not the sums formed here.
template <class X, class Point>
std::int64_t wide_value(const X& x, const Point& at) noexcept {
  return static_cast<std::int64_t>(evaluate_function(x, at));
}

/// The left operand of a comparison (Left), or its right one.
template <bool Left, class C>
constexpr const auto& side(const C& c) noexcept {
  if constexpr (Left)
    return c.a;
  else
    return c.b;
}

/// How one side of a comparison reads kv_idx: kv_idx itself, R − kv_idx or kv_idx − R with R a
/// row value, |R − kv_idx| or |kv_idx − R|; `none` for anything else.
enum class key_term { none, key, row_minus_key, key_minus_row, distance };
template <class T>
struct key_term_of {
  static constexpr key_term kind = key_term::none;
};
template <>
struct key_term_of<kv_placeholder> {
  static constexpr key_term kind = key_term::key;
  template <class Point>
  static std::int64_t row(const kv_placeholder&, const Point&) noexcept {
    return 0;
  }
};
// R − kv_idx or kv_idx − R.
template <class A, class B>
concept row_and_key = (row_value<A> && std::is_same_v<B, kv_placeholder>) ||
                      (std::is_same_v<A, kv_placeholder> && row_value<B>);
template <class A, class B>
requires row_and_key<A, B>
struct key_term_of<binary<binary_op::subtract, A, B>> {
  static constexpr bool row_first = row_value<A>;
  static constexpr key_term kind = row_first ? key_term::row_minus_key : key_term::key_minus_row;
  template <class Point>
  static std::int64_t row(const binary<binary_op::subtract, A, B>& t, const Point& at) noexcept {
    return wide_value(side<row_first>(t), at);
  }
};
template <class D>
requires(key_term_of<D>::kind == key_term::row_minus_key ||
         key_term_of<D>::kind ==
             key_term::key_minus_row) struct key_term_of<unary<unary_op::abs, D>> {
  static constexpr key_term kind = key_term::distance;
  template <class Point>
  static std::int64_t row(const unary<unary_op::abs, D>& t, const Point& at) noexcept {
    return key_term_of<D>::row(t.a, at);
  }
};

constexpr bool is_ordering(binary_op op) noexcept {
  return op == binary_op::less || op == binary_op::less_equal || op == binary_op::greater ||
         op == binary_op::greater_equal;
}
/// a op b as b op' a; also −a op −b as a op' b.
constexpr binary_op mirrored(binary_op op) noexcept {
  switch (op) {
    case binary_op::less:
      return binary_op::greater;
    case binary_op::less_equal:
      return binary_op::greater_equal;
    case binary_op::greater:
      return binary_op::less;
    default:
      return binary_op::less_equal;
  }
}
constexpr bool is_upper(binary_op op) noexcept {
  return op == binary_op::less || op == binary_op::less_equal;
}
}  // namespace detail

/// How conjunct C of a mask function bounds the keys of a row: `value` when it is a key bound;
/// then `ends` / `starts` say which side it bounds, and `range(c, at)` gives the keys
/// [begin, end) of the row at `at` it lets through (the other side unbounded).
template <class C>
struct key_range_form {
  static constexpr bool value = false, starts = false, ends = false;
};

/// Keys [begin, end) of a row; begin ≥ end sees none.
struct key_range {
  std::int64_t begin, end;
};

template <binary_op Op, class A, class B>
requires(detail::is_ordering(Op) &&
         ((detail::key_term_of<A>::kind != detail::key_term::none && detail::row_value<B>) ||
          (detail::row_value<A> &&
           detail::key_term_of<B>::kind !=
               detail::key_term::none))) struct key_range_form<binary<Op, A, B>> {
 private:
  static constexpr bool key_left = detail::key_term_of<A>::kind != detail::key_term::none;
  using term = detail::key_term_of<std::conditional_t<key_left, A, B>>;
  // The comparison as `term op X`, then, moving the row value across, as `kv_idx op v`.
  static constexpr binary_op op = key_left ? Op : detail::mirrored(Op);
  static constexpr binary_op key_op =
      term::kind == detail::key_term::row_minus_key ? detail::mirrored(op) : op;
  static constexpr bool distance = term::kind == detail::key_term::distance;

 public:
  // |R − kv_idx| > X keeps keys on both sides of the row: not a range.
  static constexpr bool value = !distance || detail::is_upper(op);
  static constexpr bool ends = distance || detail::is_upper(key_op);
  static constexpr bool starts = distance || !detail::is_upper(key_op);

  template <class Point>
  static key_range range(const binary<Op, A, B>& c, const Point& at) noexcept {
    constexpr std::int64_t unbounded = std::int64_t{1} << 40;
    const std::int64_t bound = detail::wide_value(detail::side<!key_left>(c), at);
    const std::int64_t row = term::row(detail::side<key_left>(c), at);
    // |R − kv_idx| < X: R − X < kv_idx < R + X (≤: both ends included).
    if constexpr (distance) {
      const std::int64_t closed = op == binary_op::less_equal ? 1 : 0;
      return {row - bound + 1 - closed, row + bound + closed};
    } else {
      // kv_idx key_op v, with v = X, R − X or R + X.
      const std::int64_t v = term::kind == detail::key_term::key             ? bound
                             : term::kind == detail::key_term::row_minus_key ? row - bound
                                                                             : row + bound;
      switch (key_op) {
        case binary_op::less:
          return {-unbounded, v};
        case binary_op::less_equal:
          return {-unbounded, v + 1};
        case binary_op::greater:
          return {v + 1, unbounded};
        default:
          return {v, unbounded};
      }
    }
  }
};

/// Whether conjunct C depends on the row alone.
template <class C>
inline constexpr bool is_row_condition =
    !reads_placeholder<C, placeholder_id::kv_idx, placeholder_id::score>::value;

template <class E>
struct is_conjunction : std::false_type {};
template <class A, class B>
struct is_conjunction<binary<binary_op::logical_and, A, B>> : std::true_type {};

/// Calls `visit` with each conjunct of a mask function (the operands of its top-level `&&`s).
template <class E, class Visit>
constexpr void for_each_conjunct(const E& e, Visit&& visit) {
  if constexpr (is_conjunction<E>::value) {
    for_each_conjunct(e.a, visit);
    for_each_conjunct(e.b, visit);
  } else {
    visit(e);
  }
}

/// Whether conjunct C bounds a row's keys (a row condition or a key bound) rather than being
/// evaluated key by key.
template <class C>
inline constexpr bool is_range_conjunct = is_row_condition<C> || key_range_form<C>::value;

/// How many conjuncts of mask function E bound a row's keys (Range) or must be evaluated key
/// by key (!Range).
template <class E, bool Range>
constexpr std::size_t conjunct_count() noexcept {
  if constexpr (is_conjunction<E>::value)
    return conjunct_count<decltype(E::a), Range>() + conjunct_count<decltype(E::b), Range>();
  else
    return is_range_conjunct<E> == Range ? 1 : 0;
}
template <class E>
constexpr std::size_t range_conjuncts(const E&) noexcept {
  return conjunct_count<E, true>();
}
template <class E>
constexpr std::size_t element_conjuncts(const E&) noexcept {
  return conjunct_count<E, false>();
}
/// Whether a conjunct of mask function E starts a row's keys past 0 (a window), so that the
/// kernel computes each row's first key too.
template <class E>
constexpr bool conjunct_starts_keys() noexcept {
  if constexpr (is_conjunction<E>::value)
    return conjunct_starts_keys<decltype(E::a)>() || conjunct_starts_keys<decltype(E::b)>();
  else
    return key_range_form<E>::value && key_range_form<E>::starts;
}
template <class E>
constexpr bool starts_keys(const E&) noexcept {
  return conjunct_starts_keys<E>();
}

/// The conjunction of a mask's conjuncts that are evaluated key by key (it has at least one):
/// where the row's key range has already hidden the keys outside it, this decides the rest.
/// Sliding windows' and packed documents' diagonal tiles are then full for it.
template <class E>
constexpr auto element_part(const E& e) {
  if constexpr (is_conjunction<E>::value) {
    if constexpr (conjunct_count<decltype(E::a), false>() == 0)
      return element_part(e.b);
    else if constexpr (conjunct_count<decltype(E::b), false>() == 0)
      return element_part(e.a);
    else
      return element_part(e.a) && element_part(e.b);
  } else {
    return e;
  }
}

/// The keys [begin, end) a mask lets row q_idx of (batch, head) see by its row conditions and
/// key bounds, within [0, key_len]; begin >= end where it sees none. Keys inside may still be
/// hidden by its other conjuncts.
template <auto Mask, class Bindings>
key_range row_key_range(const Bindings& operands, std::size_t batch, std::size_t head,
                        std::size_t q, std::size_t key_len) noexcept {
  const function_point<Bindings> at{0.0f,
                                    static_cast<std::int32_t>(q),
                                    0,
                                    static_cast<std::int32_t>(head),
                                    static_cast<std::int32_t>(batch),
                                    &operands};
  key_range keys{0, static_cast<std::int64_t>(key_len)};
  for_each_conjunct(Mask, [&]<class C>(const C& c) {
    if constexpr (is_row_condition<C>) {
      if (!evaluate_function(c, at)) keys.end = 0;
    } else if constexpr (key_range_form<C>::value) {
      const key_range r = key_range_form<C>::range(c, at);
      keys = {std::max(keys.begin, r.begin), std::min(keys.end, r.end)};
    }
  });
  if (keys.begin >= keys.end) return {0, 0};
  return keys;
}

}  // namespace typeformer::expr
