#pragma once
// Rotary position embedding (Su et al. 2021, RoFormer §3.4): feature pair m of the vector at
// position p turns by the angle p·θ_m, θ_m = base^(−2m/dims), over the first `dims` features
// (all of them by default; GPT-NeoX's rotary_pct takes fewer). Two conventions pair the features:
// `interleaved` turns (2m, 2m+1) (RoFormer, GPT-J), `half_split` turns (m, m + dims/2) (GPT-NeoX,
// LLaMA, Hugging Face's rotate_half).
//
// The angles are computed in double and the cosines and sines rounded once to float. Hugging
// Face multiplies position and frequency in float32, so its angle at position p is off by up to
// about p·2^-24 radians: it differs from these tables (and from the formula) by up to ~1e-4
// relative at p = 2000.

#include <algorithm>
#include <cmath>
#include <cstddef>

#include <typeformer/kernels/attention_layout.hpp>

namespace typeformer::kernels {

/// Which features rotate together.
enum class rotary_pairs { half_split, interleaved };

/// cos and sin of p·θ_m for positions p in [first, first + count) and m < dims/2: row
/// p − first of each table holds dims/2 floats. The angle of each row follows from the last by
/// the addition formulas in double, restarted from std::cos/std::sin every 64 rows, so a table
/// costs a few multiplications per entry and drifts by far less than a float's rounding.
template <class Arch>
void rotary_angles(float* cos_table, float* sin_table, std::size_t first, std::size_t count,
                   std::size_t dims, double base) noexcept {
  const std::size_t pairs = dims / 2;
  for (std::size_t m = 0; m < pairs; ++m) {
    const double theta = std::pow(base, -2.0 * static_cast<double>(m) / static_cast<double>(dims));
    const double step_cos = std::cos(theta), step_sin = std::sin(theta);
    double c = 0.0, s = 0.0;
    for (std::size_t r = 0; r < count; ++r) {
      if (r % 64 == 0) {
        const double angle = static_cast<double>(first + r) * theta;
        c = std::cos(angle), s = std::sin(angle);
      } else {
        const double next_c = c * step_cos - s * step_sin;
        s = s * step_cos + c * step_sin;
        c = next_c;
      }
      cos_table[r * pairs + m] = static_cast<float>(c);
      sin_table[r * pairs + m] = static_cast<float>(s);
    }
  }
}

/// Writes x(b, h, j, ·) rotated for position `first + j` (tables from rotary_angles with that
/// `first`) to out, contiguous (heads, length, width) per batch entry, for the heads in
/// [head_begin, head_end) of each batch entry (pairs of (b, h), numbered b·heads + h). Features
/// past `dims` are copied.
/// A template over the architecture, like every helper a kernel call uses (docs/simd.md).
template <class Arch>
void rotate_heads(const float* x, head_strides s, std::size_t heads, std::size_t len,
                  std::size_t width, std::size_t dims, rotary_pairs pairing, const float* cos_table,
                  const float* sin_table, float* out, std::size_t pair_begin,
                  std::size_t pair_end) noexcept {
  const std::size_t half = dims / 2;
  for (std::size_t pair = pair_begin; pair < pair_end; ++pair) {
    const std::size_t b = pair / heads, h = pair % heads;
    for (std::size_t j = 0; j < len; ++j) {
      const float* in = x + b * s.batch + h * s.head + j * s.row;
      float* o = out + (pair * len + j) * width;
      const float* c = cos_table + j * half;
      const float* sn = sin_table + j * half;
      if (pairing == rotary_pairs::half_split) {
        for (std::size_t m = 0; m < half; ++m) {
          const float x1 = in[m], x2 = in[m + half];
          o[m] = x1 * c[m] - x2 * sn[m];
          o[m + half] = x2 * c[m] + x1 * sn[m];
        }
      } else {
        for (std::size_t m = 0; m < half; ++m) {
          const float x1 = in[2 * m], x2 = in[2 * m + 1];
          o[2 * m] = x1 * c[m] - x2 * sn[m];
          o[2 * m + 1] = x2 * c[m] + x1 * sn[m];
        }
      }
      std::copy(in + dims, in + width, o + dims);
    }
  }
}

/// Rotates, in place, `rows` rows of `heads` heads of `width` features each (head h of row r at
/// x + r·row_stride + h·width), row r at the position of table row r (tables from
/// rotary_angles). Features past `dims` of each head are left as they are.
template <class Arch>
void rotate_rows_in_place(float* x, std::size_t rows, std::size_t row_stride, std::size_t heads,
                          std::size_t width, std::size_t dims, rotary_pairs pairing,
                          const float* cos_table, const float* sin_table) noexcept {
  const std::size_t half = dims / 2;
  for (std::size_t r = 0; r < rows; ++r) {
    const float* c = cos_table + r * half;
    const float* sn = sin_table + r * half;
    for (std::size_t h = 0; h < heads; ++h) {
      float* v = x + r * row_stride + h * width;
      if (pairing == rotary_pairs::half_split) {
        for (std::size_t m = 0; m < half; ++m) {
          const float x1 = v[m], x2 = v[m + half];
          v[m] = x1 * c[m] - x2 * sn[m];
          v[m + half] = x2 * c[m] + x1 * sn[m];
        }
      } else {
        for (std::size_t m = 0; m < half; ++m) {
          const float x1 = v[2 * m], x2 = v[2 * m + 1];
          v[2 * m] = x1 * c[m] - x2 * sn[m];
          v[2 * m + 1] = x2 * c[m] + x1 * sn[m];
        }
      }
    }
  }
}

}  // namespace typeformer::kernels
