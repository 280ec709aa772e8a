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
#include <string>
#include <string_view>
#include <type_traits>

#include <typeformer/core/errors.hpp>
#include <typeformer/core/text.hpp>
#include <typeformer/functions/bounds.hpp>
#include <typeformer/functions/call.hpp>
#include <typeformer/functions/evaluation.hpp>
#include <typeformer/functions/key_ranges.hpp>
#include <typeformer/kernels/function_lanes.hpp>
#include <typeformer/kernels/simd.hpp>

namespace typeformer::kernels {

/// A call with no score or mask function: the kernel as it was.
struct no_attention_functions {
  static constexpr bool has_score = false;
  static constexpr bool has_mask = false;
  static constexpr bool has_key_ranges = false;
  static constexpr bool has_key_starts = false;
  static constexpr bool has_element_mask = false;
  static constexpr bool has_query_dot = false;
  static constexpr bool has_value_rows = false;
  static constexpr std::size_t row_term_floats() noexcept { return 0; }
  static constexpr expr::tile_class classify(std::size_t, std::size_t, std::size_t, std::size_t,
                                             std::size_t, std::size_t) noexcept {
    return expr::tile_class::full;
  }
  static constexpr expr::tile_class classify_elements(std::size_t, std::size_t, std::size_t,
                                                      std::size_t, std::size_t,
                                                      std::size_t) noexcept {
    return expr::tile_class::full;
  }
};

template <class T>
constexpr bool yields(expr::value_kind kind) noexcept {
  if constexpr (requires { std::remove_cvref_t<T>::kind; })
    return std::remove_cvref_t<T>::kind == kind;
  else
    return false;
}

/// The table row a score function's query_dot reads (void without one).
template <auto Score, bool HasQueryDot>
struct query_row_of {
  using type = void;
};
template <auto Score>
struct query_row_of<Score, true> {
  using type = decltype(expr::query_dot_of(Score).a);
};

/// The score function `Score`, mask function `Mask` and value function `Value` (each an
/// expression or expr::no_function) of a call, with the operands bound to it. Check the call
/// with expr::check_function_call and check_row_widths before the kernel runs.
///
/// A value function is one row of a 2-D table, table[index(i, j)], added to value j as row i
/// sees it: output i gains Σ_j p_ij·table[index(i, j)] (Shaw's rel_v). The kernel keeps each
/// row's probability mass per table row beside its accumulator and adds Σ_t mass_t·table[t]
/// at the end; a score function's query_dot(table[index]) is computed for every table row the
/// block's indices reach once per query block.
template <auto Score, auto Mask, class Bindings, auto Value = expr::no_function{}>
struct attention_functions {
  static constexpr bool has_score =
      !std::is_same_v<std::remove_cvref_t<decltype(Score)>, expr::no_function>;
  static constexpr bool has_mask =
      !std::is_same_v<std::remove_cvref_t<decltype(Mask)>, expr::no_function>;
  static constexpr bool has_value_rows =
      !std::is_same_v<std::remove_cvref_t<decltype(Value)>, expr::no_function>;
  static constexpr bool has_query_dot =
      has_score && expr::query_dot_count<std::remove_cvref_t<decltype(Score)>>() > 0;
  static_assert(!has_score || expr::query_dot_count<std::remove_cvref_t<decltype(Score)>>() <= 1,
                "a score function holds at most one query_dot term");
  static_assert(!has_value_rows || expr::is_table_row<std::remove_cvref_t<decltype(Value)>>,
                "a value function is one row of a 2-D float operand table: "
                "value_function<rel_v[index]>");
  static_assert(!has_score || yields<decltype(Score)>(expr::value_kind::real) ||
                    yields<decltype(Score)>(expr::value_kind::integer),
                "a score function yields a number (the new score), not a condition: a condition "
                "that hides keys is a mask function");
  static_assert(!has_mask || yields<decltype(Mask)>(expr::value_kind::condition),
                "a mask function yields a condition (true: the key is seen), not a number");
  static constexpr auto score = Score;
  static constexpr auto mask = Mask;
  /// Whether the mask's row conditions and key bounds (functions/key_ranges.hpp) bound each
  /// row's keys, whether one starts them past 0, and whether the mask has conjuncts beyond
  /// them, to evaluate key by key in partial tiles.
  static constexpr bool has_key_ranges = has_mask && expr::range_conjuncts(Mask) > 0;
  static constexpr bool has_key_starts = has_mask && expr::starts_keys(Mask);
  static constexpr bool has_element_mask = has_mask && expr::element_conjuncts(Mask) > 0;
  /// The mask's conjuncts evaluated key by key, where the row's key range has hidden the keys
  /// outside it (a policy that skips masked keys): they alone classify tiles and hide keys then.
  static constexpr auto element_mask = [] {
    if constexpr (has_element_mask)
      return expr::element_part(Mask);
    else
      return expr::no_function{};
  }();

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

  /// The box of rows [i_first, i_last] and keys [j_first, j_last] of (b, h).
  expr::function_box<const expr::bound_operand_bounds<Bindings>&> box(
      std::size_t b, std::size_t h, std::size_t i_first, std::size_t i_last, std::size_t j_first,
      std::size_t j_last) const noexcept {
    return {{},
            expr::interval::between(double(query_offset + i_first), double(query_offset + i_last)),
            expr::interval::between(double(j_first), double(j_last)),
            expr::interval::exactly(double(h)),
            expr::interval::exactly(double(b)),
            element_bounds};
  }

  /// How the mask function stands over rows [i_first, i_last] and keys [j_first, j_last] of
  /// (b, h).
  expr::tile_class classify(std::size_t b, std::size_t h, std::size_t i_first, std::size_t i_last,
                            std::size_t j_first, std::size_t j_last) const noexcept {
    if constexpr (!has_mask)
      return expr::tile_class::full;
    else
      return expr::classify(
          expr::function_bounds(Mask, box(b, h, i_first, i_last, j_first, j_last)));
  }

  /// The keys [begin, end) row i of (b, h) may see by the mask's row conditions and key bounds
  /// ([0, key_len) without them; begin = end = 0 where it sees none).
  expr::key_range row_keys(std::size_t b, std::size_t h, std::size_t i,
                           std::size_t key_len) const noexcept {
    if constexpr (has_key_ranges)
      return expr::row_key_range<Mask>(*operands, b, h, query_offset + i, key_len);
    else
      return {0, static_cast<std::int64_t>(key_len)};
  }

  /// How the mask's element conjuncts (element_mask) stand over a box.
  expr::tile_class classify_elements(std::size_t b, std::size_t h, std::size_t i_first,
                                     std::size_t i_last, std::size_t j_first,
                                     std::size_t j_last) const noexcept {
    if constexpr (!has_element_mask)
      return expr::tile_class::full;
    else
      return expr::classify(
          expr::function_bounds(element_mask, box(b, h, i_first, i_last, j_first, j_last)));
  }

  // ---- query_dot and value rows ----------------------------------------------------------

  /// The index of the score function's query_dot, and the value function's.
  static constexpr auto query_index() noexcept { return expr::query_dot_of(Score).a.indices.first; }
  static constexpr auto value_index() noexcept { return Value.indices.first; }
  template <class Row>
  static const auto& table_of(const Bindings& b) noexcept {
    using operand = typename std::remove_cvref_t<Row>::operand_type;
    return b.template get<Bindings::template find<operand::name>()>();
  }
  using query_row_type = typename query_row_of<Score, has_query_dot>::type;
  /// Rows of the query_dot table and of the value table (0 without).
  static std::size_t query_rows(const Bindings& b) noexcept {
    if constexpr (has_query_dot)
      return static_cast<std::size_t>(table_of<query_row_type>(b).extents[0]);
    else
      return 0;
  }
  static std::size_t value_rows(const Bindings& b) noexcept {
    if constexpr (has_value_rows)
      return static_cast<std::size_t>(table_of<decltype(Value)>(b).extents[0]);
    else
      return 0;
  }
  std::size_t query_rows() const noexcept { return query_rows(*operands); }
  std::size_t value_rows() const noexcept { return value_rows(*operands); }
  const float* query_row(std::size_t t) const noexcept {
    return table_of<query_row_type>(*operands).address(t, 0);
  }
  const float* value_row(std::size_t t) const noexcept {
    return table_of<decltype(Value)>(*operands).address(t, 0);
  }
  /// Floats per query row of the kernel's scratch: its query_dot products and its mass per
  /// value row.
  static std::size_t row_term_floats(const Bindings& b) noexcept {
    return query_rows(b) + value_rows(b);
  }
  std::size_t row_term_floats() const noexcept { return row_term_floats(*operands); }

  /// The range of the query_dot's (or the value function's) index over a box.
  expr::interval query_index_bounds(std::size_t b, std::size_t h, std::size_t i_first,
                                    std::size_t i_last, std::size_t j_first,
                                    std::size_t j_last) const noexcept {
    return expr::function_bounds(query_index(), box(b, h, i_first, i_last, j_first, j_last));
  }
  expr::interval value_index_bounds(std::size_t b, std::size_t h, std::size_t i_first,
                                    std::size_t i_last, std::size_t j_first,
                                    std::size_t j_last) const noexcept {
    return expr::function_bounds(value_index(), box(b, h, i_first, i_last, j_first, j_last));
  }

  /// Refuses tables whose rows are not key_dim (query_dot) or value_dim (value rows) wide.
  static void check_row_widths([[maybe_unused]] const Bindings& b,
                               [[maybe_unused]] std::size_t key_dim,
                               [[maybe_unused]] std::size_t value_dim,
                               [[maybe_unused]] std::string_view who) {
    [[maybe_unused]] const auto check = [&](const auto& table, std::size_t width,
                                            const char* what) {
      using T = std::remove_cvref_t<decltype(table)>;
      if (static_cast<std::size_t>(table.extents[1]) != width)
        throw shape_error(
            typeformer::detail::concat(who, ": the rows of operand \"", T::name.view(), "\" are ",
                                       std::to_string(table.extents[1]), " wide; as ", what,
                                       " they must be ", std::to_string(width)));
    };
    if constexpr (has_query_dot)
      check(table_of<query_row_type>(b), key_dim,
            "a query_dot table (one row per index, times the query)");
    if constexpr (has_value_rows)
      check(table_of<decltype(Value)>(b), value_dim,
            "a value function's table (a row added to the values)");
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

/// A score function `score + X` (or `X + score`) with X not reading the score: the kernel adds
/// X in its own units and skips the conversions to natural units and back (ALiBi, T5, Shaw).
template <class T>
struct added_to_score : std::false_type {};
template <class X>
requires(!expr::reads_placeholder<X, expr::placeholder_id::score>::value) struct added_to_score<
    expr::binary<expr::binary_op::add, expr::placeholder<expr::placeholder_id::score>, X>>
    : std::true_type {
  static constexpr const auto& term(const auto& e) noexcept { return e.b; }
};
template <class X>
requires(!expr::reads_placeholder<X, expr::placeholder_id::score>::value) struct added_to_score<
    expr::binary<expr::binary_op::add, X, expr::placeholder<expr::placeholder_id::score>>>
    : std::true_type {
  static constexpr const auto& term(const auto& e) noexcept { return e.a; }
};

/// No row index, or the row every (row, key) of a box shares: an index known over the box
/// need not be evaluated key by key.
inline constexpr std::size_t no_shared_row = static_cast<std::size_t>(-1);
inline std::size_t shared_row(const expr::interval& index) noexcept {
  return index.is_exact() ? static_cast<std::size_t>(index.lo) : no_shared_row;
}

/// p[r][j] = score(p[r][j]) for the micro-tile's rows from block row i0 over the registers
/// holding keys [j0, j0 + count); scores are in units of `unit` natural ones. With a query_dot,
/// row r's products are at query_terms + r·term_stride, and `tile_row` is the table row the
/// whole micro-tile's index is (no_shared_row: find it per row).
template <class Arch, class F, std::size_t R, std::size_t T>
void apply_score_function(const F& f, std::size_t b, std::size_t h, std::size_t i0, std::size_t j0,
                          std::size_t count, std::size_t last_key, float unit,
                          [[maybe_unused]] const float* query_terms,
                          [[maybe_unused]] std::size_t term_stride,
                          [[maybe_unused]] std::size_t tile_row, float (&p)[R][T]) noexcept {
  using O = simd::ops<Arch>;
  using score_type = std::remove_cvref_t<decltype(F::score)>;
  constexpr std::size_t W = O::width;
  const auto to_natural = O::splat(1.0f / unit);
  const auto back = O::splat(unit);
  for (std::size_t r = 0; r < R; ++r) {
    [[maybe_unused]] const float* terms = nullptr;
    [[maybe_unused]] bool constant = false;
    [[maybe_unused]] float constant_term = 0;
    if constexpr (F::has_query_dot) {
      terms = query_terms + r * term_stride;
      const std::size_t row =
          tile_row != no_shared_row
              ? tile_row
              : shared_row(f.query_index_bounds(b, h, i0 + r, i0 + r, j0, j0 + count - 1));
      constant = row != no_shared_row;
      if (constant) constant_term = terms[row];
    }
    for (std::size_t c = 0; c < count; c += W) {
      const auto s = O::load(p[r] + c);
      auto at = lanes_at<Arch>(s, *f.operands, b, h, f.query_offset + i0 + r, j0 + c, last_key);
      if constexpr (F::has_query_dot) {
        at.query_terms = terms;
        at.has_constant_term = constant;
        at.constant_term = constant_term;
      }
      if constexpr (added_to_score<score_type>::value)
        O::store(p[r] + c,
                 O::fma(expr::evaluate_function(added_to_score<score_type>::term(F::score), at),
                        back, s));
      else {
        at.score_lanes = s * to_natural;
        O::store(p[r] + c, expr::evaluate_function(F::score, at) * back);
      }
    }
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
