#pragma once
// y = (x − mean) / √(var + ε) · γ + β per row, with the biased variance both PyTorch and Keras
// use, computed in two passes (mean, then squared deviations) so a large mean does not cancel.

#include <cmath>
#include <cstddef>

#include <typeformer/kernels/simd.hpp>

namespace typeformer::kernels {

struct layer_norm_args {
  const float* x;
  std::size_t ldx;
  std::size_t width;
  const float* gamma;  // width values, or null for 1
  const float* beta;   // width values, or null for 0
  float epsilon;
  float* y;  // may equal x
  std::size_t ldy;
  /// If set, the rows normalised are x + residual (a post-norm residual block's sum), formed
  /// in y first so the sum costs no extra pass over memory.
  const float* residual = nullptr;
  std::size_t ld_residual = 0;
};

/// Normalises rows [row_begin, row_end).
template <class Arch>
void layer_norm(const layer_norm_args& a, std::size_t row_begin, std::size_t row_end) noexcept {
  using O = simd::ops<Arch>;
  constexpr std::size_t W = O::width;
  const std::size_t n = a.width, vector_end = n / W * W;
  for (std::size_t r = row_begin; r < row_end; ++r) {
    const float* x = a.x + r * a.ldx;
    float* y = a.y + r * a.ldy;
    if (a.residual) {
      const float* res = a.residual + r * a.ld_residual;
      std::size_t j = 0;
      for (; j < vector_end; j += W) O::store(y + j, O::load(x + j) + O::load(res + j));
      for (; j < n; ++j) y[j] = x[j] + res[j];
      x = y;
    }
    auto vsum = O::splat(0.0f);
    float sum = 0.0f;
    std::size_t j = 0;
    for (; j < vector_end; j += W) vsum = vsum + O::load(x + j);
    for (; j < n; ++j) sum += x[j];
    const float mean = (O::sum(vsum) + sum) / static_cast<float>(n);

    const auto vmean = O::splat(mean);
    auto vsq = O::splat(0.0f);
    float sq = 0.0f;
    for (j = 0; j < vector_end; j += W) {
      const auto d = O::load(x + j) - vmean;
      vsq = O::fma(d, d, vsq);
    }
    for (; j < n; ++j) sq += (x[j] - mean) * (x[j] - mean);
    const float inv = 1.0f / std::sqrt((O::sum(vsq) + sq) / static_cast<float>(n) + a.epsilon);

    const auto vinv = O::splat(inv);
    for (j = 0; j < vector_end; j += W) {
      auto out = (O::load(x + j) - vmean) * vinv;
      if (a.gamma) out = out * O::load(a.gamma + j);
      if (a.beta) out = out + O::load(a.beta + j);
      O::store(y + j, out);
    }
    for (; j < n; ++j) {
      float out = (x[j] - mean) * inv;
      if (a.gamma) out *= a.gamma[j];
      if (a.beta) out += a.beta[j];
      y[j] = out;
    }
  }
}

}  // namespace typeformer::kernels
