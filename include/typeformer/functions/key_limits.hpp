#pragma once
// The part of a mask function that lets each query row see a prefix of the keys. A mask is a
// conjunction (`a && b && …`); a conjunct that does not read kv_idx is a row condition (the row
// sees no key where it is false: Keras's attending queries, a document id of -1), and a
// conjunct `kv_idx < X` (or `<=`, or written the other way round) with X not reading kv_idx is
// a key limit (causal `kv_idx <= q_idx`, padding `kv_idx < lengths[batch_idx]`). Their minimum
// over a row is where its visible keys end, found once per row: the kernel computes no key past
// it, and a mask of nothing else is never evaluated key by key, so a written causal or padding
// mask runs as fast as the kernel with no mask function at all.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <typeformer/functions/evaluation.hpp>
#include <typeformer/functions/operands.hpp>

namespace typeformer::expr {

/// How conjunct C of a mask function bounds the keys of a row: `exclusive_bound(c)` is the
/// expression the row's keys stay below.
template <class C>
struct key_limit_form : std::false_type {};

namespace detail {
template <class X>
inline constexpr bool row_value =
    !reads_placeholder<X, placeholder_id::kv_idx, placeholder_id::score>::value && requires {
  X::kind;
}
&&X::kind == value_kind::integer;
using kv_placeholder = placeholder<placeholder_id::kv_idx>;
}  // namespace detail

// kv_idx < X and X > kv_idx: the keys end at X.
template <class X>
requires detail::row_value<X>
struct key_limit_form<binary<binary_op::less, detail::kv_placeholder, X>> : std::true_type {
  static constexpr auto exclusive_bound(const auto& c) noexcept { return c.b; }
};
template <class X>
requires detail::row_value<X>
struct key_limit_form<binary<binary_op::greater, X, detail::kv_placeholder>> : std::true_type {
  static constexpr auto exclusive_bound(const auto& c) noexcept { return c.a; }
};
// kv_idx <= X and X >= kv_idx: at X + 1.
template <class X>
requires detail::row_value<X>
struct key_limit_form<binary<binary_op::less_equal, detail::kv_placeholder, X>> : std::true_type {
  static constexpr auto exclusive_bound(const auto& c) noexcept { return c.b + 1; }
};
template <class X>
requires detail::row_value<X>
struct key_limit_form<binary<binary_op::greater_equal, X, detail::kv_placeholder>>
    : std::true_type {
  static constexpr auto exclusive_bound(const auto& c) noexcept { return c.a + 1; }
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

/// Whether conjunct C bounds a row's keys (a row condition or a key limit) rather than being
/// evaluated key by key.
template <class C>
inline constexpr bool is_prefix_conjunct = is_row_condition<C> || key_limit_form<C>::value;

/// How many conjuncts of mask function E bound a row's keys (Prefix) or must be evaluated key
/// by key (!Prefix).
template <class E, bool Prefix>
constexpr std::size_t conjunct_count() noexcept {
  if constexpr (is_conjunction<E>::value)
    return conjunct_count<decltype(E::a), Prefix>() + conjunct_count<decltype(E::b), Prefix>();
  else
    return is_prefix_conjunct<E> == Prefix ? 1 : 0;
}
template <class E>
constexpr std::size_t prefix_conjuncts(const E&) noexcept {
  return conjunct_count<E, true>();
}
template <class E>
constexpr std::size_t element_conjuncts(const E&) noexcept {
  return conjunct_count<E, false>();
}

/// The conjunction of a mask's conjuncts that are evaluated key by key (it has at least one):
/// where the row's key limit has already hidden the keys past it, this decides the rest.
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

/// Where the keys a mask lets row q_idx of (batch, head) see end, by its row conditions and key
/// limits: a number in [0, key_len]; keys past it are hidden (those before it may still be
/// hidden by its other conjuncts).
template <auto Mask, class Bindings>
std::size_t key_limit(const Bindings& operands, std::size_t batch, std::size_t head, std::size_t q,
                      std::size_t key_len) noexcept {
  const function_point<Bindings> at{0.0f,
                                    static_cast<std::int32_t>(q),
                                    0,
                                    static_cast<std::int32_t>(head),
                                    static_cast<std::int32_t>(batch),
                                    &operands};
  auto limit = static_cast<std::int64_t>(key_len);
  for_each_conjunct(Mask, [&]<class C>(const C& c) {
    if constexpr (is_row_condition<C>) {
      if (!evaluate_function(c, at)) limit = 0;
    } else if constexpr (key_limit_form<C>::value) {
      limit = std::min<std::int64_t>(limit,
                                     evaluate_function(key_limit_form<C>::exclusive_bound(c), at));
    }
  });
  return static_cast<std::size_t>(std::max<std::int64_t>(limit, 0));
}

}  // namespace typeformer::expr
