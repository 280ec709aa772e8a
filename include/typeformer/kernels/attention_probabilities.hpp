#pragma once
// The opt-in path that materialises attention weights (PyTorch `need_weights`, Keras
// `return_attention_scores`): one row of probabilities at a time, written straight into the
// caller's (batch, heads, Lq, Lk) output, with the same masking as the fused kernel.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>

#include <typeformer/kernels/attention_functions.hpp>
#include <typeformer/kernels/compiled_kernels.hpp>
#include <typeformer/kernels/flash_attention.hpp>

namespace typeformer::kernels {

/// weights(b,h,i,j) = weights[((b*heads + h)*Lq + i)*Lk + j]. Score and mask functions `f`
/// apply as in the fused kernel: the score function to the scaled score, then the mask, then
/// the mask function; a value function does not change the weights. A score function with a
/// query_dot (Shaw's relative keys) is not offered here.
/// Batch entries [batch_begin, batch_end) only, written from `weights` on (entry batch_begin
/// first).
template <class Arch, class F>
void attention_probabilities(const attention_operands& o, const mask_spec& m, float* weights,
                             [[maybe_unused]] const F& f, std::size_t batch_begin,
                             std::size_t batch_end) noexcept {
  static_assert(!F::has_query_dot,
                "attention weights are not offered for a score function with a query_dot");
  using O = simd::ops<Arch>;
  constexpr std::size_t W = O::width;
  constexpr float neg_inf = -std::numeric_limits<float>::infinity();
  const std::size_t key_block = stored_key_block(o.key_capacity);
  for (std::size_t b = batch_begin; b < batch_end; ++b)
    for (std::size_t h = 0; h < o.heads; ++h) {
      const float* kt = o.key_block(b, h);
      for (std::size_t i = 0; i < o.query_len; ++i) {
        float* row = weights + (((b - batch_begin) * o.heads + h) * o.query_len + i) * o.key_len;
        const float* q = o.q + b * o.q_batch + h * o.q_head + i * o.q_row;
        std::fill_n(row, o.key_len, 0.0f);
        for (std::size_t j0 = 0; j0 < o.key_len; j0 += key_block) {
          const std::size_t count = std::min(key_block, o.key_len - j0);
          const std::size_t vector_end = count / W * W;
          for (std::size_t d = 0; d < o.key_dim; ++d) {
            const float qs = q[d] * o.q_scale;
            const auto qd = O::splat(qs);
            const float* k = kt + transposed_key_offset(d, j0, o.key_dim, key_block);
            float* out = row + j0;
            std::size_t j = 0;
            for (; j < vector_end; j += W)
              O::store(out + j, O::fma(qd, O::load(k + j), O::load(out + j)));
            for (; j < count; ++j) out[j] = std::fma(qs, k[j], out[j]);
          }
        }
        const std::ptrdiff_t limit = detail::visible_key_limit<Arch>(o, m, b, i);
        float max = neg_inf;
        bool seen = false;  // apart from `max`, so that a NaN score stays NaN
        for (std::size_t j = 0; j < o.key_len; ++j) {
          if constexpr (F::has_score)
            row[j] = detail::scalar_score_function<F::score>(*f.operands, b, h, f.query_offset + i,
                                                             j, row[j]);
          bool function_hides = false;  // hidden by both: Keras's −1e9 once
          if constexpr (F::has_mask)
            function_hides =
                !detail::scalar_mask_function<F::mask>(*f.operands, b, h, f.query_offset + i, j);
          row[j] = detail::masked_score<Arch>(m, row[j], b, h, i, j, limit, 1.0f, function_hides);
          max = std::max(max, row[j]);
          seen = seen || row[j] != neg_inf;
        }
        if (!seen) {
          const float fill =
              m.policy == fully_masked_rows::nan ? std::numeric_limits<float>::quiet_NaN() : 0.0f;
          std::fill_n(row, o.key_len, fill);
          continue;
        }
        float sum = 0.0f;
        for (std::size_t j = 0; j < o.key_len; ++j) sum += (row[j] = std::exp(row[j] - max));
        for (std::size_t j = 0; j < o.key_len; ++j) row[j] /= sum;
      }
    }
}

template <class Arch, class F = no_attention_functions>
void attention_probabilities(const attention_operands& o, const mask_spec& m, float* weights,
                             const F& f = {}) noexcept {
  attention_probabilities<Arch>(o, m, weights, f, 0, o.batch);
}

}  // namespace typeformer::kernels

// The weights without score or mask functions, compiled once per program when
// TYPEFORMER_COMPILED_KERNELS is 1 (kernels/compiled_kernels.hpp).
#define TYPEFORMER_ATTENTION_PROBABILITIES_INSTANCES(PREFIX, ARCH)                                 \
  PREFIX template void                                                                             \
  typeformer::kernels::attention_probabilities<ARCH, typeformer::kernels::no_attention_functions>( \
      const typeformer::kernels::attention_operands&, const typeformer::kernels::mask_spec&,       \
      float*, const typeformer::kernels::no_attention_functions&, std::size_t,                     \
      std::size_t) noexcept;                                                                       \
  PREFIX template void                                                                             \
  typeformer::kernels::attention_probabilities<ARCH, typeformer::kernels::no_attention_functions>( \
      const typeformer::kernels::attention_operands&, const typeformer::kernels::mask_spec&,       \
      float*, const typeformer::kernels::no_attention_functions&) noexcept;
#if TYPEFORMER_COMPILED_KERNELS
TYPEFORMER_FOR_EACH_KERNEL_ARCH(TYPEFORMER_ATTENTION_PROBABILITIES_INSTANCES, extern)
#endif
