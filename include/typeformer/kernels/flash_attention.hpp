#pragma once
// softmax(q·kᵀ + mask)·v as one tiled loop with an online softmax: a tile of query rows meets
// a tile of keys at a time, and a running (max, sum, accumulator) per row replaces the
// S×S score matrix. Nothing is allocated; the caller passes a small per-thread scratch.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>

#include <typeformer/kernels/attention_layout.hpp>
#include <typeformer/kernels/attention_mask.hpp>
#include <typeformer/kernels/simd.hpp>

namespace typeformer::kernels {

/// Query rows one task handles together (each loaded key tile serves all of them).
inline constexpr std::size_t attention_query_tile = 4;

/// Keys per inner tile: two SIMD registers (8 for the scalar path).
template <class Arch>
inline constexpr std::size_t attention_key_tile =
    simd::ops<Arch>::width == 1 ? 8 : 2 * simd::ops<Arch>::width;

/// Floats of scratch one thread needs: the query tile's value accumulators.
constexpr std::size_t attention_scratch_floats(std::size_t value_dim) noexcept {
  return attention_query_tile * attention_operands::v_stride_for(value_dim);
}

/// Tasks of one call: (batch, head, query tile) triples; threads take disjoint ranges.
inline std::size_t attention_task_count(const attention_operands& o) noexcept {
  return o.batch * o.heads * ((o.query_len + attention_query_tile - 1) / attention_query_tile);
}

namespace detail {

// Helpers are templates over the architecture like the kernels, so that translation units
// built with different instruction sets never share one inline copy (docs/simd.md).

/// Keys [0, limit) may be visible from query row i of batch b (causal, lengths and attending
/// query parts).
template <class Arch>
std::ptrdiff_t visible_key_limit(const attention_operands& o, const mask_spec& m, std::size_t b,
                                 std::size_t i) noexcept {
  if (m.attending_queries &&
      m.attending_queries[static_cast<std::ptrdiff_t>(b) * m.attending_queries_batch +
                          static_cast<std::ptrdiff_t>(i)] == 0)
    return 0;
  auto limit = static_cast<std::ptrdiff_t>(o.key_len);
  const auto row = static_cast<std::ptrdiff_t>(i);
  if (m.causal == causal_alignment::top_left) limit = std::min(limit, row + 1);
  if (m.causal == causal_alignment::bottom_right)
    limit = std::min(limit, row + 1 + static_cast<std::ptrdiff_t>(o.key_len) -
                                static_cast<std::ptrdiff_t>(o.query_len));
  if (m.key_lengths) limit = std::min(limit, static_cast<std::ptrdiff_t>(m.key_lengths[b]));
  return std::max<std::ptrdiff_t>(limit, 0);
}

/// The score of key `key` for row i after the bias and the visibility parts of the mask.
template <class Arch>
float masked_score(const mask_spec& m, float score, std::size_t b, std::size_t h, std::size_t i,
                   std::size_t key, std::ptrdiff_t limit) noexcept {
  if (m.bias) score += m.bias[b * m.bias_batch + h * m.bias_head + i * m.bias_query + key];
  const bool hidden =
      static_cast<std::ptrdiff_t>(key) >= limit ||
      (m.keep && (m.keep[b * m.keep_batch + i * m.keep_query + key] != 0) == m.keep_means_masked);
  if (!hidden) return score;
  // Keras adds -1e9 in float32 rather than removing the key; reproduce it bit for bit.
  return m.policy == fully_masked_rows::minus_1e9_added ? score + -1e9f
                                                        : -std::numeric_limits<float>::infinity();
}

}  // namespace detail

/// Runs tasks [task_begin, task_end) of `attention_task_count(o)`.
template <class Arch>
void flash_attention(const attention_operands& o, const mask_spec& m, float* scratch,
                     std::size_t task_begin, std::size_t task_end) noexcept {
  using O = simd::ops<Arch>;
  using batch = typename O::batch;
  constexpr std::size_t W = O::width;
  constexpr std::size_t R = attention_query_tile;
  constexpr std::size_t T = attention_key_tile<Arch>;
  constexpr std::size_t NV = T / W;
  static_assert(attention_key_stride_multiple % T == 0 && attention_value_stride_multiple % W == 0,
                "a key tile must divide the padded key stride and a register the value stride");
  constexpr float neg_inf = -std::numeric_limits<float>::infinity();
  const bool may_skip = m.policy != fully_masked_rows::minus_1e9_added;
  const std::size_t tiles = (o.query_len + R - 1) / R;
  const std::size_t vs = o.v_stride;

  for (std::size_t task = task_begin; task < task_end; ++task) {
    const std::size_t tile = task % tiles;
    const std::size_t h = (task / tiles) % o.heads;
    const std::size_t b = task / (tiles * o.heads);
    const std::size_t i0 = tile * R;
    const std::size_t rows = std::min(R, o.query_len - i0);
    const float* kt = o.kt + (b * o.heads + h) * o.key_dim * o.kt_stride;
    const float* v = o.v + (b * o.heads + h) * (o.v_block ? o.v_block : o.key_len * vs);

    // Rows past the end of the query repeat its last row; their results are not stored.
    const float* q[R];
    std::ptrdiff_t limit[R];
    std::ptrdiff_t max_limit = 0, min_limit = static_cast<std::ptrdiff_t>(o.key_len);
    for (std::size_t r = 0; r < R; ++r) {
      const std::size_t i = i0 + std::min(r, rows - 1);
      q[r] = o.q + b * o.q_batch + h * o.q_head + i * o.q_row;
      limit[r] = detail::visible_key_limit<Arch>(o, m, b, i);
      max_limit = std::max(max_limit, limit[r]);
      min_limit = std::min(min_limit, limit[r]);
    }
    const std::size_t key_end = may_skip ? static_cast<std::size_t>(max_limit) : o.key_len;

    // `seen`: some key of the row is not masked. Kept apart from the running maximum so that a
    // NaN score propagates as NaN instead of passing for a fully masked row.
    float row_max[R], row_sum[R];
    bool seen[R];
    float* acc = scratch;
    for (std::size_t r = 0; r < R; ++r) {
      row_max[r] = neg_inf;
      row_sum[r] = 0.0f;
      seen[r] = false;
    }
    std::fill_n(acc, R * vs, 0.0f);

    for (std::size_t j0 = 0; j0 < key_end; j0 += T) {
      const std::size_t count = std::min(T, o.key_len - j0);

      // Scores for R rows × T keys, in registers.
      batch s[R][NV];
      for (std::size_t r = 0; r < R; ++r)
        for (std::size_t n = 0; n < NV; ++n) s[r][n] = O::splat(0.0f);
      for (std::size_t d = 0; d < o.key_dim; ++d) {
        batch k[NV];
        for (std::size_t n = 0; n < NV; ++n) k[n] = O::load(kt + d * o.kt_stride + j0 + n * W);
        for (std::size_t r = 0; r < R; ++r) {
          const batch qd = O::splat(q[r][d] * o.q_scale);
          for (std::size_t n = 0; n < NV; ++n) s[r][n] = O::fma(qd, k[n], s[r][n]);
        }
      }
      alignas(64) float p[R][T];
      for (std::size_t r = 0; r < R; ++r)
        for (std::size_t n = 0; n < NV; ++n) O::store(p[r] + n * W, s[r][n]);

      // Masks, element by element only where a tile needs it.
      const bool whole_tile_visible =
          count == T && !m.keep && !m.bias && static_cast<std::ptrdiff_t>(j0 + T) <= min_limit;
      if (whole_tile_visible) {
        for (std::size_t r = 0; r < R; ++r) seen[r] = true;
      } else {
        for (std::size_t r = 0; r < R; ++r) {
          const std::size_t i = i0 + std::min(r, rows - 1);
          for (std::size_t j = 0; j < T; ++j) {
            const std::size_t key = j0 + j;
            if (j >= count) {
              p[r][j] = neg_inf;
              continue;
            }
            p[r][j] = detail::masked_score<Arch>(m, p[r][j], b, h, i, key, limit[r]);
            seen[r] = seen[r] || p[r][j] != neg_inf;
          }
        }
      }

      // Online softmax: rescale what was accumulated when a row's maximum grows.
      float correction[R];
      for (std::size_t r = 0; r < R; ++r) {
        batch tile_max = O::load(p[r]);
        for (std::size_t n = 1; n < NV; ++n) tile_max = O::max(tile_max, O::load(p[r] + n * W));
        const float new_max = std::max(row_max[r], O::max_of(tile_max));
        if (new_max == neg_inf) {  // nothing visible yet in this row
          correction[r] = 1.0f;
          std::fill_n(p[r], T, 0.0f);
          continue;
        }
        correction[r] = std::exp(row_max[r] - new_max);
        row_max[r] = new_max;
        batch sum = O::splat(0.0f);
        const batch shift = O::splat(new_max);
        for (std::size_t n = 0; n < NV; ++n) {
          const batch e = O::exp(O::load(p[r] + n * W) - shift);
          O::store(p[r] + n * W, e);
          sum = sum + e;
        }
        row_sum[r] = row_sum[r] * correction[r] + O::sum(sum);
      }

      // acc = acc·correction + p·v, one register-width column chunk at a time.
      for (std::size_t c = 0; c < vs; c += W) {
        batch a[R];
        for (std::size_t r = 0; r < R; ++r)
          a[r] = O::load(acc + r * vs + c) * O::splat(correction[r]);
        for (std::size_t j = 0; j < count; ++j) {
          const batch vj = O::load(v + (j0 + j) * vs + c);
          for (std::size_t r = 0; r < R; ++r) a[r] = O::fma(O::splat(p[r][j]), vj, a[r]);
        }
        for (std::size_t r = 0; r < R; ++r) O::store(acc + r * vs + c, a[r]);
      }
    }

    for (std::size_t r = 0; r < rows; ++r) {
      float* out = o.out + b * o.out_batch + h * o.out_head + (i0 + r) * o.out_row;
      if (seen[r]) {
        // A NaN score makes the sum NaN (or leaves it 0 when the maximum skipped it): both
        // give NaN here, as the frameworks do.
        for (std::size_t c = 0; c < o.value_dim; ++c) out[c] = acc[r * vs + c] / row_sum[r];
      } else {
        const float fill =
            m.policy == fully_masked_rows::nan ? std::numeric_limits<float>::quiet_NaN() : 0.0f;
        std::fill_n(out, o.value_dim, fill);
      }
    }
  }
}

template <class Arch>
void flash_attention(const attention_operands& o, const mask_spec& m, float* scratch) noexcept {
  flash_attention<Arch>(o, m, scratch, 0, attention_task_count(o));
}

}  // namespace typeformer::kernels
