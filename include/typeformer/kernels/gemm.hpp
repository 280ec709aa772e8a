#pragma once
// y = act((x·W + bias) · scale) + residual over a packed W, with the epilogue fused into the
// store, so the output is written once.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <typeformer/kernels/activation.hpp>
#include <typeformer/kernels/bf16_dot_product.hpp>
#include <typeformer/kernels/compiled_kernels.hpp>
#include <typeformer/kernels/packed_bf16_matrix.hpp>
#include <typeformer/kernels/packed_matrix.hpp>
#include <typeformer/kernels/simd.hpp>
#include <typeformer/kernels/thread_pool.hpp>
#include <typeformer/kernels/unroll.hpp>

namespace typeformer::kernels {

/// Rows of x one micro-kernel call keeps in registers: 12 accumulators of one panel where there
/// are 16 registers (AVX2: 6 rows × 2 registers), 24 of four panels on AVX-512 (6 rows × 4).
template <class Arch>
inline constexpr std::size_t gemm_rows = simd::ops<Arch>::width == 1   ? 1
                                         : simd::ops<Arch>::width == 4 ? 3
                                                                       : 6;

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

/// A row stride (in floats) for a buffer of `width`-float rows that a GEMM reads as x: the
/// width, one 64-byte line more where rows would lie a multiple of 4 KiB apart. Such rows put
/// the k-th input of every row of a micro-kernel call (12 on AVX-512 when this was measured, 6 now)
/// in one L1 set. On the Zen 5 VM, in its slow periods (caches shared with a busy neighbour, it
/// seems), the feed-forward's second GEMM (1024 × 3072 × 768, rows 12 KiB apart) then ran at 54% of
/// the peak, and at 75–80% with the line added; in quiet periods both ran at 80%.
constexpr std::size_t gemm_input_stride(std::size_t width) noexcept {
  constexpr std::size_t floats_per_4k = 4096 / sizeof(float), floats_per_line = 64 / sizeof(float);
  return width > 0 && width % floats_per_4k == 0 ? width + floats_per_line : width;
}

/// Arguments of one GEMM: `rows` rows of x (row stride ldx) times `w`, into y (row stride ldy).
/// y must not overlap x or the residual: it holds partial sums between K blocks. `Weights` is
/// packed_matrix or a bfloat16 one (packed_bf16_matrix, packed_bf16_dot_matrix); x, y, the bias
/// and the sums are float32 in every case.
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

/// Whether Weights is a bfloat16 matrix (whatever it is multiplied with).
template <class Weights>
inline constexpr bool is_bf16_weights = false;
template <bf16_inputs Inputs>
inline constexpr bool is_bf16_weights<basic_packed_bf16_matrix<Inputs>> = true;

/// Whether the GEMM rounds x to bfloat16 for Weights: vdpbf16ps's arithmetic.
template <class Weights>
inline constexpr bool rounds_inputs = false;
template <bf16_inputs Inputs>
inline constexpr bool rounds_inputs<basic_packed_bf16_matrix<Inputs>> =
    Inputs == bf16_inputs::bfloat16;

namespace detail {

/// Panels one micro-kernel call covers: four where a panel is one register (AVX-512), so each
/// broadcast of x feeds four FMAs (10 loads per 24 FMAs); one otherwise. 12 rows × 2 panels
/// (14 loads per 24 FMAs, twelve streams of x) measured 1–11% slower on two threads and 0–5% on
/// one over the projection and feed-forward shapes on Zen 5; 8 × 3 and 4 × 6 no better than 6 × 4.
template <class Arch>
inline constexpr std::size_t gemm_panels =
    panel_width / simd::ops<Arch>::width == 1 && simd::ops<Arch>::width > 1 ? 4 : 1;

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

// acc[r] += x[r · ldx + k] · w for each of the R rows: input k's contribution, with x rounded
// to bfloat16 first if RoundInputs.
template <class Arch, std::size_t R, std::size_t P, std::size_t V, bool RoundInputs = false>
[[gnu::always_inline]] inline void gemm_multiply(typename simd::ops<Arch>::batch (&acc)[R][P][V],
                                                 const typename simd::ops<Arch>::batch (&w)[P][V],
                                                 const float* x, std::size_t ldx,
                                                 std::size_t k) noexcept {
  using O = simd::ops<Arch>;
  TYPEFORMER_UNROLL_REGISTER_LOOP
  for (std::size_t r = 0; r < R; ++r) {
    const float value = x[r * ldx + k];
    const auto xr = O::splat(RoundInputs ? round_to_bf16(value) : value);
    TYPEFORMER_UNROLL_REGISTER_LOOP
    for (std::size_t q = 0; q < P; ++q) {
      TYPEFORMER_UNROLL_REGISTER_LOOP
      for (std::size_t v = 0; v < V; ++v) acc[r][q][v] = O::fma(xr, w[q][v], acc[r][q][v]);
    }
  }
}

// The first row of y's part for rows from row0 and panel p (row stride a.ldy).
template <class Weights>
float* gemm_output(const basic_gemm_args<Weights>& a, std::size_t row0, std::size_t p) noexcept {
  return a.y + row0 * a.ldy + p * panel_width;
}

// The starting sums of R rows × P panels: zero for the first K block, else the partial sums
// in y. Whole panels move between registers and y directly; only a narrower last panel goes
// through a buffer (whose small copies cost as much as a K block's tail on AMD: rep movs).
template <class Arch, std::size_t R, std::size_t P, std::size_t V, class Weights>
[[gnu::always_inline]] inline void gemm_load_sums(typename simd::ops<Arch>::batch (&acc)[R][P][V],
                                                  const basic_gemm_args<Weights>& a,
                                                  std::size_t row0, std::size_t p0, bool first,
                                                  const std::size_t (&cols)[P]) noexcept {
  using O = simd::ops<Arch>;
  TYPEFORMER_UNROLL_REGISTER_LOOP
  for (std::size_t r = 0; r < R; ++r) {
    TYPEFORMER_UNROLL_REGISTER_LOOP
    for (std::size_t q = 0; q < P; ++q) {
      const float* y = gemm_output(a, row0 + r, p0 + q);
      if (first) {
        TYPEFORMER_UNROLL_REGISTER_LOOP
        for (std::size_t v = 0; v < V; ++v) acc[r][q][v] = O::splat(0.0f);
      } else if (cols[q] == panel_width) {
        TYPEFORMER_UNROLL_REGISTER_LOOP
        for (std::size_t v = 0; v < V; ++v) acc[r][q][v] = O::load(y + v * O::width);
      } else {
        alignas(64) float partial[panel_width] = {};
        for (std::size_t c = 0; c < cols[q]; ++c) partial[c] = y[c];
        TYPEFORMER_UNROLL_REGISTER_LOOP
        for (std::size_t v = 0; v < V; ++v) acc[r][q][v] = O::load(partial + v * O::width);
      }
    }
  }
}

// Whether the GEMM's last K block does more than store the sums.
template <class Weights>
bool gemm_has_epilogue(const basic_gemm_args<Weights>& a) noexcept {
  return a.bias || a.scale != 1.0f || a.act != activation::identity || a.residual;
}

// The epilogue over rows [row0, row0 + rows) × columns [col_begin, col_end) of y, which hold
// finished sums: (sum + bias) · scale, activated, plus the residual (which must not overlap y).
// Out of line, one copy for every micro-kernel shape: inlined into each of the thirteen shapes,
// it made a 6-layer encoder's code 314 KB instead of 268 (docs/compile-time.md). The sums come
// back from L1, where the micro-kernel has just written them. A partial vector goes through
// padded buffers, so that every column gets the same vector arithmetic.
template <class Arch, class Weights>
[[gnu::noinline]] void gemm_epilogue(const basic_gemm_args<Weights>& a, std::size_t row0,
                                     std::size_t rows, std::size_t col_begin,
                                     std::size_t col_end) noexcept {
  using O = simd::ops<Arch>;
  using batch = typename O::batch;
  constexpr std::size_t W = O::width;
  const batch scale = O::splat(a.scale);
  const auto finish = [&](batch value, const float* bias) {
    if (bias) value = value + O::load(bias);
    value = value * scale;
    if (a.act != activation::identity) value = kernels::activate<Arch>(a.act, value);
    return value;
  };
  const std::size_t tail_begin = col_begin + (col_end - col_begin) / W * W;
  alignas(64) float bias_tail[W] = {};
  if (a.bias)
    for (std::size_t c = tail_begin; c < col_end; ++c) bias_tail[c - tail_begin] = a.bias[c];
  for (std::size_t r = row0; r < row0 + rows; ++r) {
    float* y = a.y + r * a.ldy;
    const float* res = a.residual ? a.residual + r * a.ld_residual : nullptr;
    for (std::size_t c = col_begin; c < tail_begin; c += W) {
      batch value = finish(O::load(y + c), a.bias ? a.bias + c : nullptr);
      if (res) value = value + O::load(res + c);
      O::store(y + c, value);
    }
    if (tail_begin < col_end) {
      alignas(64) float tail[W] = {};
      for (std::size_t c = tail_begin; c < col_end; ++c) tail[c - tail_begin] = y[c];
      O::store(tail, finish(O::load(tail), a.bias ? bias_tail : nullptr));
      for (std::size_t c = tail_begin; c < col_end; ++c)
        y[c] = res ? tail[c - tail_begin] + res[c] : tail[c - tail_begin];
    }
  }
}

// Writes the sums of R rows × P panels to y (the epilogue follows the sweep: gemm_finish_sweep).
template <class Arch, std::size_t R, std::size_t P, std::size_t V, class Weights>
[[gnu::always_inline]] inline void gemm_store_sums(
    const typename simd::ops<Arch>::batch (&acc)[R][P][V], const basic_gemm_args<Weights>& a,
    std::size_t row0, std::size_t p0, const std::size_t (&cols)[P]) noexcept {
  using O = simd::ops<Arch>;
  constexpr std::size_t W = O::width;
  TYPEFORMER_UNROLL_REGISTER_LOOP
  for (std::size_t q = 0; q < P; ++q) {
    const bool whole = cols[q] == panel_width;
    TYPEFORMER_UNROLL_REGISTER_LOOP
    for (std::size_t r = 0; r < R; ++r) {
      float* y = gemm_output(a, row0 + r, p0 + q);
      alignas(64) float out[panel_width];
      TYPEFORMER_UNROLL_REGISTER_LOOP
      for (std::size_t v = 0; v < V; ++v) O::store(whole ? y + v * W : out + v * W, acc[r][q][v]);
      if (!whole)
        for (std::size_t c = 0; c < cols[q]; ++c) y[c] = out[c];
    }
  }
}

// After the last K block, the epilogue over rows [row0, row0 + rows) × panels [p0, p1): once
// per sweep of a group of rows rather than per micro-kernel call, whose fixed cost showed on
// small products (an LSTM step of 4 rows × 64 inputs × 256 gates).
template <class Arch, class Weights>
void gemm_finish_sweep(const basic_gemm_args<Weights>& a, std::size_t row0, std::size_t rows,
                       std::size_t p0, std::size_t p1, std::size_t k1) noexcept {
  if (k1 == a.w->inputs() && gemm_has_epilogue(a))
    gemm_epilogue<Arch>(a, row0, rows, p0 * panel_width,
                        std::min(a.w->outputs(), p1 * panel_width));
}

// Columns of y that panels p0 .. p0 + P − 1 hold (16 but for a narrower last panel).
template <std::size_t P, class Weights>
[[gnu::always_inline]] inline void gemm_panel_columns(std::size_t (&cols)[P], const Weights& w,
                                                      std::size_t p0) noexcept {
  TYPEFORMER_UNROLL_REGISTER_LOOP
  for (std::size_t q = 0; q < P; ++q)
    cols[q] = std::min(panel_width, w.outputs() - (p0 + q) * panel_width);
}

// R rows × P panels over inputs [k0, k1), x pointing at input k0 of row row0 (row stride ldx:
// a.x's rows, or a copy of them), rounded to bfloat16 as each is broadcast if RoundInputs. The
// accumulators live in registers; x is broadcast one value at a time. The first K block starts
// from zero, later ones from the partial sums in y; the last one applies the epilogue.
template <class Arch, std::size_t R, std::size_t P, bool RoundInputs = false, class Weights>
void gemm_block(const basic_gemm_args<Weights>& a, const float* x, std::size_t ldx,
                std::size_t row0, std::size_t p0, std::size_t k0, std::size_t k1) noexcept {
  using O = simd::ops<Arch>;
  using batch = typename O::batch;
  constexpr std::size_t V = panel_width / O::width;
  decltype(a.w->panel_row(0, 0)) panel[P];  // each panel's row k0
  TYPEFORMER_UNROLL_REGISTER_LOOP
  for (std::size_t q = 0; q < P; ++q) panel[q] = a.w->panel_row(p0 + q, k0);
  std::size_t cols[P];
  gemm_panel_columns(cols, *a.w, p0);

  batch acc[R][P][V];
  gemm_load_sums<Arch>(acc, a, row0, p0, k0 == 0, cols);
  if constexpr (is_bf16_weights<Weights>) {
    // Word rows hold inputs k (low halves) and k + 1 (high halves); k0 is even. For weights
    // whose inputs are rounded (here, or already in x: gemm_rounded) this is vdpbf16ps's
    // arithmetic, emulated: both factors bfloat16, so each product is exact and the FMA rounds
    // only the sum; of each pair, the odd input's product is added first, as the instruction
    // does.
    constexpr bool odd_first = rounds_inputs<Weights>;
    constexpr bf16_half first = odd_first ? bf16_half::high : bf16_half::low;
    constexpr bf16_half second = odd_first ? bf16_half::low : bf16_half::high;
    std::size_t i = 0;  // input k0 + i
    for (; k0 + i + 1 < k1; i += 2) {
      batch w[P][V];
      const std::size_t row = i / 2 * panel_width;
      gemm_load_weights<Arch, R, P, V, first>(w, panel, row);
      gemm_multiply<Arch, R, P, V, RoundInputs>(acc, w, x, ldx, odd_first ? i + 1 : i);
      gemm_load_weights<Arch, R, P, V, second>(w, panel, row);
      gemm_multiply<Arch, R, P, V, RoundInputs>(acc, w, x, ldx, odd_first ? i : i + 1);
    }
    if (k0 + i < k1) {
      batch w[P][V];
      gemm_load_weights<Arch, R, P, V, bf16_half::low>(w, panel, i / 2 * panel_width);
      gemm_multiply<Arch, R, P, V, RoundInputs>(acc, w, x, ldx, i);
    }
  } else {
    // Two inputs per iteration halve the loop's bookkeeping per FMA. GCC 12 leaves this loop
    // rolled; unrolled, the GEMM measured 6-10% faster on the projection and feed-forward shapes
    // (GCC, one thread, interleaved A/B); with Clang, level.
#pragma GCC unroll 2
    for (std::size_t i = 0; i < k1 - k0; ++i) {
      batch w[P][V];
      gemm_load_weights<Arch, R, P, V>(w, panel, i * panel_width);
      gemm_multiply<Arch, R, P, V>(acc, w, x, ldx, i);
    }
  }
  gemm_store_sums<Arch>(acc, a, row0, p0, cols);
}

// R rows from `row` × panels [p, panel_end) over inputs [k0, k1), their inputs at x (as in
// gemm_block): calls of P panels, then of half as many for what is left; then the epilogue,
// after the last K block.
template <class Arch, std::size_t R, std::size_t P, bool RoundInputs = false, bool Finish = true,
          class Weights>
void gemm_panel_sweep(const basic_gemm_args<Weights>& a, const float* x, std::size_t ldx,
                      std::size_t row, std::size_t p, std::size_t panel_end, std::size_t k0,
                      std::size_t k1) noexcept {
  const std::size_t first = p;
  for (; p + P <= panel_end; p += P) gemm_block<Arch, R, P, RoundInputs>(a, x, ldx, row, p, k0, k1);
  if constexpr (P > 1)
    if (p < panel_end)
      gemm_panel_sweep<Arch, R, P / 2, RoundInputs, false>(a, x, ldx, row, p, panel_end, k0, k1);
  if constexpr (Finish) gemm_finish_sweep<Arch>(a, row, R, first, panel_end, k1);
}

// Rows [row_begin, row_end) × panels [panel_begin, panel_end) over inputs [k0, k1): full
// micro-kernels, panel group by panel group, then the leftover rows in blocks of 4, 2 and 1,
// each with panels enough to keep the FMA pipes busy. The leftover rows take each group of
// panels right after the full micro-kernels, while it is still in L2: swept over all panels
// at the end, two leftover rows streamed the whole matrix from L3 again, as long as a full
// group of rows took (4% of a (1, 128, 768, 12) call; 128 × 768 × 768 ran 8-12% faster).
template <class Arch, class Weights>
void gemm_rows_of(const basic_gemm_args<Weights>& a, std::size_t row_begin, std::size_t row_end,
                  std::size_t panel_begin, std::size_t panel_end, std::size_t k0,
                  std::size_t k1) noexcept {
  constexpr std::size_t R = gemm_rows<Arch>, P = gemm_panels<Arch>;
  constexpr bool round = rounds_inputs<Weights>;  // at each broadcast (few rows: gemm_portable)
  const std::size_t full_end = row_begin + (row_end - row_begin) / R * R;
  // Panels per group: the most that a leftover block of rows covers in one call, where there
  // are both full and leftover rows.
  constexpr std::size_t with_leftovers = std::max(P, gemm_panels_for_rows<Arch, 1>);
  const std::size_t group = full_end == row_begin ? panel_end - panel_begin
                            : full_end == row_end ? P
                                                  : with_leftovers;
  for (std::size_t p = panel_begin; p < panel_end; p += group) {
    const std::size_t group_end = std::min(panel_end, p + group);
    for (std::size_t r = row_begin; r < full_end; r += R)
      gemm_panel_sweep<Arch, R, P, round>(a, a.x + r * a.ldx + k0, a.ldx, r, p, group_end, k0, k1);
    std::size_t r = full_end;
    const auto leftover = [&]<std::size_t T>() {
      for (; r + T <= row_end; r += T)
        gemm_panel_sweep<Arch, T, gemm_panels_for_rows<Arch, T>, round>(
            a, a.x + r * a.ldx + k0, a.ldx, r, p, group_end, k0, k1);
    };
    if constexpr (R > 4) leftover.template operator()<4>();
    if constexpr (R > 2) leftover.template operator()<2>();
    leftover.template operator()<1>();
  }
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

// Inputs per K block: equal blocks of at most gemm_k_block (a short last block, 1152 = 1024 +
// 128, would pay the loads and stores of the partial sums for an eighth of the work), starting
// at even inputs for bfloat16 weights, which come in pairs of inputs.
template <class Weights>
std::size_t gemm_k_block_for(std::size_t inputs) noexcept {
  const std::size_t k_blocks = std::max<std::size_t>(1, (inputs + gemm_k_block - 1) / gemm_k_block);
  return simd::round_up(std::max<std::size_t>(1, (inputs + k_blocks - 1) / k_blocks),
                        is_bf16_weights<Weights> ? 2 : 1);
}

// Calls f(r0, r1, k0, k1) for each row block of [row_begin, row_end) and, within it, each K
// block: the loop order both GEMM drivers share. Without inputs f still runs once per row
// block (k0 = k1 = 0), which writes the epilogue.
template <class Weights, class F>
void for_each_gemm_block(const basic_gemm_args<Weights>& a, std::size_t row_begin,
                         std::size_t row_end, F&& f) {
  const std::size_t inputs = a.w->inputs();
  const std::size_t k_block = gemm_k_block_for<Weights>(inputs);
  for (std::size_t r0 = row_begin; r0 < row_end; r0 += gemm_row_block) {
    const std::size_t r1 = std::min(row_end, r0 + gemm_row_block);
    for (std::size_t k0 = 0; k0 < std::max<std::size_t>(inputs, 1); k0 += k_block)
      f(r0, r1, k0, std::min(inputs, k0 + k_block));
  }
}

/// Panels whose K block one sweep of rows keeps in L2 where each group of rows' inputs is
/// rounded to bfloat16 first (8 panels of 1024 inputs are 256 KiB of bfloat16 pairs): the rows'
/// rounding then costs 1/(8 · 16) of their products.
inline constexpr std::size_t gemm_rounded_panel_chunk = 8;

// The loops of the two drivers that round each group of rows' inputs once (emulated and by
// vdpbf16ps): row blocks and K blocks as for_each_gemm_block, then chunks of panels, each
// swept by groups of R rows and then of 4, 2 and 1. rows.template operator()<N>(row, row_end,
// p, chunk_end, k0, k1) runs the groups of N rows from `row` and returns the first row it left.
template <std::size_t R, class Weights, class Rows>
void for_each_rounded_row_group(const basic_gemm_args<Weights>& a, std::size_t row_begin,
                                std::size_t row_end, std::size_t panel_begin, std::size_t panel_end,
                                Rows&& rows) {
  for_each_gemm_block(
      a, row_begin, row_end, [&](std::size_t r0, std::size_t r1, std::size_t k0, std::size_t k1) {
        for (std::size_t p = panel_begin; p < panel_end; p += gemm_rounded_panel_chunk) {
          const std::size_t end = std::min(panel_end, p + gemm_rounded_panel_chunk);
          std::size_t row = rows.template operator()<R>(r0, r1, p, end, k0, k1);
          if constexpr (R > 4) row = rows.template operator()<4>(row, r1, p, end, k0, k1);
          if constexpr (R > 2) row = rows.template operator()<2>(row, r1, p, end, k0, k1);
          rows.template operator()<1>(row, r1, p, end, k0, k1);
        }
      });
}

// x[0, n) rounded to bfloat16 into out, as round_to_bf16 rounds (nearest, ties to even; a NaN
// stays a quiet NaN), a register at a time.
template <class Arch>
void round_row_to_bf16(const float* x, std::size_t n, float* out) noexcept {
  using O = simd::ops<Arch>;
  std::size_t i = 0;
  if constexpr (O::width > 1) {
    using ints = xsimd::batch<std::int32_t, Arch>;
    const ints quiet(0x00400000), half(0x7FFF), one(1),
        kept(static_cast<std::int32_t>(0xFFFF0000u));
    for (; i + O::width <= n; i += O::width) {
      const auto value = O::load(x + i);
      const auto bits = xsimd::bitwise_cast<ints>(value);
      const ints rounded = (bits + half + ((bits >> 16) & one)) & kept;
      // The choice is made on floats: xsimd 8.1's integer select on AVX-512 does not compile
      // with g++ at -O0 (its intrinsics are then macros that cast the batch).
      const auto word = xsimd::select(xsimd::isnan(value),
                                      xsimd::bitwise_cast<typename O::batch>((bits | quiet) & kept),
                                      xsimd::bitwise_cast<typename O::batch>(rounded));
      O::store(out + i, word);
    }
  }
  for (; i < n; ++i) out[i] = kernels::round_to_bf16(x[i]);
}

// Groups of R rows from `row` to row_end, each group's inputs [k0, k1) rounded into xr (R rows
// of k1 − k0 floats) and swept over panels [p, panel_end). Returns the first row left.
template <class Arch, std::size_t R>
std::size_t gemm_rounded_rows(const basic_gemm_args<packed_bf16_dot_matrix>& a, float* xr,
                              std::size_t row, std::size_t row_end, std::size_t p,
                              std::size_t panel_end, std::size_t k0, std::size_t k1) noexcept {
  constexpr std::size_t P =
      R == gemm_rows<Arch> ? gemm_panels<Arch> : gemm_panels_for_rows<Arch, R>;
  const std::size_t ldxr = k1 - k0;
  for (; row + R <= row_end; row += R) {
    for (std::size_t r = 0; r < R; ++r)
      round_row_to_bf16<Arch>(a.x + (row + r) * a.ldx + k0, ldxr, xr + r * ldxr);
    gemm_panel_sweep<Arch, R, P>(a, xr, ldxr, row, p, panel_end, k0, k1);
  }
  return row;
}

// vdpbf16ps's arithmetic, emulated in the float32 micro-kernel on every architecture. Each
// group of rows has its K block of inputs rounded once into a stack buffer (R · 1024 floats:
// 24 KiB on AVX2) and swept over a chunk of panels, in the order of gemm_bf16_dot. Rounded at
// each broadcast instead, the inputs cost more than the FMAs they fed: 1024 rows ran at
// 0.37-0.46 of the float32 weights' speed on AVX2.
template <class Arch>
void gemm_rounded(const basic_gemm_args<packed_bf16_dot_matrix>& a, std::size_t row_begin,
                  std::size_t row_end, std::size_t panel_begin, std::size_t panel_end) noexcept {
  constexpr std::size_t R = gemm_rows<Arch>;
  alignas(64) float xr[R * gemm_k_block];
  for_each_rounded_row_group<R>(
      a, row_begin, row_end, panel_begin, panel_end,
      [&]<std::size_t N>(auto... range) { return gemm_rounded_rows<Arch, N>(a, xr, range...); });
}

// The GEMM on every architecture, vdpbf16ps's arithmetic emulated. Row blocks outer, then K
// blocks, then panel pairs: see gemm() below.
template <class Arch, class Weights>
void gemm_portable(const basic_gemm_args<Weights>& a, std::size_t row_begin, std::size_t row_end,
                   std::size_t panel_begin, std::size_t panel_end) noexcept {
  // With rows enough, each group's inputs are rounded once into a buffer; with fewer
  // (decoding) each input is rounded at its broadcast, with no pass over a buffer.
  if constexpr (rounds_inputs<Weights>) {
    if (row_end - row_begin >= gemm_widen_rows<Arch>)
      return gemm_rounded<Arch>(a, row_begin, row_end, panel_begin, panel_end);
  }
  for_each_gemm_block(a, row_begin, row_end,
                      [&](std::size_t r0, std::size_t r1, std::size_t k0, std::size_t k1) {
                        if constexpr (std::is_same_v<Weights, packed_bf16_matrix>) {
                          // (No inputs: nothing to widen; the micro-kernels write the epilogue.)
                          if (r1 - r0 >= gemm_widen_rows<Arch> && k1 > k0)
                            return gemm_widened<Arch>(a, r0, r1, panel_begin, panel_end, k0, k1);
                        }
                        gemm_rows_of<Arch>(a, r0, r1, panel_begin, panel_end, k0, k1);
                      });
}

/// Whether the vdpbf16ps kernels can serve Arch: x86-64 with 16-float registers (AVX-512).
/// Other builds, AVX2 ones included, keep to the instruction sets their flags name.
template <class Arch>
inline constexpr bool has_bf16_dot_kernels =
    (TYPEFORMER_BF16_DOT_KERNELS != 0) && simd::ops<Arch>::width == bf16_dot::lanes;

#if TYPEFORMER_BF16_DOT_KERNELS

// R rows × P panels over inputs [k0, k1) by vdpbf16ps, x already rounded to pairs (row
// stride ldxp words); the sums start and end as in gemm_block.
template <class Arch, std::size_t R, std::size_t P>
[[TYPEFORMER_TARGET_AVX512_BF16]] void gemm_bf16_dot_block(
    const basic_gemm_args<packed_bf16_dot_matrix>& a, const std::uint32_t* xp, std::size_t ldxp,
    std::size_t row0, std::size_t p0, std::size_t k0, std::size_t k1) noexcept {
  using batch = typename simd::ops<Arch>::batch;
  const std::uint32_t* panel[P];
  TYPEFORMER_UNROLL_REGISTER_LOOP
  for (std::size_t q = 0; q < P; ++q) panel[q] = a.w->panel_row(p0 + q, k0);
  std::size_t cols[P];
  gemm_panel_columns(cols, *a.w, p0);

  batch acc[R][P][1];
  gemm_load_sums<Arch>(acc, a, row0, p0, k0 == 0, cols);
  __m512 sums[R][P];
  TYPEFORMER_UNROLL_REGISTER_LOOP
  for (std::size_t r = 0; r < R; ++r) {
    TYPEFORMER_UNROLL_REGISTER_LOOP
    for (std::size_t q = 0; q < P; ++q) sums[r][q] = acc[r][q][0];
  }
  bf16_dot::accumulate<Arch, R, P>(sums, xp, ldxp, panel, (k1 - k0 + 1) / 2);
  TYPEFORMER_UNROLL_REGISTER_LOOP
  for (std::size_t r = 0; r < R; ++r) {
    TYPEFORMER_UNROLL_REGISTER_LOOP
    for (std::size_t q = 0; q < P; ++q) acc[r][q][0] = sums[r][q];
  }
  gemm_store_sums<Arch>(acc, a, row0, p0, cols);
}

template <class Arch, std::size_t R, std::size_t P, bool Finish = true>
[[TYPEFORMER_TARGET_AVX512_BF16]] void gemm_bf16_dot_sweep(
    const basic_gemm_args<packed_bf16_dot_matrix>& a, const std::uint32_t* xp, std::size_t ldxp,
    std::size_t row, std::size_t p, std::size_t panel_end, std::size_t k0,
    std::size_t k1) noexcept {
  const std::size_t first = p;
  for (; p + P <= panel_end; p += P) gemm_bf16_dot_block<Arch, R, P>(a, xp, ldxp, row, p, k0, k1);
  if constexpr (P > 1)
    if (p < panel_end)
      gemm_bf16_dot_sweep<Arch, R, P / 2, false>(a, xp, ldxp, row, p, panel_end, k0, k1);
  if constexpr (Finish) gemm_finish_sweep<Arch>(a, row, R, first, panel_end, k1);
}

// Rows [row, row_end) in groups of R (and fewer at the end), each group's inputs [k0, k1)
// rounded to pairs into xp and swept over panels [p, panel_end). Returns the first row left.
template <class Arch, std::size_t R>
[[TYPEFORMER_TARGET_AVX512_BF16]] std::size_t gemm_bf16_dot_rows(
    const basic_gemm_args<packed_bf16_dot_matrix>& a, std::uint32_t* xp, std::size_t row,
    std::size_t row_end, std::size_t p, std::size_t panel_end, std::size_t k0,
    std::size_t k1) noexcept {
  constexpr std::size_t P =
      R == gemm_rows<Arch> ? gemm_panels<Arch> : gemm_panels_for_rows<Arch, R>;
  const std::size_t ldxp = (k1 - k0 + 1) / 2;
  for (; row + R <= row_end; row += R) {
    for (std::size_t r = 0; r < R; ++r)
      bf16_dot::round_to_pairs<Arch>(a.x + (row + r) * a.ldx + k0, k1 - k0, xp + r * ldxp);
    gemm_bf16_dot_sweep<Arch, R, P>(a, xp, ldxp, row, p, panel_end, k0, k1);
  }
  return row;
}

// The GEMM by vdpbf16ps: the same sums, in the same order, as gemm_portable's emulation (but
// for subnormal values, which the instruction flushes to zero). Row blocks, then K blocks,
// then chunks of panels that stay in L2 while groups of R rows, rounded to pairs in an L1
// buffer (R · 512 words: 12 KiB on the caller's stack), sweep over them.
template <class Arch>
[[TYPEFORMER_TARGET_AVX512_BF16]] void gemm_bf16_dot(
    const basic_gemm_args<packed_bf16_dot_matrix>& a, std::size_t row_begin, std::size_t row_end,
    std::size_t panel_begin, std::size_t panel_end) noexcept {
  constexpr std::size_t R = gemm_rows<Arch>;
  static_assert(gemm_k_block % 2 == 0, "a K block of whole pairs fills at most half its words");
  alignas(64) std::uint32_t xp[R * (gemm_k_block / 2)];
  // (The lambda has no target attribute: it only calls functions that have.)
  for_each_rounded_row_group<R>(
      a, row_begin, row_end, panel_begin, panel_end,
      [&]<std::size_t N>(auto... range) { return gemm_bf16_dot_rows<Arch, N>(a, xp, range...); });
}

#endif

}  // namespace detail

/// Computes rows [row_begin, row_end) × panels [panel_begin, panel_end) of y. Row blocks outer,
/// then K blocks, then panel pairs: one block of packed panels stays in L1 while the rows of
/// the row block stream past it from L2, and the block's partial sums never leave L2 (with K
/// blocks outer they went to memory and back for every row of a long input: 10-15% on AVX2).
/// Disjoint ranges may run on different threads; each element's sum runs over k in the same
/// order whatever the split, so results do not depend on the thread count. With
/// packed_bf16_dot_matrix weights on an AVX-512 build, a CPU with AVX-512 BF16 runs vdpbf16ps
/// (the same bits as the emulation other CPUs run, but for subnormals).
template <class Arch, class Weights = packed_matrix>
void gemm(const basic_gemm_args<Weights>& a, std::size_t row_begin, std::size_t row_end,
          std::size_t panel_begin, std::size_t panel_end) noexcept {
#if TYPEFORMER_BF16_DOT_KERNELS
  if constexpr (rounds_inputs<Weights> && detail::has_bf16_dot_kernels<Arch>) {
    if (bf16_dot::cpu_has_instruction())
      return detail::gemm_bf16_dot<Arch>(a, row_begin, row_end, panel_begin, panel_end);
  }
#endif
  detail::gemm_portable<Arch>(a, row_begin, row_end, panel_begin, panel_end);
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

// One GEMM entry point per weight layout, compiled once per program when
// TYPEFORMER_COMPILED_KERNELS is 1 (kernels/compiled_kernels.hpp).
#define TYPEFORMER_GEMM_INSTANCES_FOR(PREFIX, ARCH, WEIGHTS)                                       \
  PREFIX template void typeformer::kernels::gemm<ARCH, WEIGHTS>(                                   \
      const typeformer::kernels::basic_gemm_args<WEIGHTS>&, std::size_t, std::size_t, std::size_t, \
      std::size_t) noexcept;                                                                       \
  PREFIX template void typeformer::kernels::gemm<ARCH, WEIGHTS>(                                   \
      const typeformer::kernels::basic_gemm_args<WEIGHTS>&) noexcept;                              \
  PREFIX template void typeformer::kernels::gemm<ARCH, WEIGHTS>(                                   \
      typeformer::thread_pool&, const typeformer::kernels::basic_gemm_args<WEIGHTS>&) noexcept;
#define TYPEFORMER_GEMM_INSTANCES(PREFIX, ARCH) \
  TYPEFORMER_GEMM_INSTANCES_FOR(PREFIX, ARCH, typeformer::kernels::packed_matrix)
#define TYPEFORMER_BF16_GEMM_INSTANCES(PREFIX, ARCH)                                   \
  TYPEFORMER_GEMM_INSTANCES_FOR(PREFIX, ARCH, typeformer::kernels::packed_bf16_matrix) \
  TYPEFORMER_GEMM_INSTANCES_FOR(PREFIX, ARCH, typeformer::kernels::packed_bf16_dot_matrix)
#if TYPEFORMER_COMPILED_KERNELS
TYPEFORMER_FOR_EACH_KERNEL_ARCH(TYPEFORMER_GEMM_INSTANCES, extern)
#endif
#if TYPEFORMER_COMPILED_BF16_KERNELS
TYPEFORMER_FOR_EACH_KERNEL_ARCH(TYPEFORMER_BF16_GEMM_INSTANCES, extern)
#endif
