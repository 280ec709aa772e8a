#pragma once
// The dot product the attention kernels use where a product is not part of a register tile:
// scores read as given (row attention) and relative-position key terms.

#include <cmath>
#include <cstddef>

#include <typeformer/kernels/simd.hpp>

namespace typeformer::kernels {

/// a · b over n floats.
template <class Arch>
float dot(const float* a, const float* b, std::size_t n) noexcept {
  using O = simd::ops<Arch>;
  constexpr std::size_t W = O::width;
  auto acc = O::splat(0.0f);
  const std::size_t vectors = n / W;
  for (std::size_t v = 0; v < vectors; ++v)
    acc = O::fma(O::load(a + v * W), O::load(b + v * W), acc);
  float sum = O::sum(acc);
  for (std::size_t c = vectors * W; c < n; ++c) sum = std::fma(a[c], b[c], sum);
  return sum;
}

}  // namespace typeformer::kernels
