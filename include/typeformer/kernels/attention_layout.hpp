#pragma once
// The per-head layouts the attention kernels read, and the copies that produce them from
// projection outputs. Keys are stored transposed (key_dim rows of keys) so that scores for a
// tile of keys are broadcast-FMAs over contiguous keys, with no horizontal sums.

#include <algorithm>
#include <cstddef>

#include <typeformer/kernels/simd.hpp>

namespace typeformer::kernels {

/// Keys per tile in the attention kernel's inner loop, at most; the transposed-key row stride
/// is a multiple of it so that every instruction set's tile divides it.
inline constexpr std::size_t attention_key_stride_multiple = 32;
/// The padded per-head value row, a multiple of every SIMD width.
inline constexpr std::size_t attention_value_stride_multiple = 16;

/// Shapes and pointers of one attention call over projected, per-head data.
struct attention_operands {
  std::size_t batch = 0, heads = 0, query_len = 0, key_len = 0, key_dim = 0, value_dim = 0;
  const float* q = nullptr;  // q(b,i,h,d) = q[(b*Lq + i)*q_stride + h*key_dim + d], pre-scaled
  std::size_t q_stride = 0;
  const float* kt =
      nullptr;  // block (b,h) at kt + (b*heads + h)*key_dim*kt_stride; (d, j) at d*kt_stride + j
  std::size_t kt_stride = 0;
  const float* v =
      nullptr;  // block (b,h) at v + (b*heads + h)*key_len*v_stride; (j, c) at j*v_stride + c
  std::size_t v_stride = 0;
  float* out = nullptr;  // out(b,i,h,c) = out[(b*Lq + i)*out_stride + h*value_dim + c]
  std::size_t out_stride = 0;

  static std::size_t kt_stride_for(std::size_t key_len) noexcept {
    return simd::round_up(std::max<std::size_t>(key_len, 1), attention_key_stride_multiple);
  }
  static std::size_t v_stride_for(std::size_t value_dim) noexcept {
    return simd::round_up(std::max<std::size_t>(value_dim, 1), attention_value_stride_multiple);
  }
};

/// Transposes projected keys, rows (b, j) × columns (h, d) with row stride `ld`, into the
/// per-head transposed blocks of `kt` (padding keys stay zero).
inline void scatter_keys_transposed(const float* k, std::size_t ld, std::size_t batch,
                                    std::size_t heads, std::size_t key_len, std::size_t key_dim,
                                    float* kt, std::size_t kt_stride) noexcept {
  for (std::size_t b = 0; b < batch; ++b)
    for (std::size_t h = 0; h < heads; ++h) {
      float* block = kt + (b * heads + h) * key_dim * kt_stride;
      for (std::size_t j = 0; j < key_len; ++j) {
        const float* row = k + (b * key_len + j) * ld + h * key_dim;
        for (std::size_t d = 0; d < key_dim; ++d) block[d * kt_stride + j] = row[d];
      }
    }
}

/// Copies projected values, rows (b, j) × columns (h, c), into per-head padded blocks.
inline void scatter_values(const float* v, std::size_t ld, std::size_t batch, std::size_t heads,
                           std::size_t key_len, std::size_t value_dim, float* out,
                           std::size_t v_stride) noexcept {
  for (std::size_t b = 0; b < batch; ++b)
    for (std::size_t h = 0; h < heads; ++h) {
      float* block = out + (b * heads + h) * key_len * v_stride;
      for (std::size_t j = 0; j < key_len; ++j)
        std::copy_n(v + (b * key_len + j) * ld + h * value_dim, value_dim, block + j * v_stride);
    }
}

}  // namespace typeformer::kernels
