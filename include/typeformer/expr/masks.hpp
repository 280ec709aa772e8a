#pragma once
// Typed attention masks. Polarity is in the name, never a convention: `keep` means 1 = attend
// (Keras), `pytorch_key_padding` and `pytorch_attn_mask` mean true = masked
// (nn.MultiheadAttention), `pytorch_sdpa_mask` means true = attend (scaled_dot_product_attention).
// Combine parts with `masks::all(...)`; a key is visible only if every part lets it through.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>

#include <typeformer/core/diagnostics.hpp>
#include <typeformer/core/text.hpp>
#include <typeformer/kernels/attention_mask.hpp>
#include <typeformer/tensor/view.hpp>

namespace typeformer::diagnostics {
/// `masks::all` was given two parts that use the same place in the kernel (two causal masks,
/// two keep masks, two biases, two length lists).
template <class... Parts>
struct mask_parts_of_one_kind_given_twice {};
/// `masks::all` parts whose static extents differ on an axis (0 batch, 1 heads, 2 query
/// length, 3 key length).
template <extent_t Axis, extent_t First, extent_t Second>
struct mask_parts_disagree_on_axis {};
/// `masks::all` was given more than two keep masks or more than two biases (the kernel reads two
/// of each: PyTorch's attn_mask and key_padding_mask).
template <class... Parts>
struct more_than_two_keep_or_bias_mask_parts {};
/// PyTorch's nn.MultiheadAttention takes bool, uint8 or floating masks.
template <class Element>
struct key_padding_masks_are_bool_uint8_or_float {};
template <class Element>
struct attn_masks_are_bool_uint8_or_float {};
/// PyTorch's scaled_dot_product_attention takes bool (true = attend) or floating masks; uint8 is
/// refused since PyTorch 2.1 (1.13's private form added it to the scores as a number).
template <class Element>
struct scaled_dot_product_attention_masks_are_bool_or_float {};
/// An nn.MultiheadAttention attn_mask is (Lq, Lk) or (batch·heads, Lq, Lk).
template <std::size_t Rank>
struct attn_masks_are_rank_2_or_3 {};
/// A scaled_dot_product_attention mask broadcasts to (batch, heads, Lq, Lk): rank 1 to 4.
template <std::size_t Rank>
struct scaled_dot_product_attention_masks_are_rank_1_to_4 {};
}  // namespace typeformer::diagnostics

namespace typeformer::masks {

/// Run-time extents of one attention call, and the layer they belong to (for messages).
struct call_extents {
  extent_t batch, heads, query_len, key_len;
  std::string_view kind, name;
};

/// What a mask part constrains; `masks::all` takes at most one causal, lengths or queries part
/// and two keep and two bias parts, the places the kernel has.
enum class mask_slot { none, causal, lengths, keep, bias, queries };

/// Whether T is one of the mask types here (each names the slot it fills).
template <class T>
inline constexpr bool is_mask_v = requires {
  T::slot;
};

/// Static extents a mask imposes; `dynamic` where it does not constrain.
struct static_extents {
  extent_t batch = dynamic, heads = dynamic, query_len = dynamic, key_len = dynamic;
};

struct none {
  static constexpr static_extents extents{};
  static constexpr mask_slot slot = mask_slot::none;
  void lower(kernels::mask_spec&, const call_extents&) const noexcept {}
};

/// Key j is visible from query i iff j <= i (PyTorch `is_causal`, Keras `use_causal_mask`).
struct causal {
  static constexpr static_extents extents{};
  static constexpr mask_slot slot = mask_slot::causal;
  void lower(kernels::mask_spec& m, const call_extents&) const noexcept {
    m.causal = causal_alignment::top_left;
  }
};

/// Key j is visible from query i iff j <= i + (Lk - Lq): the alignment of incremental
/// decoding with a KV cache, where the queries are the newest Lq positions.
struct causal_bottom_right {
  static constexpr static_extents extents{};
  static constexpr mask_slot slot = mask_slot::causal;
  void lower(kernels::mask_spec& m, const call_extents& e) const {
    diagnostics::check<diagnostics::bottom_right_causal_needs_query_not_longer_than_keys>(
        e.query_len <= e.key_len, e.kind, e.name, e.query_len, e.key_len);
    m.causal = causal_alignment::bottom_right;
  }
};

/// Keys at positions >= lengths[b] are padding in batch entry b.
struct key_lengths {
  std::span<const extent_t> lengths;
  static constexpr static_extents extents{};
  static constexpr mask_slot slot = mask_slot::lengths;
  void lower(kernels::mask_spec& m, const call_extents& e) const {
    diagnostics::check<diagnostics::mask_batch_does_not_match>(
        static_cast<extent_t>(lengths.size()) == e.batch, e.kind, e.name,
        static_cast<extent_t>(lengths.size()), e.batch);
    for (extent_t len : lengths)
      if (len < 0 || len > e.key_len)
        throw shape_error(detail::concat(e.kind, " \"", e.name, "\": key length (",
                                         std::to_string(len), ") is outside [0, ",
                                         std::to_string(e.key_len), "]"));
    m.key_lengths = lengths.data();
  }
};

namespace detail {
// bool and uint8 masks are bytes; floating ones are biases (float only: the kernel adds floats).
template <class T, bool TakesUint8>
inline constexpr bool is_pytorch_mask_element = std::is_same_v<T, bool> ||
                                                std::is_same_v<T, float> ||
                                                (TakesUint8 && std::is_same_v<T, std::uint8_t>);
template <class T>
inline constexpr mask_slot slot_of_elements =
    std::is_same_v<T, float> ? mask_slot::bias : mask_slot::keep;

// Adds a PyTorch mask's memory to the kernel's parts: floats as a bias, bytes as visibility in
// the given polarity.
template <class T>
void add_part(kernels::mask_spec& m, const T* data, kernels::element_strides at, bool nonzero_hides,
              const call_extents& e) {
  bool added;
  if constexpr (std::is_same_v<T, float>)
    added = m.add(kernels::bias_part{data, at});
  else  // a bool's bytes read as unsigned char: 0 or 1
    added = m.add(
        kernels::visibility_part{reinterpret_cast<const std::uint8_t*>(data), at, nonzero_hides});
  if (!added)
    throw shape_error(typeformer::detail::concat(
        e.kind, " \"", e.name, "\": more than two ", std::is_same_v<T, float> ? "bias" : "keep",
        " mask parts (the call's mask and the layer's own padding mask together)"));
}

inline void check_mask_extent(bool holds_batch, bool holds_query, bool holds_key, extent_t b,
                              extent_t lq, extent_t lk, const call_extents& e) {
  diagnostics::check<diagnostics::mask_batch_does_not_match>(holds_batch, e.kind, e.name, b,
                                                             e.batch);
  diagnostics::check<diagnostics::mask_query_length_does_not_match>(holds_query, e.kind, e.name, lq,
                                                                    e.query_len);
  diagnostics::check<diagnostics::mask_key_length_does_not_match>(holds_key, e.kind, e.name, lk,
                                                                  e.key_len);
}
using typeformer::detail::container_of_rank;

/// The element and extents of the view as_view<Rank> makes of a container C (an lvalue): what
/// the deduction guides below give a mask built from the container itself
/// (`masks::pytorch_key_padding{padding}` for an xt::xtensor<bool, 2>). Empty where C's type
/// fixes another rank, so that a guide for another rank drops out (clang 14 substitutes into a
/// guide's result before it checks the guide's constraints).
template <class C, std::size_t Rank, class = void>
struct container_parts {};
template <class View>
struct view_parts;
template <class T, extent_t... E>
struct view_parts<tensor_view<T, E...>> {
  using element = std::remove_const_t<T>;
  static constexpr std::array<extent_t, sizeof...(E)> extent{E...};
};
template <class C, std::size_t Rank>
struct container_parts<C, Rank, std::enable_if_t<container_of_rank<C, Rank>>>
    : view_parts<decltype(as_view<Rank>(std::declval<C&>()))> {};
/// A container whose type fixes its rank at Rank (an xarray's rank is not in its type: pass
/// as_view<Rank> of it).
template <class C, std::size_t Rank>
concept container_of_static_rank = container_of_rank<C, Rank> && static_rank_of<std::remove_cv_t<C>>
== Rank;
}  // namespace detail

/// (batch, Lq) with 1 = the query row attends: a row with 0 sees no key, so it is a fully
/// masked row and gives what the layer's `on_fully_masked_rows` policy says. This is what Keras's
/// MultiHeadAttention makes of its query's propagated mask (it ANDs mask[:, :, None] into the
/// attention mask); unlike `keep_queries` it changes the scores, not the output afterwards.
template <extent_t B = dynamic, extent_t Lq = dynamic>
struct attending_queries {
  tensor_view<const std::uint8_t, B, Lq> mask;
  static constexpr static_extents extents{B, dynamic, Lq, dynamic};
  static constexpr mask_slot slot = mask_slot::queries;
  void lower(kernels::mask_spec& m, const call_extents& e) const {
    detail::check_mask_extent(mask.extent(0) == e.batch, mask.extent(1) == e.query_len, true,
                              mask.extent(0), mask.extent(1), e.key_len, e);
    m.attending_queries = mask.data();
    m.attending_queries_batch = e.query_len;
  }
};
template <detail::container_of_rank<2> C>
attending_queries(C&) -> attending_queries<detail::container_parts<C, 2>::extent[0],
                                           detail::container_parts<C, 2>::extent[1]>;

/// (batch, Lq, Lk) with 1 = attend: Keras `attention_mask`.
template <extent_t B = dynamic, extent_t Lq = dynamic, extent_t Lk = dynamic>
struct keep {
  tensor_view<const std::uint8_t, B, Lq, Lk> mask;
  static constexpr static_extents extents{B, dynamic, Lq, Lk};
  static constexpr mask_slot slot = mask_slot::keep;
  void lower(kernels::mask_spec& m, const call_extents& e) const {
    detail::check_mask_extent(mask.extent(0) == e.batch, mask.extent(1) == e.query_len,
                              mask.extent(2) == e.key_len, mask.extent(0), mask.extent(1),
                              mask.extent(2), e);
    m.add(kernels::visibility_part{mask.data(),
                                   {.batch = e.query_len * e.key_len, .query = e.key_len}});
  }
};
template <detail::container_of_rank<3> C>
keep(C&) -> keep<detail::container_parts<C, 3>::extent[0], detail::container_parts<C, 3>::extent[1],
                 detail::container_parts<C, 3>::extent[2]>;

/// (batch, Lk) with 1 = attend: Keras `value_mask`, or a padding mask in Keras polarity.
template <extent_t B = dynamic, extent_t Lk = dynamic>
struct keep_keys {
  tensor_view<const std::uint8_t, B, Lk> mask;
  static constexpr static_extents extents{B, dynamic, dynamic, Lk};
  static constexpr mask_slot slot = mask_slot::keep;
  void lower(kernels::mask_spec& m, const call_extents& e) const {
    detail::check_mask_extent(mask.extent(0) == e.batch, true, mask.extent(1) == e.key_len,
                              mask.extent(0), e.query_len, mask.extent(1), e);
    m.add(kernels::visibility_part{mask.data(), {.batch = e.key_len}});
  }
};
template <detail::container_of_rank<2> C>
keep_keys(C&) -> keep_keys<detail::container_parts<C, 2>::extent[0],
                           detail::container_parts<C, 2>::extent[1]>;

/// PyTorch's `key_padding_mask` (nn.MultiheadAttention, the transformer layers'
/// `*_key_padding_mask`), (batch, Lk): bool or uint8 with nonzero = padding (the opposite of
/// `keep_keys`), or float, added to the scores (-inf hides the key). The element type comes from
/// the view: `masks::pytorch_key_padding{as_view<2>(mask)}`.
template <extent_t B = dynamic, extent_t Lk = dynamic, class T = std::uint8_t>
struct pytorch_key_padding {
  static_assert(
      diagnostics::require<detail::is_pytorch_mask_element<T, true>,
                           diagnostics::key_padding_masks_are_bool_uint8_or_float<T>>::rule_holds);
  tensor_view<const T, B, Lk> mask;
  static constexpr static_extents extents{B, dynamic, dynamic, Lk};
  static constexpr mask_slot slot = detail::slot_of_elements<T>;
  void lower(kernels::mask_spec& m, const call_extents& e) const {
    detail::check_mask_extent(mask.extent(0) == e.batch, true, mask.extent(1) == e.key_len,
                              mask.extent(0), e.query_len, mask.extent(1), e);
    detail::add_part(m, mask.data(), {.batch = e.key_len}, true, e);
  }
};
template <class T, extent_t B, extent_t Lk>
pytorch_key_padding(tensor_view<T, B, Lk>) -> pytorch_key_padding<B, Lk, std::remove_const_t<T>>;
template <detail::container_of_rank<2> C>
pytorch_key_padding(C&) -> pytorch_key_padding<detail::container_parts<C, 2>::extent[0],
                                               detail::container_parts<C, 2>::extent[1],
                                               typename detail::container_parts<C, 2>::element>;

/// PyTorch's `attn_mask` as nn.MultiheadAttention takes it (also the transformer layers'
/// `src_mask`, `tgt_mask` and `memory_mask`): (Lq, Lk), the same for every batch entry and head, or
/// (batch·heads, Lq, Lk), batch-major as PyTorch lays it out. bool or uint8: nonzero = masked;
/// float: added to the scaled scores. `masks::pytorch_attn_mask{as_view<2>(mask)}`.
template <class T, extent_t... E>
struct pytorch_attn_mask {
  static constexpr std::size_t rank = sizeof...(E);
  static constexpr bool rank_taken = rank == 2 || rank == 3;
  static_assert(
      diagnostics::require<rank_taken, diagnostics::attn_masks_are_rank_2_or_3<rank>>::rule_holds);
  static_assert(
      diagnostics::require<detail::is_pytorch_mask_element<T, true>,
                           diagnostics::attn_masks_are_bool_uint8_or_float<T>>::rule_holds);
  tensor_view<const T, E...> mask;
  static constexpr std::array<extent_t, rank> x{E...};
  static constexpr static_extents extents{dynamic, dynamic, x[rank - 2], x[rank - 1]};
  static constexpr mask_slot slot = detail::slot_of_elements<T>;
  void lower(kernels::mask_spec& m, const call_extents& e) const {
    const extent_t lq = mask.extent(rank - 2), lk = mask.extent(rank - 1);
    detail::check_mask_extent(true, lq == e.query_len, lk == e.key_len, e.batch, lq, lk, e);
    kernels::element_strides at{.query = lk};
    if constexpr (rank == 3) {
      if (mask.extent(0) != e.batch * e.heads)
        throw shape_error(typeformer::detail::concat(
            e.kind, " \"", e.name,
            "\": a 3-D attn_mask is (batch·heads, Lq, Lk); its first extent (",
            std::to_string(mask.extent(0)), ") is not ", std::to_string(e.batch), " × ",
            std::to_string(e.heads)));
      at.head = lq * lk;
      at.batch = e.heads * at.head;
    }
    detail::add_part(m, mask.data(), at, true, e);
  }
};
template <class T, extent_t... E>
pytorch_attn_mask(tensor_view<T, E...>) -> pytorch_attn_mask<std::remove_const_t<T>, E...>;
template <detail::container_of_static_rank<2> C>
pytorch_attn_mask(C&) -> pytorch_attn_mask<typename detail::container_parts<C, 2>::element,
                                           detail::container_parts<C, 2>::extent[0],
                                           detail::container_parts<C, 2>::extent[1]>;
template <detail::container_of_static_rank<3> C>
pytorch_attn_mask(C&) -> pytorch_attn_mask<
    typename detail::container_parts<C, 3>::element, detail::container_parts<C, 3>::extent[0],
    detail::container_parts<C, 3>::extent[1], detail::container_parts<C, 3>::extent[2]>;

/// PyTorch's `attn_mask` as scaled_dot_product_attention takes it: any shape that broadcasts to
/// (batch, heads, Lq, Lk) — (Lq, Lk), (batch, 1, Lq, Lk), (batch, 1, 1, Lk), … — aligned from the
/// last axis, an extent of 1 repeating. bool: true = attend (the opposite of
/// nn.MultiheadAttention's polarity); float: added to the scaled scores.
/// `masks::pytorch_sdpa_mask{as_view<4>(mask)}`.
template <class T, extent_t... E>
struct pytorch_sdpa_mask {
  static constexpr std::size_t rank = sizeof...(E);
  static constexpr bool rank_taken = rank >= 1 && rank <= 4;
  static_assert(diagnostics::require<
                rank_taken,
                diagnostics::scaled_dot_product_attention_masks_are_rank_1_to_4<rank>>::rule_holds);
  static_assert(diagnostics::require<
                detail::is_pytorch_mask_element<T, false>,
                diagnostics::scaled_dot_product_attention_masks_are_bool_or_float<T>>::rule_holds);
  tensor_view<const T, E...> mask;
  // The mask's extent on call axis a (0 batch … 3 keys), or 1 where the mask has no such axis.
  static constexpr extent_t static_on_axis(std::size_t a) {
    constexpr std::array<extent_t, sizeof...(E)> x{E...};
    return a + rank < 4 ? 1 : x[a + rank - 4];
  }
  // An extent of 1 broadcasts, so it does not constrain the call.
  static constexpr extent_t imposed(std::size_t a) {
    return static_on_axis(a) == 1 ? dynamic : static_on_axis(a);
  }
  static constexpr static_extents extents{imposed(0), imposed(1), imposed(2), imposed(3)};
  static constexpr mask_slot slot = detail::slot_of_elements<T>;
  void lower(kernels::mask_spec& m, const call_extents& e) const {
    static constexpr std::string_view axis_names[4] = {"batch", "heads", "query", "key"};
    const std::array<extent_t, 4> call{e.batch, e.heads, e.query_len, e.key_len};
    std::array<std::ptrdiff_t, 4> strides{};
    std::ptrdiff_t stride = 1;
    for (std::size_t k = rank; k-- > 0;) {  // mask axis k is call axis k + 4 - rank
      const std::size_t a = k + 4 - rank;
      const extent_t n = mask.extent(k);
      if (n != call[a] && n != 1)
        throw shape_error(typeformer::detail::concat(
            e.kind, " \"", e.name, "\": the mask's extent on the ", axis_names[a], " axis (",
            std::to_string(n), ") is neither ", std::to_string(call[a]),
            " nor 1; a mask broadcasts to (batch, heads, Lq, Lk) from its last axis"));
      strides[a] = n == 1 ? 0 : stride;
      stride *= n;
    }
    detail::add_part(
        m, mask.data(),
        {.batch = strides[0], .head = strides[1], .query = strides[2], .key = strides[3]}, false,
        e);
  }
};
template <class T, extent_t... E>
pytorch_sdpa_mask(tensor_view<T, E...>) -> pytorch_sdpa_mask<std::remove_const_t<T>, E...>;
template <detail::container_of_static_rank<1> C>
pytorch_sdpa_mask(C&) -> pytorch_sdpa_mask<typename detail::container_parts<C, 1>::element,
                                           detail::container_parts<C, 1>::extent[0]>;
template <detail::container_of_static_rank<2> C>
pytorch_sdpa_mask(C&) -> pytorch_sdpa_mask<typename detail::container_parts<C, 2>::element,
                                           detail::container_parts<C, 2>::extent[0],
                                           detail::container_parts<C, 2>::extent[1]>;
template <detail::container_of_static_rank<3> C>
pytorch_sdpa_mask(C&) -> pytorch_sdpa_mask<
    typename detail::container_parts<C, 3>::element, detail::container_parts<C, 3>::extent[0],
    detail::container_parts<C, 3>::extent[1], detail::container_parts<C, 3>::extent[2]>;
template <detail::container_of_static_rank<4> C>
pytorch_sdpa_mask(C&) -> pytorch_sdpa_mask<
    typename detail::container_parts<C, 4>::element, detail::container_parts<C, 4>::extent[0],
    detail::container_parts<C, 4>::extent[1], detail::container_parts<C, 4>::extent[2],
    detail::container_parts<C, 4>::extent[3]>;

/// (Lq, Lk) float added to every head's scaled scores; -inf hides a key. PyTorch's float
/// `attn_mask`, relative-position or ALiBi-style biases.
template <extent_t Lq = dynamic, extent_t Lk = dynamic>
struct additive {
  tensor_view<const float, Lq, Lk> bias;
  static constexpr static_extents extents{dynamic, dynamic, Lq, Lk};
  static constexpr mask_slot slot = mask_slot::bias;
  void lower(kernels::mask_spec& m, const call_extents& e) const {
    detail::check_mask_extent(true, bias.extent(0) == e.query_len, bias.extent(1) == e.key_len,
                              e.batch, bias.extent(0), bias.extent(1), e);
    m.add(kernels::bias_part{bias.data(), {.query = e.key_len}});
  }
};
template <detail::container_of_rank<2> C>
additive(C&)
    -> additive<detail::container_parts<C, 2>::extent[0], detail::container_parts<C, 2>::extent[1]>;

/// (batch, heads, Lq, Lk) float bias, one per head.
template <extent_t B = dynamic, extent_t H = dynamic, extent_t Lq = dynamic, extent_t Lk = dynamic>
struct additive_per_head {
  tensor_view<const float, B, H, Lq, Lk> bias;
  static constexpr static_extents extents{B, H, Lq, Lk};
  static constexpr mask_slot slot = mask_slot::bias;
  void lower(kernels::mask_spec& m, const call_extents& e) const {
    detail::check_mask_extent(bias.extent(0) == e.batch, bias.extent(2) == e.query_len,
                              bias.extent(3) == e.key_len, bias.extent(0), bias.extent(2),
                              bias.extent(3), e);
    diagnostics::check<diagnostics::mask_heads_do_not_match>(bias.extent(1) == e.heads, e.kind,
                                                             e.name, bias.extent(1), e.heads);
    m.add(kernels::bias_part{bias.data(),
                             {.batch = e.heads * e.query_len * e.key_len,
                              .head = e.query_len * e.key_len,
                              .query = e.key_len}});
  }
};
template <detail::container_of_rank<4> C>
additive_per_head(C&) -> additive_per_head<
    detail::container_parts<C, 4>::extent[0], detail::container_parts<C, 4>::extent[1],
    detail::container_parts<C, 4>::extent[2], detail::container_parts<C, 4>::extent[3]>;

namespace detail {
/// Parts of kind s in P, counting inside a nested `all`.
template <class P>
constexpr int parts_of_kind(mask_slot s) {
  if constexpr (requires { P::parts_in(s); })
    return P::parts_in(s);
  else
    return int(P::slot == s);
}
}  // namespace detail

/// Several parts at once: `masks::all(masks::causal{}, masks::key_lengths{lens})`. A key is
/// visible only if every part lets it through, and biases add. At most one causal, lengths and
/// attending-queries part, two keep and two bias parts (a nested `all` counts with its parts),
/// and static extents must agree: otherwise a compile error names the parts or the extents.
template <class... Parts>
struct all {
  std::tuple<Parts...> parts;
  explicit all(Parts... p) : parts(p...) {}

  static constexpr mask_slot slot = mask_slot::none;

  static constexpr int parts_in(mask_slot s) { return (0 + ... + detail::parts_of_kind<Parts>(s)); }
  static constexpr bool one_per_kind = parts_in(mask_slot::causal) <= 1 &&
                                       parts_in(mask_slot::lengths) <= 1 &&
                                       parts_in(mask_slot::queries) <= 1;
  static constexpr bool two_element_parts =
      parts_in(mask_slot::keep) <= kernels::mask_spec::element_parts &&
      parts_in(mask_slot::bias) <= kernels::mask_spec::element_parts;
  static_assert(
      diagnostics::require<one_per_kind,
                           diagnostics::mask_parts_of_one_kind_given_twice<Parts...>>::rule_holds);
  static_assert(diagnostics::require<
                two_element_parts,
                diagnostics::more_than_two_keep_or_bias_mask_parts<Parts...>>::rule_holds);

  // The first axis (0 batch, 1 heads, 2 query, 3 key) on which two static extents differ.
  static constexpr std::array<extent_t, 3> first_conflict() {
    std::array<extent_t, 3> found{-1, 0, 0};
    for (int axis = 0; axis < 4; ++axis) {
      extent_t seen = dynamic;
      for (const static_extents& x : {Parts::extents...}) {
        const extent_t e = axis == 0   ? x.batch
                           : axis == 1 ? x.heads
                           : axis == 2 ? x.query_len
                                       : x.key_len;
        if (e == dynamic) continue;
        if (seen != dynamic && seen != e && found[0] < 0) found = {axis, seen, e};
        seen = e;
      }
    }
    return found;
  }
  static constexpr auto conflict = first_conflict();
  static_assert(diagnostics::require <
                conflict[0]<0, diagnostics::mask_parts_disagree_on_axis<conflict[0], conflict[1],
                                                                        conflict[2]>>::rule_holds);

  static constexpr static_extents merge() {
    static_extents out;
    auto take = [](extent_t& into, extent_t e) {
      if (e != dynamic) into = e;
    };
    ((take(out.batch, Parts::extents.batch), take(out.heads, Parts::extents.heads),
      take(out.query_len, Parts::extents.query_len), take(out.key_len, Parts::extents.key_len)),
     ...);
    return out;
  }
  static constexpr static_extents extents = merge();

  void lower(kernels::mask_spec& m, const call_extents& e) const {
    std::apply([&](const auto&... p) { (p.lower(m, e), ...); }, parts);
  }
};

/// (batch, Lq) with 1 = keep: Keras's `query_mask`, which zeroes the output rows of dropped
/// queries after the attention (it hides no key, so it is not a part of `all`). Taken by the
/// Keras attention layers (dot_attention, additive_attention).
template <extent_t B = dynamic, extent_t Lq = dynamic>
struct keep_queries {
  tensor_view<const std::uint8_t, B, Lq> mask;
};

/// No query mask: every row is kept.
struct all_queries {};

}  // namespace typeformer::masks
