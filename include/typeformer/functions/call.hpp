#pragma once
// One call of score and mask functions: the operands bound to it, checked once against the
// call's extents before anything is evaluated, and the bounds of their elements that the
// kernel's tile classification reads.
//
// The check walks every operand the expressions index: each index's range over the call's box
// (q_idx < Lq, kv_idx < Lk, head_idx < H, batch_idx < B) must lie inside the bound table, a
// static extent must equal the bound one, and no integer may leave ±2^23 nor a divisor reach 0
// (functions/bounds.hpp). A failure throws shape_error naming the operand, the axis and the
// numbers.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>

#include <typeformer/core/errors.hpp>
#include <typeformer/core/text.hpp>
#include <typeformer/functions/bounds.hpp>
#include <typeformer/functions/operands.hpp>

namespace typeformer::expr {

/// The absence of a score or mask function (a structural value, so it too can be a template
/// argument).
struct no_function {};

/// The bounds of bound operands' elements over index ranges: exact for one element; else from
/// a block map when the caller built one (build_block_map: the min and max of every run of
/// `block` elements along each table's last axis), by scanning what the map does not cover; by
/// scanning up to `scan_limit` elements without a map; else the whole table's (computed once
/// per call). With the map, the 128 document ids of a query block cost 8 blocks, not 128
/// elements: scanning cost a quarter of packed documents' time.
template <class Bindings>
struct bound_operand_bounds {
  static constexpr std::size_t scan_limit = 4096;
  static constexpr std::size_t block = 16;
  static constexpr std::size_t slots = Bindings::count == 0 ? 1 : Bindings::count;
  const Bindings* operands = nullptr;
  std::array<interval, slots> whole{};
  // Per operand: block b of row r has bounds [lo[r·blocks + b], hi[...]], or null (no map).
  std::array<const float*, slots> block_lo{}, block_hi{};

  explicit bound_operand_bounds(const Bindings& b) : operands(&b) {
    fill_whole(std::make_index_sequence<Bindings::count>{});
  }

  /// Floats the block map of `b` takes (0 when no table is long enough to need one).
  static std::size_t block_map_floats(const Bindings& b) noexcept {
    return map_floats(b, std::make_index_sequence<Bindings::count>{});
  }
  /// Builds the block map in `storage` (block_map_floats(operands) floats), which must outlive
  /// this object. Bounds are rounded outwards to float, so a tile is never misjudged.
  void build_block_map(float* storage) noexcept {
    build(storage, std::make_index_sequence<Bindings::count>{});
  }

  template <class Operand, class... I>
  interval bounds(const I&... index) const noexcept {
    constexpr std::size_t at = Bindings::template find<Operand::name>();
    static_assert(at < Bindings::count, "an operand of the function is not bound at the call");
    const auto& bound = operands->template get<at>();
    if constexpr (sizeof...(I) == 0) {
      return interval::exactly(static_cast<double>(bound.value));
    } else {
      const std::array<interval, sizeof...(I)> range{index...};
      double count = 1;
      for (const interval& r : range) count *= r.hi - r.lo + 1;
      const double rows = count / (range.back().hi - range.back().lo + 1);
      const bool mapped = block_lo[at] != nullptr && count > double(2 * block) &&
                          rows * (range.back().hi - range.back().lo + 1) / block <= scan_limit;
      if (!mapped && !(count <= scan_limit)) return whole[at];
      constexpr std::size_t N = sizeof...(I);
      std::array<std::int64_t, N> i{};
      for (std::size_t d = 0; d < N; ++d) i[d] = static_cast<std::int64_t>(range[d].lo);
      interval found{std::numeric_limits<double>::infinity(),
                     -std::numeric_limits<double>::infinity()};
      const auto add = [&](double lo, double hi) {
        found.lo = std::min(found.lo, lo), found.hi = std::max(found.hi, hi);
      };
      const auto last_lo = static_cast<std::int64_t>(range[N - 1].lo);
      const auto last_hi = static_cast<std::int64_t>(range[N - 1].hi);
      while (true) {
        if (mapped) {
          // One row of the last axis: elements up to a block edge, whole blocks, the rest.
          i[N - 1] = last_lo;
          const std::size_t row_start =
              static_cast<std::size_t>(address_of(bound, i, std::make_index_sequence<N>{}) -
                                       bound.data) -
              std::size_t(last_lo);
          const std::size_t blocks = blocks_of(bound.extents[N - 1]);
          const std::size_t row = row_start / static_cast<std::size_t>(bound.extents[N - 1]);
          std::int64_t j = last_lo;
          for (; j <= last_hi && j % std::int64_t(block) != 0; ++j) {
            const double v = static_cast<double>(bound.data[row_start + std::size_t(j)]);
            add(v, v);
          }
          for (; j + std::int64_t(block) - 1 <= last_hi; j += std::int64_t(block)) {
            const std::size_t k = row * blocks + std::size_t(j) / block;
            add(block_lo[at][k], block_hi[at][k]);
          }
          for (; j <= last_hi; ++j) {
            const double v = static_cast<double>(bound.data[row_start + std::size_t(j)]);
            add(v, v);
          }
          i[N - 1] = last_hi;
        } else {
          const double v =
              static_cast<double>(*address_of(bound, i, std::make_index_sequence<N>{}));
          add(v, v);
        }
        std::size_t d = N;
        while (d > 0 && static_cast<double>(++i[d - 1]) > range[d - 1].hi) {
          i[d - 1] = static_cast<std::int64_t>(range[d - 1].lo);
          --d;
        }
        if (d == 0) return found;
      }
    }
  }

 private:
  template <class Bound, std::size_t N, std::size_t... K>
  static auto address_of(const Bound& b, const std::array<std::int64_t, N>& i,
                         std::index_sequence<K...>) noexcept {
    return b.address(i[K]...);
  }
  static std::size_t blocks_of(extent_t last) noexcept {
    return (static_cast<std::size_t>(last) + block - 1) / block;
  }
  // A table earns a map when its rows are longer than two blocks.
  template <class Bound>
  static std::size_t map_floats_of(const Bound& b) noexcept {
    if constexpr (Bound::rank == 0) {
      return 0;
    } else {
      const auto last = static_cast<std::size_t>(b.extents[Bound::rank - 1]);
      if (last <= 2 * block) return 0;
      return 2 * (b.size() / last) * blocks_of(b.extents[Bound::rank - 1]);
    }
  }
  template <std::size_t... K>
  static std::size_t map_floats([[maybe_unused]] const Bindings& b,
                                std::index_sequence<K...>) noexcept {
    return (std::size_t{0} + ... + map_floats_of(b.template get<K>()));
  }
  template <std::size_t... K>
  void build([[maybe_unused]] float* storage, std::index_sequence<K...>) noexcept {
    ((storage = build_one<K>(storage)), ...);
  }
  template <std::size_t K>
  float* build_one(float* storage) noexcept {
    const auto& b = operands->template get<K>();
    const std::size_t floats = map_floats_of(b);
    if (floats == 0) return storage;
    const auto last =
        static_cast<std::size_t>(b.extents[std::remove_cvref_t<decltype(b)>::rank - 1]);
    const std::size_t blocks = blocks_of(b.extents[std::remove_cvref_t<decltype(b)>::rank - 1]);
    const std::size_t rows = b.size() / last;
    float* lo = storage;
    float* hi = storage + rows * blocks;
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t k = 0; k < blocks; ++k) {
        const std::size_t first = r * last + k * block,
                          end = r * last + std::min(last, (k + 1) * block);
        double l = static_cast<double>(b.data[first]), h = l;
        for (std::size_t e = first + 1; e < end; ++e) {
          const auto v = static_cast<double>(b.data[e]);
          l = std::min(l, v), h = std::max(h, v);
        }
        lo[r * blocks + k] = round_down(l);
        hi[r * blocks + k] = round_up(h);
      }
    block_lo[K] = lo, block_hi[K] = hi;
    return storage + floats;
  }
  static float round_down(double v) noexcept {
    const auto f = static_cast<float>(v);
    return static_cast<double>(f) > v ? std::nextafter(f, -std::numeric_limits<float>::infinity())
                                      : f;
  }
  static float round_up(double v) noexcept {
    const auto f = static_cast<float>(v);
    return static_cast<double>(f) < v ? std::nextafter(f, std::numeric_limits<float>::infinity())
                                      : f;
  }
  template <std::size_t... K>
  void fill_whole(std::index_sequence<K...>) {
    ((whole[K] = whole_of(operands->template get<K>())), ...);
  }
  template <class Bound>
  static interval whole_of(const Bound& b) noexcept {
    if constexpr (Bound::rank == 0) {
      return interval::exactly(static_cast<double>(b.value));
    } else {
      const std::size_t n = b.size();
      if (n == 0) return {};
      interval r{static_cast<double>(b.data[0]), static_cast<double>(b.data[0])};
      for (std::size_t k = 1; k < n; ++k) {
        const auto v = static_cast<double>(b.data[k]);
        r.lo = std::min(r.lo, v), r.hi = std::max(r.hi, v);
      }
      return r;
    }
  }
};

/// The extents of one call, and who makes it (for messages).
struct function_call_extents {
  extent_t batch, heads, query_len, key_len;
  std::string_view who;
};

template <class Bindings>
function_box<bound_operand_bounds<Bindings>> call_box(const function_call_extents& e,
                                                      const Bindings& b) {
  return {{},
          interval::between(0, double(e.query_len) - 1),
          interval::between(0, double(e.key_len) - 1),
          interval::between(0, double(e.heads) - 1),
          interval::between(0, double(e.batch) - 1),
          bound_operand_bounds<Bindings>(b)};
}

namespace detail {
inline std::string interval_text(const interval& r) {
  const auto end = [](double x) {
    if (x == std::numeric_limits<double>::infinity()) return std::string("+inf");
    if (x == -std::numeric_limits<double>::infinity()) return std::string("-inf");
    return std::to_string(static_cast<long long>(x));
  };
  return typeformer::detail::concat("[", end(r.lo), ", ", end(r.hi), "]");
}

template <class Box, class Bindings>
struct operand_checker {
  const Box& box;
  const Bindings& operands;
  std::string_view who;

  template <class N>
  void visit(const N& n) const {
    if constexpr (requires { n.a; }) visit(n.a);
    if constexpr (requires { n.b; }) visit(n.b);
    if constexpr (requires { n.condition; }) {
      visit(n.condition), visit(n.if_true), visit(n.if_false);
    }
    if constexpr (requires { n.n; }) visit(n.n);
    if constexpr (requires { n.indices; }) check_indexed(n);
    if constexpr (requires { N::name; }) check_bound<N>();
  }

  template <class Operand>
  const auto& check_bound() const {
    constexpr std::size_t at = Bindings::template find<Operand::name>();
    static_assert(at < Bindings::count,
                  "an operand the function uses is not bound at the call: bind<\"name\">(data)");
    const auto& bound = operands.template get<at>();
    using B = std::remove_cvref_t<decltype(bound)>;
    static_assert(std::is_same_v<typename B::element, typename Operand::element>,
                  "an operand is bound to data of another element type (int32_t, float or bool)");
    static_assert(B::rank == Operand::rank,
                  "an operand is bound to data of another rank than it declares");
    for (std::size_t d = 0; d < Operand::rank; ++d) {
      if (Operand::extents[d] != dynamic && Operand::extents[d] != bound.extents[d])
        throw shape_error(typeformer::detail::concat(
            who, ": operand \"", Operand::name.view(), "\" declares extent ",
            std::to_string(Operand::extents[d]), " on axis ", std::to_string(d),
            ", the bound data has ", std::to_string(bound.extents[d])));
      if (Operand::rank > 0 && bound.extents[d] < 0)
        throw shape_error(typeformer::detail::concat(who, ": operand \"", Operand::name.view(),
                                                     "\" is bound with a negative extent"));
    }
    if constexpr (B::rank > 0)
      if (bound.size() > 0 && bound.data == nullptr)
        throw shape_error(typeformer::detail::concat(who, ": operand \"", Operand::name.view(),
                                                     "\" is bound to no data"));
    return bound;
  }

  template <class Operand, class... I>
  void check_indexed(const indexed<Operand, I...>& n) const {
    const auto& bound = check_bound<Operand>();
    check_indices<Operand>(bound, n.indices, 0);
  }
  template <class Operand, class I>
  void check_indexed(const table_row<Operand, I>& n) const {
    const auto& bound = check_bound<Operand>();
    check_indices<Operand>(bound, n.indices, 0);
  }
  template <class Operand, class Bound, class List>
  void check_indices(const Bound& bound, const List& list, std::size_t axis) const {
    if constexpr (requires { list.first; }) {
      visit(list.first);
      const interval r = function_bounds(list.first, box);
      if (r.lo < 0 || r.hi > double(bound.extents[axis]) - 1 || r.lo != r.lo)
        throw shape_error(typeformer::detail::concat(
            who, ": operand \"", Operand::name.view(), "\" has extent ",
            std::to_string(bound.extents[axis]), " on axis ", std::to_string(axis),
            ", but its index there ranges over ", interval_text(r), " in this call"));
      check_indices<Operand>(bound, list.rest, axis + 1);
    }
  }
};
}  // namespace detail

/// Checks one call of `function` (a score or a mask function) before anything is evaluated.
template <class Function, class Bindings>
void check_function_call(const Function& function, const Bindings& operands,
                         const function_call_extents& e) {
  if constexpr (!std::is_same_v<Function, no_function>) {
    const auto box = call_box(e, operands);
    const detail::operand_checker<decltype(box), Bindings> checker{box, operands, e.who};
    checker.visit(function);
    const interval all = function_bounds(function, box);
    if (all.may_overflow)
      throw shape_error(typeformer::detail::concat(
          e.who, ": an integer of the function may leave ±2^23 in this call (",
          std::to_string(e.query_len), " queries, ", std::to_string(e.key_len),
          " keys); integers are exact only within it"));
    if (all.may_divide_by_zero)
      throw shape_error(
          typeformer::detail::concat(e.who, ": a divisor of the function may be 0 in this call"));
  }
}

}  // namespace typeformer::expr
