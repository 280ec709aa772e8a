// Score and mask functions (functions/): what an expression means at a point, against
// the formulas written out by hand (Python's floor division and modulo, select, clamp, the
// kinds), and what its interval bounds say about tiles and operand indices.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include <typeformer/functions/bounds.hpp>
#include <typeformer/functions/call.hpp>
#include <typeformer/functions/evaluation.hpp>
#include <typeformer/functions/nodes.hpp>
#include <typeformer/functions/operands.hpp>

namespace {
namespace fx = typeformer::expr;
using fx::batch_idx;
using fx::head_idx;
using fx::kv_idx;
using fx::q_idx;
using fx::score;

// An expression is a template argument, constants and all.
template <auto E>
struct as_template_argument {
  static constexpr auto expression = E;
};

template <class E, class Bindings = fx::bindings<>>
auto at(const E& e, std::int32_t q, std::int32_t kv, float s = 0, std::int32_t h = 0,
        std::int32_t b = 0, const Bindings& operands = {}) {
  const fx::function_point<Bindings> point{s, q, kv, h, b, &operands};
  return fx::evaluate_function(e, point);
}

// Python's // and %: the quotient floors, the remainder takes the divisor's sign.
std::int32_t python_floor_divide(std::int32_t a, std::int32_t b) {
  return static_cast<std::int32_t>(std::floor(double(a) / double(b)));
}
std::int32_t python_modulo(std::int32_t a, std::int32_t b) {
  return a - b * python_floor_divide(a, b);
}

constexpr auto causal = kv_idx <= q_idx;
constexpr auto sliding_window = kv_idx <= q_idx && q_idx - kv_idx < 256;
constexpr auto soft_cap = 50.0f * fx::tanh(score / 50.0f);
}  // namespace

TEST_CASE("score and mask functions: kinds, constants as template arguments") {
  STATIC_REQUIRE(decltype(causal)::kind == fx::value_kind::condition);
  STATIC_REQUIRE(decltype(soft_cap)::kind == fx::value_kind::real);
  STATIC_REQUIRE(decltype(kv_idx - q_idx)::kind == fx::value_kind::integer);
  STATIC_REQUIRE(decltype(kv_idx - 0.5)::kind == fx::value_kind::real);
  // The float constants travel in the type's value, bit for bit.
  constexpr auto capped = as_template_argument<soft_cap>::expression;
  CHECK(at(capped, 0, 0, 120.0f) == Approx(50.0 * std::tanh(120.0 / 50.0)).epsilon(1e-6));
  CHECK(at(as_template_argument<sliding_window>::expression, 300, 45) == true);
  CHECK(at(as_template_argument<sliding_window>::expression, 300, 44) == false);
  CHECK(at(as_template_argument<sliding_window>::expression, 300, 301) == false);
}

TEST_CASE("score and mask functions: integer division and modulo floor, as Python's") {
  for (std::int32_t a : {-7, -6, -1, 0, 1, 5, 6, 7, 100})
    for (std::int32_t b : {-3, -1, 1, 2, 3, 64}) {
      INFO(a << " // " << b);
      CHECK(at(q_idx / kv_idx, a, b) == python_floor_divide(a, b));
      CHECK(at(q_idx % kv_idx, a, b) == python_modulo(a, b));
    }
  // Mixed with a real, / is true division.
  CHECK(at(q_idx / 2.0f, 7, 0) == 3.5f);
  CHECK(at(fx::to_real(q_idx) / fx::to_real(kv_idx), 7, 2) == 3.5f);
}

TEST_CASE("score and mask functions: select, clamp, min, max, abs, exp, log, !, ||") {
  constexpr auto bucket = fx::clamp(kv_idx - q_idx, -10, 10) + 10;
  CHECK(at(bucket, 100, 0) == 0);
  CHECK(at(bucket, 100, 95) == 5);
  CHECK(at(bucket, 100, 100) == 10);
  CHECK(at(bucket, 0, 1000) == 20);
  CHECK(at(fx::abs(kv_idx - q_idx), 3, 10) == 7);
  CHECK(at(fx::select(kv_idx > q_idx, 1.5f, score), 1, 2, -4.0f) == 1.5f);
  CHECK(at(fx::select(kv_idx > q_idx, 1.5f, score), 2, 1, -4.0f) == -4.0f);
  CHECK(at(fx::select(kv_idx > q_idx, 3, kv_idx), 2, 1) == 1);
  CHECK(at(fx::max(score, -1.0f) + fx::min(q_idx, 2), 5, 0, -3.0f) == 1.0f);
  CHECK(at(fx::exp(score) * fx::log(score), 0, 0, 2.0f) ==
        Approx(std::exp(2.0) * std::log(2.0)).epsilon(1e-6));
  CHECK(at(!(kv_idx <= q_idx) || kv_idx == 0, 3, 0) == true);
  CHECK(at(!(kv_idx <= q_idx) || kv_idx == 0, 3, 1) == false);
  CHECK(at(-(q_idx - kv_idx), 3, 1) == -2);
}

TEST_CASE("score and mask functions: operands bound by name at the call") {
  constexpr fx::operand<"slopes", float, typeformer::dynamic> slopes;
  constexpr fx::operand<"window", std::int32_t> window;
  constexpr fx::operand<"doc", std::int32_t, typeformer::dynamic, typeformer::dynamic> doc;
  constexpr auto alibi = score + slopes[head_idx] * fx::to_real(kv_idx - q_idx);
  constexpr auto windowed = kv_idx <= q_idx && q_idx - kv_idx < window;
  constexpr auto same_document = doc(batch_idx, q_idx) == doc(batch_idx, kv_idx);

  const std::vector<float> slope_values{0.5f, 0.25f};
  const std::vector<std::int32_t> documents{0, 0, 1, 1, 1, /* batch 1 */ 0, 1, 1, 2, 2};
  const auto operands =
      fx::bind_all(fx::bind<"slopes">(slope_values), fx::bind<"window">(std::int32_t{3}),
                   fx::bind<"doc">(documents.data(), {2, 5}));
  CHECK(at(alibi, 4, 1, 2.0f, 1, 0, operands) == 2.0f + 0.25f * -3.0f);
  CHECK(at(windowed, 4, 2, 0, 0, 0, operands) == true);
  CHECK(at(windowed, 4, 1, 0, 0, 0, operands) == false);
  CHECK(at(same_document, 2, 4, 0, 0, 0, operands) == true);
  CHECK(at(same_document, 1, 2, 0, 0, 0, operands) == false);
  CHECK(at(same_document, 1, 2, 0, 0, 1, operands) == true);
  CHECK(at(same_document, 3, 4, 0, 0, 1, operands) == true);
}

namespace {
// A box over a tile: rows [i0, i1], keys [j0, j1], one head and batch entry; operands unknown.
fx::function_box<fx::unknown_operands> tile(double i0, double i1, double j0, double j1) {
  return {{},
          fx::interval::between(i0, i1),
          fx::interval::between(j0, j1),
          fx::interval::exactly(0),
          fx::interval::exactly(0),
          {}};
}
}  // namespace

TEST_CASE("score and mask functions: interval bounds classify tiles") {
  using fx::tile_class;
  const auto classify = [](const auto& mask, const auto& box) {
    return fx::classify(fx::function_bounds(mask, box));
  };
  // Causal: below the diagonal full, above empty, across it partial.
  CHECK(classify(causal, tile(128, 255, 0, 63)) == tile_class::full);
  CHECK(classify(causal, tile(0, 127, 128, 191)) == tile_class::empty);
  CHECK(classify(causal, tile(0, 127, 64, 127)) == tile_class::partial);
  // A window of 256: far behind the rows empty, just behind full.
  CHECK(classify(sliding_window, tile(1024, 1151, 0, 63)) == tile_class::empty);
  CHECK(classify(sliding_window, tile(1024, 1151, 896, 959)) == tile_class::full);
  CHECK(classify(sliding_window, tile(1024, 1151, 832, 895)) == tile_class::partial);
  // Modulo over one period is exact; across periods it is the divisor's range.
  CHECK(classify(q_idx % 64 < 70, tile(0, 127, 0, 0)) == tile_class::full);
  CHECK(classify(q_idx % 64 < 32, tile(64, 95, 0, 0)) == tile_class::full);
  CHECK(classify(q_idx % 64 < 32, tile(96, 127, 0, 0)) == tile_class::empty);
  CHECK(classify(q_idx % 64 < 32, tile(0, 127, 0, 0)) == tile_class::partial);
}

TEST_CASE("score and mask functions: operand bounds from the per-call block map") {
  // A (3, 1000) int32 table with values past float's exact integers and a (2000) float table:
  // over random index ranges the bounds with a block map must contain every element's value,
  // and be as tight as float allows (the exact ones, rounded outwards).
  constexpr fx::operand<"ids", std::int32_t, typeformer::dynamic, typeformer::dynamic> ids;
  constexpr fx::operand<"weights", float, typeformer::dynamic> weights;
  std::mt19937 rng(36);
  std::vector<std::int32_t> id(3 * 1000);
  for (auto& x : id) x = std::int32_t(rng() % 100000) + (1 << 25);
  std::vector<float> w(2000);
  for (auto& x : w) x = std::uniform_real_distribution<float>(-5.0f, 5.0f)(rng);
  const auto operands = fx::bind_all(fx::bind<"ids">(id.data(), {3, 1000}), fx::bind<"weights">(w));
  using bounds_type = fx::bound_operand_bounds<decltype(operands)>;
  std::vector<float> map(bounds_type::block_map_floats(operands));
  REQUIRE(map.size() == 2 * (3 * 63 + 125));
  bounds_type mapped(operands), scanned(operands);
  mapped.build_block_map(map.data());
  for (int trial = 0; trial < 2000; ++trial) {
    std::size_t lo = rng() % 1000, hi = rng() % 1000;
    if (lo > hi) std::swap(lo, hi);
    const std::size_t row_lo = rng() % 3, row_hi = row_lo + rng() % (3 - row_lo);
    INFO("rows " << row_lo << ".." << row_hi << ", columns " << lo << ".." << hi);
    double exact_lo = 1e300, exact_hi = -1e300;
    for (std::size_t r = row_lo; r <= row_hi; ++r)
      for (std::size_t c = lo; c <= hi; ++c)
        exact_lo = std::min(exact_lo, double(id[r * 1000 + c])),
        exact_hi = std::max(exact_hi, double(id[r * 1000 + c]));
    const auto rows = fx::interval::between(double(row_lo), double(row_hi));
    const auto columns = fx::interval::between(double(lo), double(hi));
    const fx::interval m = mapped.bounds<decltype(ids)>(rows, columns);
    REQUIRE(m.lo <= exact_lo);
    REQUIRE(m.hi >= exact_hi);
    REQUIRE(exact_lo - m.lo <= 4.0);  // one float step at 2^25
    REQUIRE(m.hi - exact_hi <= 4.0);
    const fx::interval s = scanned.bounds<decltype(ids)>(rows, columns);
    REQUIRE(s.lo == exact_lo);
    REQUIRE(s.hi == exact_hi);

    std::size_t wlo = rng() % 2000, whi = rng() % 2000;
    if (wlo > whi) std::swap(wlo, whi);
    const auto [w_min, w_max] =
        std::minmax_element(w.begin() + long(wlo), w.begin() + long(whi) + 1);
    const fx::interval mw =
        mapped.bounds<decltype(weights)>(fx::interval::between(double(wlo), double(whi)));
    REQUIRE(mw.lo == double(*w_min));
    REQUIRE(mw.hi == double(*w_max));
  }
}

TEST_CASE("score and mask functions: the range of indices, overflow and zero divisors") {
  const auto any = fx::any_call_box();
  const fx::interval bucket = fx::function_bounds(fx::clamp(kv_idx - q_idx, -10, 10) + 10, any);
  CHECK(bucket.lo == 0);
  CHECK(bucket.hi == 20);
  CHECK_FALSE(fx::function_bounds(kv_idx - q_idx, any).is_finite());
  // Over a call of 1000 × 1000, q·kv stays within 2^23; over 100000 × 100000 it may not.
  CHECK_FALSE(fx::function_bounds(q_idx * kv_idx, tile(0, 999, 0, 999)).may_overflow);
  CHECK(fx::function_bounds(q_idx * kv_idx, tile(0, 99999, 0, 99999)).may_overflow);
  CHECK(fx::function_bounds(q_idx / (kv_idx - 4), tile(0, 9, 0, 9)).may_divide_by_zero);
  CHECK_FALSE(fx::function_bounds(q_idx / (kv_idx + 1), tile(0, 9, 0, 9)).may_divide_by_zero);
  CHECK(fx::function_bounds(q_idx % (kv_idx + 1), tile(0, 9, 0, 9)).hi == 9);
}
