#pragma once
// softmax over the last axis of a row-major (rows, width) block, in place: the activation of
// a classifier's output layer (Keras Dense(..., activation="softmax")).

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>

#include <typeformer/kernels/simd.hpp>

namespace typeformer::kernels {

/// y[r, :] = exp(y[r, :] − max) / Σ exp(y[r, :] − max) for each of `rows` rows of `width`
/// values (row stride ld). Subtracting the row's maximum keeps exp from overflowing; a NaN in
/// a row propagates to the whole row.
template <class Arch>
void softmax_rows(float* y, std::size_t rows, std::size_t width, std::size_t ld) noexcept {
  using O = simd::ops<Arch>;
  constexpr std::size_t W = O::width;
  const std::size_t vector_end = width / W * W;
  for (std::size_t r = 0; r < rows; ++r) {
    float* row = y + r * ld;
    float max = -std::numeric_limits<float>::infinity();
    bool nan = false;
    for (std::size_t j = 0; j < width; ++j) {
      max = std::max(max, row[j]);
      nan = nan || std::isnan(row[j]);
    }
    if (nan) {
      std::fill_n(row, width, std::numeric_limits<float>::quiet_NaN());
      continue;
    }
    const auto shift = O::splat(max);
    auto sum_lanes = O::splat(0.0f);
    std::size_t j = 0;
    for (; j < vector_end; j += W) {
      const auto e = O::exp(O::load(row + j) - shift);
      O::store(row + j, e);
      sum_lanes = sum_lanes + e;
    }
    float sum = O::sum(sum_lanes);
    for (; j < width; ++j) sum += (row[j] = std::exp(row[j] - max));
    const float inverse = 1.0f / sum;
    for (j = 0; j < width; ++j) row[j] *= inverse;
  }
}

}  // namespace typeformer::kernels
