#pragma once
// y = act((x·W + bias) · scale) + residual over a packed W, with the epilogue fused into the
// store, so the output is written once.

#include <algorithm>
#include <cstddef>

#include <typeformer/kernels/activation.hpp>
#include <typeformer/kernels/packed_matrix.hpp>
#include <typeformer/kernels/simd.hpp>
#include <typeformer/kernels/thread_pool.hpp>

namespace typeformer::kernels {

/// Rows of x one micro-kernel call keeps in registers: 12 accumulators of one panel.
template <class Arch>
inline constexpr std::size_t gemm_rows = simd::ops<Arch>::width == 1   ? 1
                                         : simd::ops<Arch>::width == 4 ? 3
                                         : simd::ops<Arch>::width == 8 ? 6
                                                                       : 12;

/// Arguments of one GEMM: `rows` rows of x (row stride ldx) times `w`, into y (row stride ldy).
struct gemm_args {
  const float* x;
  std::size_t ldx;
  std::size_t rows;
  const packed_matrix* w;
  const float* bias;  // w->outputs() values, or null
  float scale;        // applied after the bias, as PyTorch and Keras scale projected queries
  float* y;
  std::size_t ldy;
  activation act = activation::identity;
  const float* residual = nullptr;  // added last, same layout as y (row stride ld_residual)
  std::size_t ld_residual = 0;
};

namespace detail {

// R rows × one panel. The accumulators live in registers; x is broadcast one value at a time.
template <class Arch, std::size_t R>
void gemm_block(const gemm_args& a, std::size_t row0, std::size_t p) noexcept {
  using O = simd::ops<Arch>;
  using batch = typename O::batch;
  constexpr std::size_t V = panel_width / O::width;
  const std::size_t inputs = a.w->inputs();
  const float* panel = a.w->panel(p);
  const float* x = a.x + row0 * a.ldx;

  batch acc[R][V];
  for (std::size_t r = 0; r < R; ++r)
    for (std::size_t v = 0; v < V; ++v) acc[r][v] = O::splat(0.0f);
  for (std::size_t k = 0; k < inputs; ++k) {
    batch w[V];
    for (std::size_t v = 0; v < V; ++v) w[v] = O::load(panel + k * panel_width + v * O::width);
    for (std::size_t r = 0; r < R; ++r) {
      const batch xr = O::splat(x[r * a.ldx + k]);
      for (std::size_t v = 0; v < V; ++v) acc[r][v] = O::fma(xr, w[v], acc[r][v]);
    }
  }

  const std::size_t col0 = p * panel_width;
  const std::size_t cols = std::min(panel_width, a.w->outputs() - col0);
  alignas(64) float bias[panel_width] = {};
  if (a.bias) std::copy_n(a.bias + col0, cols, bias);
  const batch scale = O::splat(a.scale);
  auto finish = [&](std::size_t r, std::size_t v) {
    return kernels::activate<Arch>(a.act, (acc[r][v] + O::load(bias + v * O::width)) * scale);
  };
  for (std::size_t r = 0; r < R; ++r) {
    float* y = a.y + (row0 + r) * a.ldy + col0;
    const float* res = a.residual ? a.residual + (row0 + r) * a.ld_residual + col0 : nullptr;
    if (cols == panel_width) {
      for (std::size_t v = 0; v < V; ++v) {
        batch out = finish(r, v);
        if (res) out = out + O::load(res + v * O::width);
        O::store(y + v * O::width, out);
      }
    } else {
      alignas(64) float tail[panel_width];
      for (std::size_t v = 0; v < V; ++v) O::store(tail + v * O::width, finish(r, v));
      for (std::size_t c = 0; c < cols; ++c) y[c] = res ? tail[c] + res[c] : tail[c];
    }
  }
}

}  // namespace detail

/// Computes rows [row_begin, row_end) × panels [panel_begin, panel_end) of y. Panel-outer
/// order: one packed panel stays in L1 while the rows stream past it. Disjoint ranges may run
/// on different threads.
template <class Arch>
void gemm(const gemm_args& a, std::size_t row_begin, std::size_t row_end, std::size_t panel_begin,
          std::size_t panel_end) noexcept {
  constexpr std::size_t R = gemm_rows<Arch>;
  for (std::size_t p = panel_begin; p < panel_end; ++p) {
    std::size_t r = row_begin;
    for (; r + R <= row_end; r += R) detail::gemm_block<Arch, R>(a, r, p);
    for (; r < row_end; ++r) detail::gemm_block<Arch, 1>(a, r, p);
  }
}

template <class Arch>
void gemm(const gemm_args& a) noexcept {
  gemm<Arch>(a, 0, a.rows, 0, a.w->panels());
}

/// The whole product on every participant of `pool`: split by row blocks when there are
/// enough of them, otherwise by panels (few rows, as in single-token decoding).
template <class Arch>
void gemm(thread_pool& pool, const gemm_args& a) noexcept {
  constexpr std::size_t R = gemm_rows<Arch>;
  const std::size_t blocks = (a.rows + R - 1) / R, panels = a.w->panels();
  const std::size_t threads = pool.size();
  if (threads == 1) return gemm<Arch>(a);
  if (blocks >= 2 * threads) {
    pool.parallel_for(blocks, std::max<std::size_t>(1, blocks / (4 * threads)),
                      [&](std::size_t b, std::size_t e, std::size_t) {
                        gemm<Arch>(a, b * R, std::min(a.rows, e * R), 0, panels);
                      });
  } else {
    pool.parallel_for(
        panels, std::max<std::size_t>(1, panels / (4 * threads)),
        [&](std::size_t b, std::size_t e, std::size_t) { gemm<Arch>(a, 0, a.rows, b, e); });
  }
}

}  // namespace typeformer::kernels
