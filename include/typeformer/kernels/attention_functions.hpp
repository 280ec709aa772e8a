#pragma once
// Score and mask functions inside the tiled attention kernel: the functions of one call, how
// a tile is classified by them, and how they are applied to a tile's scores in registers.
//
// A score function maps each score (natural units, after the layer's scale) to a new one; a
// mask function hides the keys where it is false. Both are expressions (functions/)
// that travel as template arguments, so the compiler inlines them into the tile loop. Before
// a micro-tile of rows meets a key tile, the mask function's interval bounds over the tile's
// index box classify it: empty tiles are skipped, full ones run without evaluating the mask,
// and only partial ones evaluate it, a register of keys at a time.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>

#include <typeformer/functions/bounds.hpp>
#include <typeformer/functions/call.hpp>
#include <typeformer/functions/evaluation.hpp>
#include <typeformer/kernels/function_lanes.hpp>
#include <typeformer/kernels/simd.hpp>

namespace typeformer::kernels {

/// A call with no score or mask function: the kernel as it was.
struct no_attention_functions {
  static constexpr bool has_score = false;
  static constexpr bool has_mask = false;
};

template <class T>
constexpr bool yields(expr::value_kind kind) noexcept {
  if constexpr (requires { std::remove_cvref_t<T>::kind; })
    return std::remove_cvref_t<T>::kind == kind;
  else
    return false;
}

/// The score function `Score` and mask function `Mask` (each an expression or
/// expr::no_function) of a call, with the operands bound to it. Check the call with
/// expr::check_function_call before the kernel runs.
template <auto Score, auto Mask, class Bindings>
struct attention_functions {
  static constexpr bool has_score =
      !std::is_same_v<std::remove_cvref_t<decltype(Score)>, expr::no_function>;
  static constexpr bool has_mask =
      !std::is_same_v<std::remove_cvref_t<decltype(Mask)>, expr::no_function>;
  static_assert(!has_score || yields<decltype(Score)>(expr::value_kind::real) ||
                    yields<decltype(Score)>(expr::value_kind::integer),
                "a score function yields a number (the new score), not a condition: a condition "
                "that hides keys is a mask function");
  static_assert(!has_mask || yields<decltype(Mask)>(expr::value_kind::condition),
                "a mask function yields a condition (true: the key is seen), not a number");
  static constexpr auto score = Score;
  static constexpr auto mask = Mask;

  explicit attention_functions(const Bindings& b) : operands(&b), element_bounds(b) {}
  /// With the block map of the mask's operands built in `block_map` (block_map_floats(b)
  /// floats of the workspace, which must outlive this object): tiles are then classified from
  /// a few blocks of each operand rather than from every element.
  attention_functions(const Bindings& b, float* block_map) : attention_functions(b) {
    if constexpr (has_mask) element_bounds.build_block_map(block_map);
  }
  static std::size_t block_map_floats(const Bindings& b) noexcept {
    return has_mask ? expr::bound_operand_bounds<Bindings>::block_map_floats(b) : 0;
  }

  const Bindings* operands;
  expr::bound_operand_bounds<Bindings> element_bounds;
  /// The position q_idx of the call's first query row: 0, or the keys cached before the rows
  /// when decoding (row i is then at position query_offset + i, as the cached keys are).
  std::size_t query_offset = 0;

  /// How the mask function stands over rows [i_first, i_last] and keys [j_first, j_last] of
  /// (b, h).
  expr::tile_class classify(std::size_t b, std::size_t h, std::size_t i_first, std::size_t i_last,
                            std::size_t j_first, std::size_t j_last) const noexcept {
    if constexpr (!has_mask) {
      return expr::tile_class::full;
    } else {
      const expr::function_box<const expr::bound_operand_bounds<Bindings>&> box{
          {},
          expr::interval::between(double(query_offset + i_first), double(query_offset + i_last)),
          expr::interval::between(double(j_first), double(j_last)),
          expr::interval::exactly(double(h)),
          expr::interval::exactly(double(b)),
          element_bounds};
      return expr::classify(expr::function_bounds(Mask, box));
    }
  }
};

namespace detail {

/// The context of row i against the register of keys from kv0 of (b, h).
template <class Arch, class Bindings>
function_lanes<Arch, Bindings> lanes_at(typename simd::ops<Arch>::batch scores,
                                        const Bindings& operands, std::size_t b, std::size_t h,
                                        std::size_t i, std::size_t kv0,
                                        std::size_t last_key) noexcept {
  return {scores,
          static_cast<std::int32_t>(i),
          static_cast<std::int32_t>(kv0),
          static_cast<std::int32_t>(last_key),
          static_cast<std::int32_t>(h),
          static_cast<std::int32_t>(b),
          &operands};
}

/// p[r][j] = score(p[r][j]) for the micro-tile's rows over the registers holding keys
/// [j0, j0 + count); scores are in units of `unit` natural ones.
template <class Arch, auto Score, class Bindings, std::size_t R, std::size_t T>
void apply_score_function(const Bindings& operands, std::size_t b, std::size_t h, std::size_t i0,
                          std::size_t j0, std::size_t count, std::size_t last_key, float unit,
                          float (&p)[R][T]) noexcept {
  using O = simd::ops<Arch>;
  constexpr std::size_t W = O::width;
  const auto to_natural = O::splat(1.0f / unit);
  const auto back = O::splat(unit);
  for (std::size_t r = 0; r < R; ++r)
    for (std::size_t c = 0; c < count; c += W) {
      const auto at =
          lanes_at<Arch>(O::load(p[r] + c) * to_natural, operands, b, h, i0 + r, j0 + c, last_key);
      O::store(p[r] + c, expr::evaluate_function(Score, at) * back);
    }
}

/// Hides the keys of [j0, j0 + count) where the mask function is false: −∞, or under Keras's
/// policy the score plus −1e9 (in natural units).
template <class Arch, auto Mask, class Bindings, std::size_t R, std::size_t T>
void apply_mask_function(const Bindings& operands, std::size_t b, std::size_t h, std::size_t i0,
                         std::size_t j0, std::size_t count, std::size_t last_key, float unit,
                         bool add_minus_1e9, float (&p)[R][T]) noexcept {
  using O = simd::ops<Arch>;
  constexpr std::size_t W = O::width;
  constexpr float neg_inf = -std::numeric_limits<float>::infinity();
  for (std::size_t r = 0; r < R; ++r)
    for (std::size_t c = 0; c < count; c += W) {
      const auto at = lanes_at<Arch>(O::splat(0.0f), operands, b, h, i0 + r, j0 + c, last_key);
      const auto seen = expr::evaluate_function(Mask, at);
      const auto s = O::load(p[r] + c);
      const auto hidden = add_minus_1e9 ? (s / O::splat(unit) + O::splat(-1e9f)) * O::splat(unit)
                                        : O::splat(neg_inf);
      if constexpr (W == 1)
        O::store(p[r] + c, seen ? s : hidden);
      else
        O::store(p[r] + c, xsimd::select(seen, s, hidden));
    }
}

/// The score function at one (natural) score, as the scalar path evaluates it: the opt-in
/// path that writes attention weights.
template <auto Score, class Bindings>
float scalar_score_function(const Bindings& operands, std::size_t b, std::size_t h, std::size_t i,
                            std::size_t j, float score) noexcept {
  return expr::evaluate_function(Score, lanes_at<simd::scalar>(score, operands, b, h, i, j, j));
}
template <auto Mask, class Bindings>
bool scalar_mask_function(const Bindings& operands, std::size_t b, std::size_t h, std::size_t i,
                          std::size_t j) noexcept {
  return expr::evaluate_function(Mask, lanes_at<simd::scalar>(0.0f, operands, b, h, i, j, j));
}

}  // namespace detail
}  // namespace typeformer::kernels
