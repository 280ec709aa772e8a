#pragma once
// Typed attention masks. Polarity is in the name, never a convention: `keep` means 1 = attend
// (Keras), `pytorch_key_padding` means 1 = masked (PyTorch). Combine parts with
// `masks::all(...)`; a key is visible only if every part lets it through.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <tuple>

#include <typeformer/core/diagnostics.hpp>
#include <typeformer/core/text.hpp>
#include <typeformer/kernels/attention_mask.hpp>
#include <typeformer/tensor/view.hpp>

namespace typeformer::diagnostics {
/// `masks::all` was given two parts that use the same place in the kernel (two causal masks,
/// two keep masks, two biases, two length lists).
template <class... Parts>
struct mask_parts_of_one_kind_given_twice;
/// `masks::all` parts whose static extents differ on an axis (0 batch, 1 heads, 2 query
/// length, 3 key length).
template <extent_t Axis, extent_t First, extent_t Second>
struct mask_parts_disagree_on_axis;
}  // namespace typeformer::diagnostics

namespace typeformer::masks {

/// Run-time extents of one attention call, and the layer they belong to (for messages).
struct call_extents {
  extent_t batch, heads, query_len, key_len;
  std::string_view kind, name;
};

/// What a mask part constrains; `masks::all` takes at most one part of each kind, since the
/// kernel has one place for each.
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
inline void check_mask_extent(bool holds_batch, bool holds_query, bool holds_key, extent_t b,
                              extent_t lq, extent_t lk, const call_extents& e) {
  diagnostics::check<diagnostics::mask_batch_does_not_match>(holds_batch, e.kind, e.name, b,
                                                             e.batch);
  diagnostics::check<diagnostics::mask_query_length_does_not_match>(holds_query, e.kind, e.name, lq,
                                                                    e.query_len);
  diagnostics::check<diagnostics::mask_key_length_does_not_match>(holds_key, e.kind, e.name, lk,
                                                                  e.key_len);
}
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
    m.keep = mask.data();
    m.keep_means_masked = false;
    m.keep_batch = e.query_len * e.key_len;
    m.keep_query = e.key_len;
  }
};

/// (batch, Lk) with 1 = attend: Keras `value_mask`, or a padding mask in Keras polarity.
template <extent_t B = dynamic, extent_t Lk = dynamic>
struct keep_keys {
  tensor_view<const std::uint8_t, B, Lk> mask;
  static constexpr static_extents extents{B, dynamic, dynamic, Lk};
  static constexpr mask_slot slot = mask_slot::keep;
  void lower(kernels::mask_spec& m, const call_extents& e) const {
    detail::check_mask_extent(mask.extent(0) == e.batch, true, mask.extent(1) == e.key_len,
                              mask.extent(0), e.query_len, mask.extent(1), e);
    m.keep = mask.data();
    m.keep_means_masked = false;
    m.keep_batch = e.key_len;
    m.keep_query = 0;
  }
};

/// (batch, Lk) with 1 = masked: PyTorch's `key_padding_mask`. Same memory, opposite polarity.
template <extent_t B = dynamic, extent_t Lk = dynamic>
struct pytorch_key_padding {
  tensor_view<const std::uint8_t, B, Lk> mask;
  static constexpr static_extents extents{B, dynamic, dynamic, Lk};
  static constexpr mask_slot slot = mask_slot::keep;
  void lower(kernels::mask_spec& m, const call_extents& e) const {
    keep_keys<B, Lk>{mask}.lower(m, e);
    m.keep_means_masked = true;
  }
};

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
    m.bias = bias.data();
    m.bias_batch = 0;
    m.bias_head = 0;
    m.bias_query = e.key_len;
  }
};

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
    m.bias = bias.data();
    m.bias_query = e.key_len;
    m.bias_head = e.query_len * e.key_len;
    m.bias_batch = e.heads * m.bias_head;
  }
};

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
/// visible only if every part lets it through. At most one part of each kind (causal,
/// lengths, keep, bias, attending queries; a nested `all` counts with its parts), and static
/// extents must agree: otherwise a compile error names the two parts or the two extents.
template <class... Parts>
struct all {
  std::tuple<Parts...> parts;
  explicit all(Parts... p) : parts(p...) {}

  static constexpr mask_slot slot = mask_slot::none;

  static constexpr int parts_in(mask_slot s) { return (0 + ... + detail::parts_of_kind<Parts>(s)); }
  static constexpr bool one_per_kind =
      parts_in(mask_slot::causal) <= 1 && parts_in(mask_slot::lengths) <= 1 &&
      parts_in(mask_slot::keep) <= 1 && parts_in(mask_slot::bias) <= 1 &&
      parts_in(mask_slot::queries) <= 1;
  static_assert(sizeof(diagnostics::require<
                       one_per_kind, diagnostics::mask_parts_of_one_kind_given_twice<Parts...>>));

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
  static_assert(sizeof(
      diagnostics::require <
      conflict[0]<
          0, diagnostics::mask_parts_disagree_on_axis<conflict[0], conflict[1], conflict[2]>>));

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
