#pragma once
// Relative-position attention (Shaw, Uszkoreit and Vaswani 2018), fused into the row kernel:
//
//   e_ij = s · q_i · (k_j + rel_k[r(i, j)])        z_i = Σ_j α_ij (v_j + rel_v[r(i, j)])
//   r(i, j) = clip(j − i, −K, K) + K               α_i = softmax_j(e_ij),  s = 1/√depth
//
// with tables rel_k (2K+1, key depth) and rel_v (2K+1, value depth) shared by the heads. No
// (query, key, depth) tensor is formed: per query row the 2K+1 products q_i · rel_k[r] are
// computed once and added to the scores by bucket, and the value term is Σ_r mass_r · rel_v[r]
// with mass_r the probability of the keys in bucket r (all keys at distance ≤ −K share
// bucket 0, all at ≥ K share bucket 2K: two range sums and 2K − 1 single keys).

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include <typeformer/kernels/row_attention.hpp>
#include <typeformer/kernels/simd.hpp>
#include <typeformer/kernels/thread_pool.hpp>

namespace typeformer::kernels {

/// One call: `heads` heads of q (key_depth wide, head h at column h·key_depth), k and v
/// (value_depth wide); element strides per batch entry and per row.
struct relative_attention_args {
  std::size_t batch = 0, query_len = 0, key_len = 0, heads = 1, key_depth = 0, value_depth = 0;
  const float* q = nullptr;
  std::size_t q_batch = 0, q_row = 0;
  const float* k = nullptr;
  std::size_t k_batch = 0, k_row = 0;
  const float* v = nullptr;
  std::size_t v_batch = 0, v_row = 0;
  float* y = nullptr;
  std::size_t y_batch = 0, y_row = 0;
  const float* rel_k = nullptr;  // (2K+1, key_depth)
  const float* rel_v = nullptr;  // (2K+1, value_depth), or null: no value term
  std::size_t max_distance = 0;  // K
  float scale = 1.0f;
  const std::uint8_t* query_keep = nullptr;  // (batch, query_len), 1 = keep
};

/// Floats of scratch per thread.
constexpr std::size_t relative_attention_thread_floats(std::size_t key_len,
                                                       std::size_t max_distance) noexcept {
  return simd::round_up(std::max<std::size_t>(key_len, 1), 16) +
         2 * simd::round_up(2 * max_distance + 1, 16);
}

/// Every (head, query row) of the call on the pool's threads; `scratch` holds
/// pool.size() · relative_attention_thread_floats(key_len, K) floats.
template <class Arch>
void relative_attention(thread_pool& pool, const relative_attention_args& a, const mask_spec& m,
                        float* scratch) {
  const std::size_t rows = a.batch * a.query_len, buckets = 2 * a.max_distance + 1;
  const std::size_t per_thread = relative_attention_thread_floats(a.key_len, a.max_distance);
  const std::size_t score_floats = simd::round_up(std::max<std::size_t>(a.key_len, 1), 16);
  const auto run = [&](std::size_t first, std::size_t last, std::size_t thread) {
    float* scores = scratch + thread * per_thread;
    float* key_terms = scores + score_floats;
    float* mass = key_terms + simd::round_up(buckets, 16);
    std::size_t item = first;
    while (item < last) {
      const std::size_t h = item / rows, row_begin = item % rows;
      const std::size_t row_end = std::min(rows, row_begin + (last - item));
      row_attention_args r{a.batch,
                           a.query_len,
                           a.key_len,
                           a.value_depth,
                           a.v + h * a.value_depth,
                           a.v_batch,
                           a.v_row,
                           a.y + h * a.value_depth,
                           a.y_batch,
                           a.y_row};
      r.query_keep = a.query_keep;
      const float* q0 = a.q + h * a.key_depth;
      const float* k0 = a.k + h * a.key_depth;
      const auto score_row = [&](std::size_t b, std::size_t i, float* out) {
        const float* q = q0 + b * a.q_batch + i * a.q_row;
        for (std::size_t r2 = 0; r2 < buckets; ++r2)
          key_terms[r2] = dot<Arch>(q, a.rel_k + r2 * a.key_depth, a.key_depth);
        const float* k = k0 + b * a.k_batch;
        for (std::size_t j = 0; j < a.key_len; ++j)
          out[j] = a.scale * (dot<Arch>(q, k + j * a.k_row, a.key_depth) +
                              key_terms[relative_bucket(i, j, a.max_distance)]);
      };
      const auto value_terms = [&](std::size_t, std::size_t i, const float* weights, float inverse,
                                   std::size_t key_end, float* y) {
        if (!a.rel_v) return;
        std::fill_n(mass, buckets, 0.0f);
        for (std::size_t j = 0; j < key_end; ++j)
          mass[relative_bucket(i, j, a.max_distance)] += weights[j];
        using O = simd::ops<Arch>;
        constexpr std::size_t W = O::width;
        const std::size_t vectors = a.value_depth / W;
        for (std::size_t r2 = 0; r2 < buckets; ++r2) {
          if (mass[r2] == 0.0f) continue;
          const float p = mass[r2] * inverse;
          const float* rv = a.rel_v + r2 * a.value_depth;
          for (std::size_t v = 0; v < vectors; ++v)
            O::store(y + v * W, O::fma(O::splat(p), O::load(rv + v * W), O::load(y + v * W)));
          for (std::size_t c = vectors * W; c < a.value_depth; ++c) y[c] += p * rv[c];
        }
      };
      row_attention<Arch>(r, m, score_row, scores, row_begin, row_end, value_terms);
      item += row_end - row_begin;
    }
  };
  const std::size_t items = a.heads * rows;
  if (items == 0) return;
  pool.parallel_for(items, std::max<std::size_t>(1, items / (4 * pool.size())), run);
}

}  // namespace typeformer::kernels
