#pragma once
// y = act((x·W + bias) · scale) + residual over a packed W, with the epilogue fused into the
// store, so the output is written once.

#include <algorithm>
#include <cstddef>
#include <type_traits>

#include <typeformer/kernels/activation.hpp>
#include <typeformer/kernels/packed_bf16_matrix.hpp>
#include <typeformer/kernels/packed_matrix.hpp>
#include <typeformer/kernels/simd.hpp>
#include <typeformer/kernels/thread_pool.hpp>
#include <typeformer/kernels/unroll.hpp>

namespace typeformer::kernels {

/// Rows of x one micro-kernel call keeps in registers: 12 accumulators of one panel.
template <class Arch>
inline constexpr std::size_t gemm_rows = simd::ops<Arch>::width == 1   ? 1
                                         : simd::ops<Arch>::width == 4 ? 3
                                         : simd::ops<Arch>::width == 8 ? 6
                                                                       : 12;

/// Inputs per K block. A panel's block (16·1024 floats, 64 KiB) streams from L2 to the
/// micro-kernel, two loads per 12 FMAs, which L2 sustains; each further K block costs a pass
/// of partial sums through y. Blocks of 384 (the panel kept in L1) measured 10-20% slower on
/// AVX2 at K = 512 and 768: the partial sums of a wide output (96 × 3072) left L2.
inline constexpr std::size_t gemm_k_block = 1024;

/// Rows per row block. Every row block streams all of W's panels once (from L3 for a
/// feed-forward's 9 MiB), so longer blocks read W fewer times; x's rows are read in order
/// within a block and prefetch well. 192 against 96 measured 3-7% faster on AVX2 for the
/// 768 × 3072 feed-forward and equal on the 512 × 512 projections.
inline constexpr std::size_t gemm_row_block = 192;

/// Arguments of one GEMM: `rows` rows of x (row stride ldx) times `w`, into y (row stride ldy).
/// y must not overlap x or the residual: it holds partial sums between K blocks. `Weights` is
/// packed_matrix or packed_bf16_matrix; x, y, the bias and the sums are float32 either way.
template <class Weights>
struct basic_gemm_args {
  const float* x;
  std::size_t ldx;
  std::size_t rows;
  const Weights* w;
  const float* bias;  // w->outputs() values, or null
  float scale;        // applied after the bias, as PyTorch and Keras scale projected queries
  float* y;
  std::size_t ldy;
  activation act = activation::identity;
  const float* residual = nullptr;  // added last, same layout as y (row stride ld_residual)
  std::size_t ld_residual = 0;
};
using gemm_args = basic_gemm_args<packed_matrix>;

template <class Weights>
inline constexpr bool is_bf16_weights = std::is_same_v<Weights, packed_bf16_matrix>;

namespace detail {

/// Panels one micro-kernel call covers: two where a panel is one register (AVX-512), so each
/// broadcast of x feeds two FMAs; one otherwise.
template <class Arch>
inline constexpr std::size_t gemm_panels =
    panel_width / simd::ops<Arch>::width == 1 && simd::ops<Arch>::width > 1 ? 2 : 1;

/// Panels a call of R rows covers: enough that it keeps at least 8 independent accumulator
/// chains, which two FMA pipes of 4 cycles' latency need. One row of one AVX2 panel has only
/// two, and ran at a quarter of peak (24 GFLOP/s): every single-token projection, and every
/// step of an LSTM over one sequence, is such a call.
template <class Arch, std::size_t R>
inline constexpr std::size_t gemm_panels_for_rows = [] {
  constexpr std::size_t registers_per_panel = panel_width / simd::ops<Arch>::width;
  std::size_t p = gemm_panels<Arch>;
  while (p < 8 && R * registers_per_panel * p < 8) p *= 2;
  return p;
}();

/// Which half of a word of packed bfloat16 pairs a load widens.
enum class bf16_half { low, high };

// Fills w with the weights of one input, `offset` elements into each of the P panels. Always
// inlined, as is gemm_multiply: behind a call the accumulators would live in memory.
template <class Arch, std::size_t R, std::size_t P, std::size_t V, bf16_half Half = bf16_half::low,
          class Element>
[[gnu::always_inline]] inline void gemm_load_weights(typename simd::ops<Arch>::batch (&w)[P][V],
                                                     Element* const (&panel)[P],
                                                     std::size_t offset) noexcept {
  using O = simd::ops<Arch>;
  TYPEFORMER_UNROLL_REGISTER_LOOP
  for (std::size_t q = 0; q < P; ++q) {
    TYPEFORMER_UNROLL_REGISTER_LOOP
    for (std::size_t v = 0; v < V; ++v) {
      const Element* p = panel[q] + offset + v * O::width;
      if constexpr (std::is_same_v<Element, const float>)
        w[q][v] = O::load(p);
      else if constexpr (Half == bf16_half::low)
        w[q][v] = O::widen_bf16_low(p);
      else  // loaded again: kept from the low half's load, the word would cost a register
        w[q][v] = O::widen_bf16_high(simd::opaque(p));
      // One row uses each weight once: folded into its FMA, it needs no register.
      if constexpr (R > 1) O::keep_in_register(w[q][v]);
    }
  }
}

// acc[r] += x[r · ldx + k] · w for each of the R rows: input k's contribution.
template <class Arch, std::size_t R, std::size_t P, std::size_t V>
[[gnu::always_inline]] inline void gemm_multiply(typename simd::ops<Arch>::batch (&acc)[R][P][V],
                                                 const typename simd::ops<Arch>::batch (&w)[P][V],
                                                 const float* x, std::size_t ldx,
                                                 std::size_t k) noexcept {
  using O = simd::ops<Arch>;
  TYPEFORMER_UNROLL_REGISTER_LOOP
  for (std::size_t r = 0; r < R; ++r) {
    const auto xr = O::splat(x[r * ldx + k]);
    TYPEFORMER_UNROLL_REGISTER_LOOP
    for (std::size_t q = 0; q < P; ++q) {
      TYPEFORMER_UNROLL_REGISTER_LOOP
      for (std::size_t v = 0; v < V; ++v) acc[r][q][v] = O::fma(xr, w[q][v], acc[r][q][v]);
    }
  }
}

// R rows × P panels over inputs [k0, k1). The accumulators live in registers; x is broadcast
// one value at a time. The first K block starts from zero, later ones from the partial sums
// in y; the last one applies the epilogue.
template <class Arch, std::size_t R, std::size_t P, class Weights>
void gemm_block(const basic_gemm_args<Weights>& a, std::size_t row0, std::size_t p0, std::size_t k0,
                std::size_t k1) noexcept {
  using O = simd::ops<Arch>;
  using batch = typename O::batch;
  constexpr std::size_t W = O::width;
  constexpr std::size_t V = panel_width / W;
  const std::size_t inputs = a.w->inputs();
  const float* x = a.x + row0 * a.ldx;
  decltype(a.w->panel_row(0, 0)) panel[P];  // each panel's row k0
  std::size_t cols[P];
  TYPEFORMER_UNROLL_REGISTER_LOOP
  for (std::size_t q = 0; q < P; ++q) {
    panel[q] = a.w->panel_row(p0 + q, k0);
    cols[q] = std::min(panel_width, a.w->outputs() - (p0 + q) * panel_width);
  }
  auto y_at = [&](std::size_t r, std::size_t q) {
    return a.y + (row0 + r) * a.ldy + (p0 + q) * panel_width;
  };

  // Whole panels move between registers and y directly; only a narrower last panel goes
  // through a buffer (whose small copies cost as much as a K block's tail on AMD: rep movs).
  batch acc[R][P][V];
  TYPEFORMER_UNROLL_REGISTER_LOOP
  for (std::size_t r = 0; r < R; ++r) {
    TYPEFORMER_UNROLL_REGISTER_LOOP
    for (std::size_t q = 0; q < P; ++q) {
      if (k0 == 0) {
        TYPEFORMER_UNROLL_REGISTER_LOOP
        for (std::size_t v = 0; v < V; ++v) acc[r][q][v] = O::splat(0.0f);
      } else if (cols[q] == panel_width) {
        TYPEFORMER_UNROLL_REGISTER_LOOP
        for (std::size_t v = 0; v < V; ++v) acc[r][q][v] = O::load(y_at(r, q) + v * W);
      } else {
        alignas(64) float partial[panel_width] = {};
        for (std::size_t c = 0; c < cols[q]; ++c) partial[c] = y_at(r, q)[c];
        TYPEFORMER_UNROLL_REGISTER_LOOP
        for (std::size_t v = 0; v < V; ++v) acc[r][q][v] = O::load(partial + v * W);
      }
    }
  }
  if constexpr (is_bf16_weights<Weights>) {
    // Word rows hold inputs k (low halves) and k + 1 (high halves); k0 is even.
    std::size_t k = k0;
    for (; k + 1 < k1; k += 2) {
      batch w[P][V];
      const std::size_t row = (k - k0) / 2 * panel_width;
      gemm_load_weights<Arch, R, P, V, bf16_half::low>(w, panel, row);
      gemm_multiply<Arch, R, P, V>(acc, w, x, a.ldx, k);
      gemm_load_weights<Arch, R, P, V, bf16_half::high>(w, panel, row);
      gemm_multiply<Arch, R, P, V>(acc, w, x, a.ldx, k + 1);
    }
    if (k < k1) {
      batch w[P][V];
      gemm_load_weights<Arch, R, P, V, bf16_half::low>(w, panel, (k - k0) / 2 * panel_width);
      gemm_multiply<Arch, R, P, V>(acc, w, x, a.ldx, k);
    }
  } else {
    // Two inputs per iteration halve the loop's bookkeeping per FMA. GCC 12 leaves this loop
    // rolled; unrolled, the GEMM measured 6-10% faster on the projection and feed-forward shapes
    // (GCC, one thread, interleaved A/B); with Clang, level.
#pragma GCC unroll 2
    for (std::size_t k = k0; k < k1; ++k) {
      batch w[P][V];
      gemm_load_weights<Arch, R, P, V>(w, panel, (k - k0) * panel_width);
      gemm_multiply<Arch, R, P, V>(acc, w, x, a.ldx, k);
    }
  }

  const bool last = k1 == inputs;
  const batch scale = O::splat(a.scale);
  TYPEFORMER_UNROLL_REGISTER_LOOP
  for (std::size_t q = 0; q < P; ++q) {
    const std::size_t col0 = (p0 + q) * panel_width;
    const bool whole = cols[q] == panel_width;
    alignas(64) float bias_tail[panel_width] = {};
    if (last && a.bias && !whole)
      for (std::size_t c = 0; c < cols[q]; ++c) bias_tail[c] = a.bias[col0 + c];
    const float* bias = !a.bias ? nullptr : whole ? a.bias + col0 : bias_tail;
    TYPEFORMER_UNROLL_REGISTER_LOOP
    for (std::size_t r = 0; r < R; ++r) {
      float* y = y_at(r, q);
      const float* res =
          last && a.residual ? a.residual + (row0 + r) * a.ld_residual + col0 : nullptr;
      alignas(64) float out[panel_width];
      TYPEFORMER_UNROLL_REGISTER_LOOP
      for (std::size_t v = 0; v < V; ++v) {
        batch value = acc[r][q][v];
        if (last) {
          if (bias) value = value + O::load(bias + v * W);
          value = value * scale;
          if (a.act != activation::identity) value = kernels::activate<Arch>(a.act, value);
          if (res && whole) value = value + O::load(res + v * W);
        }
        O::store(whole ? y + v * W : out + v * W, value);
      }
      if (!whole)
        for (std::size_t c = 0; c < cols[q]; ++c) y[c] = res ? out[c] + res[c] : out[c];
    }
  }
}

// R rows from `row` × panels [p, panel_end) over inputs [k0, k1): calls of P panels, then of
// half as many for what is left.
template <class Arch, std::size_t R, std::size_t P, class Weights>
void gemm_panel_sweep(const basic_gemm_args<Weights>& a, std::size_t row, std::size_t p,
                      std::size_t panel_end, std::size_t k0, std::size_t k1) noexcept {
  for (; p + P <= panel_end; p += P) gemm_block<Arch, R, P>(a, row, p, k0, k1);
  if constexpr (P > 1)
    if (p < panel_end) gemm_panel_sweep<Arch, R, P / 2>(a, row, p, panel_end, k0, k1);
}

// Rows [row_begin, row_end) × panels [panel_begin, panel_end) over inputs [k0, k1): full
// micro-kernels, panel group by panel group, then the leftover rows in blocks of 4, 2 and 1,
// each with panels enough to keep the FMA pipes busy.
template <class Arch, class Weights>
void gemm_rows_of(const basic_gemm_args<Weights>& a, std::size_t row_begin, std::size_t row_end,
                  std::size_t panel_begin, std::size_t panel_end, std::size_t k0,
                  std::size_t k1) noexcept {
  constexpr std::size_t R = gemm_rows<Arch>, P = gemm_panels<Arch>;
  const std::size_t full_end = row_begin + (row_end - row_begin) / R * R;
  for (std::size_t p = panel_begin; p < panel_end; p += P) {
    const std::size_t group_end = std::min(panel_end, p + P);
    for (std::size_t r = row_begin; r < full_end; r += R)
      gemm_panel_sweep<Arch, R, P>(a, r, p, group_end, k0, k1);
  }
  std::size_t r = full_end;
  const auto tail = [&]<std::size_t T>() {
    for (; r + T <= row_end; r += T)
      gemm_panel_sweep<Arch, T, gemm_panels_for_rows<Arch, T>>(a, r, panel_begin, panel_end, k0,
                                                               k1);
  };
  if constexpr (R > 4) tail.template operator()<4>();
  if constexpr (R > 2) tail.template operator()<2>();
  tail.template operator()<1>();
}

/// Inputs per block of bfloat16 panels widened to float32 at a time: 16 KiB per panel, on the
/// stack of whichever thread runs the GEMM.
inline constexpr std::size_t gemm_widened_k_block = 256;

/// Rows of a row block from which its bfloat16 panels are widened once, into a buffer, for the
/// float32 micro-kernel, rather than in every micro-kernel call. Widening in the call costs a
/// shift or a mask per weight register and, on AVX2, a register the 6 × 16 kernel has not got:
/// 1024 × 768 × 768 ran at 0.76-0.82 of the float32 weights' speed.
template <class Arch>
inline constexpr std::size_t gemm_widen_rows = 4 * gemm_rows<Arch>;

/// Panels [first, first + count) of a bfloat16 matrix over inputs [k0, k1), widened to float32
/// in a buffer of count · (k1 − k0) · 16 floats: what the float32 micro-kernel reads.
class widened_panels {
 public:
  widened_panels(const packed_bf16_matrix& m, std::size_t first, std::size_t k0, std::size_t k1,
                 float* buffer) noexcept
      : m_(&m), first_(first), k0_(k0), length_(k1 - k0), buffer_(buffer) {}

  std::size_t inputs() const noexcept { return m_->inputs(); }
  std::size_t outputs() const noexcept { return m_->outputs(); }
  const float* panel_row(std::size_t p, std::size_t k) const noexcept {
    return buffer_ + ((p - first_) * length_ + (k - k0_)) * panel_width;
  }

  /// Fills the buffer for `count` panels (k0 even).
  template <class Arch>
  void widen(std::size_t count) noexcept {
    using O = simd::ops<Arch>;
    for (std::size_t c = 0; c < count; ++c) {
      float* out = buffer_ + c * length_ * panel_width;
      const std::uint32_t* words = m_->panel_row(first_ + c, k0_);
      for (std::size_t i = 0; i < length_; i += 2, words += panel_width) {
        for (std::size_t v = 0; v < panel_width; v += O::width) {
          O::store(out + i * panel_width + v, O::widen_bf16_low(words + v));
          if (i + 1 < length_)
            O::store(out + (i + 1) * panel_width + v, O::widen_bf16_high(words + v));
        }
      }
    }
  }

 private:
  const packed_bf16_matrix* m_;
  std::size_t first_, k0_, length_;
  float* buffer_;
};

// Rows [row_begin, row_end) × panels [panel_begin, panel_end) over inputs [k0, k1) of a bfloat16
// matrix: each group of panels widened a block of inputs at a time, then every row through the
// float32 micro-kernels. The sums run over k in the same order, through y between blocks (exact
// in float32), so the results are the same bits as those of the widening micro-kernels.
template <class Arch>
void gemm_widened(const basic_gemm_args<packed_bf16_matrix>& a, std::size_t row_begin,
                  std::size_t row_end, std::size_t panel_begin, std::size_t panel_end,
                  std::size_t k0, std::size_t k1) noexcept {
  constexpr std::size_t P = gemm_panels<Arch>;
  alignas(64) float buffer[P * gemm_widened_k_block * panel_width];
  for (std::size_t p = panel_begin; p < panel_end; p += P) {
    const std::size_t count = std::min(P, panel_end - p);
    for (std::size_t kb = k0; kb < k1; kb += gemm_widened_k_block) {
      const std::size_t kb1 = std::min(k1, kb + gemm_widened_k_block);
      widened_panels panels(*a.w, p, kb, kb1, buffer);
      panels.template widen<Arch>(count);
      const basic_gemm_args<widened_panels> widened{a.x,    a.ldx,      a.rows,       &panels,
                                                    a.bias, a.scale,    a.y,          a.ldy,
                                                    a.act,  a.residual, a.ld_residual};
      gemm_rows_of<Arch>(widened, row_begin, row_end, p, p + count, kb, kb1);
    }
  }
}

}  // namespace detail

/// Computes rows [row_begin, row_end) × panels [panel_begin, panel_end) of y. Row blocks outer,
/// then K blocks, then panel pairs: one block of packed panels stays in L1 while the rows of
/// the row block stream past it from L2, and the block's partial sums never leave L2 (with K
/// blocks outer they went to memory and back for every row of a long input: 10-15% on AVX2).
/// Disjoint ranges may run on different threads; each element's sum runs over k in the same
/// order whatever the split, so results do not depend on the thread count.
template <class Arch, class Weights = packed_matrix>
void gemm(const basic_gemm_args<Weights>& a, std::size_t row_begin, std::size_t row_end,
          std::size_t panel_begin, std::size_t panel_end) noexcept {
  const std::size_t inputs = a.w->inputs();
  // Equal K blocks of at most gemm_k_block: a short last block (1152 = 1024 + 128) would pay
  // the loads and stores of the partial sums for an eighth of the work.
  const std::size_t k_blocks = std::max<std::size_t>(1, (inputs + gemm_k_block - 1) / gemm_k_block);
  // bfloat16 weights come in pairs of inputs, so their K blocks start at even inputs.
  constexpr std::size_t k_step = is_bf16_weights<Weights> ? 2 : 1;
  const std::size_t k_block =
      simd::round_up(std::max<std::size_t>(1, (inputs + k_blocks - 1) / k_blocks), k_step);
  for (std::size_t r0 = row_begin; r0 < row_end; r0 += gemm_row_block) {
    const std::size_t r1 = std::min(row_end, r0 + gemm_row_block);
    for (std::size_t k0 = 0; k0 < std::max<std::size_t>(inputs, 1); k0 += k_block) {
      const std::size_t k1 = std::min(inputs, k0 + k_block);
      if constexpr (is_bf16_weights<Weights>) {
        // (No inputs: nothing to widen, and the micro-kernels still write the epilogue.)
        if (r1 - r0 >= detail::gemm_widen_rows<Arch> && k1 > k0) {
          detail::gemm_widened<Arch>(a, r0, r1, panel_begin, panel_end, k0, k1);
          continue;
        }
      }
      detail::gemm_rows_of<Arch>(a, r0, r1, panel_begin, panel_end, k0, k1);
    }
  }
}

template <class Arch, class Weights = packed_matrix>
void gemm(const basic_gemm_args<Weights>& a) noexcept {
  gemm<Arch>(a, 0, a.rows, 0, a.w->panels());
}

/// The whole product on every participant of `pool`: split by row blocks when there are
/// enough of them, otherwise by panels (few rows, as in single-token decoding).
template <class Arch, class Weights = packed_matrix>
void gemm(thread_pool& pool, const basic_gemm_args<Weights>& a) noexcept {
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
