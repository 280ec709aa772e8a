#pragma once
// Attention one query row at a time, for the layers whose scores are not a scaled dot product
// of projected heads: Keras's Attention (dot or concat scores, no projections), additive and
// relative-position attention. The caller's `score_row` fills one row of raw scores into a
// per-thread scratch of key_len floats (never an S×S matrix); this kernel applies the mask,
// the softmax and the value weighting, and zeroes the rows a query mask drops.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

#include <typeformer/kernels/attention_layout.hpp>
#include <typeformer/kernels/attention_mask.hpp>
#include <typeformer/kernels/dot.hpp>
#include <typeformer/kernels/flash_attention.hpp>
#include <typeformer/kernels/simd.hpp>

namespace typeformer::kernels {

/// Shapes and strides of one call: value v(b, j, c) = v[b*v_batch + j*v_row + c], output
/// y(b, i, c) = y[b*y_batch + i*y_row + c], c < value_dim.
struct row_attention_args {
  std::size_t batch = 0, query_len = 0, key_len = 0, value_dim = 0;
  const float* v = nullptr;
  std::size_t v_batch = 0, v_row = 0;
  float* y = nullptr;
  std::size_t y_batch = 0, y_row = 0;
  /// Keras's query_mask, (batch, query_len) with 1 = keep: rows with 0 come out as zeros.
  const std::uint8_t* query_keep = nullptr;
};

/// What a row adds to its output besides Σ_j p_j·v_j: nothing.
struct no_value_terms {
  void operator()(std::size_t, std::size_t, const float*, float, std::size_t,
                  float*) const noexcept {}
};

/// Rows [row_begin, row_end) of batch·query_len; `scores` holds key_len floats.
/// score_row(b, i, scores) writes the raw scores of query row i of batch entry b.
/// value_terms(b, i, weights, inverse, key_end, y) may add to the row's output y the terms
/// that depend on the probabilities weights[j]·inverse of keys j < key_end (relative-position
/// values); the keys at and past key_end carry no weight.
template <class Arch, class ScoreRow, class ValueTerms = no_value_terms>
void row_attention(const row_attention_args& a, const mask_spec& m, ScoreRow&& score_row,
                   float* scores, std::size_t row_begin, std::size_t row_end,
                   ValueTerms&& value_terms = {}) {
  using O = simd::ops<Arch>;
  constexpr std::size_t W = O::width;
  constexpr float neg_inf = -std::numeric_limits<float>::infinity();
  attention_operands extents;  // what the shared mask helpers read
  extents.query_len = a.query_len;
  extents.key_len = a.key_len;
  const std::size_t vector_end = a.value_dim / W * W;
  for (std::size_t row = row_begin; row < row_end; ++row) {
    const std::size_t b = row / a.query_len, i = row % a.query_len;
    float* y = a.y + b * a.y_batch + i * a.y_row;
    if (a.query_keep && a.query_keep[row] == 0) {
      std::fill_n(y, a.value_dim, 0.0f);
      continue;
    }
    score_row(b, i, scores);
    const std::ptrdiff_t limit = detail::visible_key_limit<Arch>(extents, m, b, i);
    float max = neg_inf;
    bool seen = false;  // apart from `max`, so that a NaN score stays NaN
    for (std::size_t j = 0; j < a.key_len; ++j) {
      scores[j] = detail::masked_score<Arch>(m, scores[j], b, 0, i, j, limit);
      max = std::max(max, scores[j]);
      seen = seen || scores[j] != neg_inf;
    }
    if (!seen) {
      std::fill_n(
          y, a.value_dim,
          m.policy == fully_masked_rows::nan ? std::numeric_limits<float>::quiet_NaN() : 0.0f);
      continue;
    }
    float sum = 0.0f;
    for (std::size_t j = 0; j < a.key_len; ++j) sum += (scores[j] = std::exp(scores[j] - max));
    const float inverse = 1.0f / sum;
    std::fill_n(y, a.value_dim, 0.0f);
    const float* v = a.v + b * a.v_batch;
    // Keys past the causal and length limits carry no weight (as in flash_attention); under
    // Keras's −1e9 policy a fully masked row weighs them all.
    const std::size_t key_end = m.policy == fully_masked_rows::minus_1e9_added
                                    ? a.key_len
                                    : static_cast<std::size_t>(limit);
    for (std::size_t j = 0; j < key_end; ++j) {
      const float p = scores[j] * inverse;
      const auto pj = O::splat(p);
      const float* vj = v + j * a.v_row;
      std::size_t c = 0;
      for (; c < vector_end; c += W) O::store(y + c, O::fma(pj, O::load(vj + c), O::load(y + c)));
      for (; c < a.value_dim; ++c) y[c] = std::fma(p, vj[c], y[c]);
    }
    value_terms(b, i, scores, inverse, key_end, y);
  }
}

}  // namespace typeformer::kernels
