#pragma once
// softmax(q·kᵀ + mask)·v as one tiled loop with an online softmax: a block of query rows meets
// a tile of keys at a time, and a running (max, sum, accumulator) per row replaces the S×S
// score matrix. Nothing is allocated; the caller passes a small per-thread scratch.
//
// Two levels of tiling. A task is a block of up to 128 query rows of one (batch, head); each
// key tile (its transposed keys and its value rows, 32 KiB at head width 64) is read from
// memory once for the whole block and then stays in L1 or L2 while the block's register
// micro-tiles of 4 rows pass over it. Key tiles past the last key any row of a micro-tile may see
// (causal, key lengths, fully masked query rows) are never computed.
//
// Score, mask and value functions (kernels/attention_functions.hpp) enter the same loop. A
// score function's query_dot(table[index]) (Shaw's q·rel_k) is computed once per block for each
// table row the block's indices reach and looked up per score; a value function's table rows
// (Shaw's rel_v) get each row's probability mass per table row beside the accumulator
// (rescaled with it), turned into Σ mass·table at the end. A key tile over which an index is
// one row (beyond Shaw's ±K) adds one constant and one sum, so long-range tiles run as fast as
// plain attention.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>

#include <typeformer/kernels/attention_functions.hpp>
#include <typeformer/kernels/attention_layout.hpp>
#include <typeformer/kernels/attention_mask.hpp>
#include <typeformer/kernels/compiled_kernels.hpp>
#include <typeformer/kernels/dot.hpp>
#include <typeformer/kernels/exp.hpp>
#include <typeformer/kernels/simd.hpp>
#include <typeformer/kernels/thread_pool.hpp>
#include <typeformer/kernels/unroll.hpp>

namespace typeformer::kernels {

/// Query rows of one task: they share every key tile loaded for them, so a head's keys and
/// values stream from L3 or memory once per block. With 32 rows, at (1, 4096, 8) on Zen 3 that
/// stream (2 MiB per head and block) set the pace: 64 rows took 10% off the core on one thread,
/// 128 another 5–10% (more in the VM's slow hours, when its L3 is shared with a busy
/// neighbour), 256 about 1% more. A row's arithmetic does not depend on the block, so the
/// outputs are the same bits whatever it is.
inline constexpr std::size_t attention_query_block = 128;

/// Query rows one register micro-tile holds.
inline constexpr std::size_t attention_query_tile = 4;

/// Keys per tile: one stored key block (64) on every SIMD path, 8 on the scalar path. The
/// softmax's per-row work for a tile (maxima and sums across lanes, the rescaling exp) is then
/// shared by 64 keys whatever the register width: with AVX2's 16-key register tiles it cost
/// as much as the products.
template <class Arch>
inline constexpr std::size_t attention_key_tile =
    simd::ops<Arch>::width == 1 ? 8 : attention_key_block;

/// Registers of keys (or of value columns) per row that one pass of a micro-tile of R rows
/// keeps. Four where there are 32 registers (AVX-512: a whole tile in one pass). Where there are
/// 16: three for four rows (12 accumulators, the loaded registers and a broadcast fill them),
/// four for two, and eight for one row, so that a lone row (decoding) reads each 256-byte row
/// of a key block, or of values, in one contiguous sweep with eight independent FMA chains;
/// with three it crossed every key block three times in 96-byte strides, waiting on memory
/// and on FMA latency.
template <class Arch, std::size_t R>
inline constexpr std::size_t attention_pass_registers = simd::ops<Arch>::width >= 16 ? 4
                                                        : R == 1                     ? 8
                                                        : R == 2                     ? 4
                                                                                     : 3;

/// Floats of scratch one thread needs: the block's scaled queries and value accumulators, and
/// the functions' per-row terms (attention_functions::row_term_floats: query_dot products and
/// value-row masses).
constexpr std::size_t attention_scratch_floats(std::size_t key_dim, std::size_t value_dim,
                                               std::size_t row_term_floats = 0) noexcept {
  return attention_query_block *
         (key_dim + attention_operands::v_stride_for(value_dim) + row_term_floats);
}

/// Tasks of one call: (batch, head, query block) triples; threads take disjoint ranges. They run
/// (batch, head) after (batch, head), each from its last query block to its first.
/// - Consecutive tasks share one head's keys and values while they are in cache (cycling through
///   the heads per block re-read 8 MiB of other heads' between two uses at (1, 2048, 8): 4–10%
///   slower on Zen 3, docs/performance.md).
/// - Under a causal mask a block's work grows with its position, so the call ends on cheap
///   blocks and threads taking chunks as they come finish together.
inline std::size_t attention_task_count(const attention_operands& o) noexcept {
  return o.batch * o.heads * ((o.query_len + attention_query_block - 1) / attention_query_block);
}

/// Tasks a thread takes at a time: 8 chunks per thread, so that uneven causal blocks even out,
/// but no more tasks than make 32Ki score pairs (tens of microseconds), after which taking a
/// chunk costs nothing against its work. Larger chunks of long rows were uneven halves of a
/// head under a causal mask, and one thread could be left running the costly half alone.
inline std::size_t attention_chunk_tasks(const attention_operands& o,
                                         std::size_t threads) noexcept {
  const std::size_t pairs =
      std::max<std::size_t>(1, std::min(o.query_len, attention_query_block) * o.key_len);
  const std::size_t enough = ((std::size_t{1} << 15) + pairs - 1) / pairs;
  const std::size_t even_out = attention_task_count(o) / (8 * std::max<std::size_t>(threads, 1));
  return std::max<std::size_t>(1, std::min(enough, even_out));
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

/// The score of key `key` for row i after the bias and the visibility parts of the mask, in
/// units of `unit` natural ones (score_unit); keys outside [start, limit) are hidden;
/// `also_hidden`: a mask function hides the key too (Keras's −1e9 is then added once for both).
template <class Arch>
float masked_score(const mask_spec& m, float score, std::size_t b, std::size_t h, std::size_t i,
                   std::size_t key, std::ptrdiff_t limit, float unit = 1.0f,
                   bool also_hidden = false, std::ptrdiff_t start = 0) noexcept {
  if (m.bias[0].data) score += (m.bias[0].of(b, h, i, key) + m.bias[1].of(b, h, i, key)) * unit;
  const bool hidden = also_hidden || static_cast<std::ptrdiff_t>(key) >= limit ||
                      static_cast<std::ptrdiff_t>(key) < start || m.keep[0].hides(b, h, i, key) ||
                      m.keep[1].hides(b, h, i, key);
  if (!hidden) return score;
  // Keras adds -1e9 in float32 rather than removing the key; reproduce it, bit for bit in
  // natural units (the exact policy).
  return m.policy == fully_masked_rows::minus_1e9_added ? (score / unit + -1e9f) * unit
                                                        : -std::numeric_limits<float>::infinity();
}

/// Units of the scores in the tiled kernel: natural under the exact policy; under the fast one
/// base 2 (the queries scaled by log2 e), so that the softmax takes 2^x, whose fast form skips
/// the range reduction's products (a third of the softmax step's multiplies). Running maxima
/// and partial results are in the same units.
constexpr float score_unit(maths m) noexcept { return m == maths::fast ? 1.44269504088896341f : 1; }

/// e^x of scores in score_unit(M): 2^x under the fast policy.
template <class Arch, maths M>
[[gnu::always_inline]] inline typename simd::ops<Arch>::batch exp_of_scores(
    const typename simd::ops<Arch>::batch& x) noexcept {
  if constexpr (M == maths::fast) return kernels::exp2<Arch, M>(x);
  return kernels::exp<Arch, M>(x);
}

/// One task's query block: where its rows come from and the running softmax of each row.
struct attention_block {
  std::size_t b, h, i0, rows;
  const float* kt;         // this (batch, head)'s transposed keys
  const float* v;          // and value rows
  const float* q;          // rows × key_dim scaled queries (scratch)
  float* acc;              // rows × v_stride value accumulators (scratch)
  std::size_t query_rows;  // rows of the query_dot table, else 0
  std::size_t value_rows;  // rows of the value function's table, else 0
  float* query_terms;      // rows × query_rows: q_r · table[t] in natural units (scratch)
  float* mass;             // rows × value_rows: each table row's probability mass, as acc
  // Each row may see keys [start, limit) (start 0 unless a mask function starts its keys).
  std::ptrdiff_t start[attention_query_block];
  std::ptrdiff_t limit[attention_query_block];
  float row_max[attention_query_block];
  // Each row's running Σ e^(s − m) as the lanes of a register while the key tiles run (a
  // horizontal sum per row and tile was the softmax's longest chain on AVX-512), and their
  // total once they end.
  static constexpr std::size_t sum_lanes = 16;  // the widest register's floats
  alignas(64) float row_sum_lanes[attention_query_block][sum_lanes];
  float row_sum[attention_query_block];
  // Some key of the row is not masked. Kept apart from the running maximum so that a NaN
  // score propagates as NaN instead of passing for a fully masked row.
  bool seen[attention_query_block];
};

/// Covers [0, extent) floats in passes of registers of W floats: `Widest` registers while they
/// fit, then four, two and one; pass.template operator()<N>(offset) runs each. Returns where the
/// passes ended (extent rounded up to a register). Score and value passes share it.
template <std::size_t Widest, std::size_t W, class Pass>
std::size_t in_register_passes(std::size_t extent, Pass&& pass) noexcept {
  std::size_t c = 0;
  for (; c + Widest * W <= extent; c += Widest * W) pass.template operator()<Widest>(c);
  if constexpr (Widest > 4)
    for (; c + 4 * W <= extent; c += 4 * W) pass.template operator()<4>(c);
  if constexpr (Widest > 2)
    for (; c + 2 * W <= extent; c += 2 * W) pass.template operator()<2>(c);
  for (; c < extent; c += W) pass.template operator()<1>(c);
  return c;
}

/// acc[r] = acc[r]·correction[r] + Σ_j p[r][j]·v[j] over C registers of columns from `c`
/// (accumulator rows `vs` floats apart, value rows `v_row`).
/// Never inlined, like score_pass: inlined into attend_key_tile, GCC 12 stored each loaded
/// value register to the stack on every key (three stores per 12 FMAs; 2–10% of the AVX2
/// core).
template <class Arch, std::size_t R, std::size_t C, std::size_t T>
[[gnu::noinline]] void accumulate_values(float* acc, std::size_t vs, const float* v,
                                         std::size_t v_row, std::size_t count,
                                         const float (&p)[R][T], const float (&correction)[R],
                                         std::size_t c) noexcept {
  using O = simd::ops<Arch>;
  using batch = typename O::batch;
  constexpr std::size_t W = O::width;
  // The tile's Σ p·v starts from zero and the rescaled accumulator joins it at the end, so that
  // the products need not wait for the correction's exponential.
  batch a[R][C];
  TYPEFORMER_UNROLL_REGISTER_LOOP
  for (std::size_t r = 0; r < R; ++r) {
    TYPEFORMER_UNROLL_REGISTER_LOOP
    for (std::size_t n = 0; n < C; ++n) a[r][n] = O::splat(0.0f);
  }
#pragma GCC unroll 2  // two keys per iteration: less loop bookkeeping per FMA, as in the GEMM
  for (std::size_t j = 0; j < count; ++j) {
    batch vj[C];
    TYPEFORMER_UNROLL_REGISTER_LOOP
    for (std::size_t n = 0; n < C; ++n) {
      vj[n] = O::load(v + j * v_row + c + n * W);
      if constexpr (R > 1) O::keep_in_register(vj[n]);  // one row: the load folds into its FMA
    }
    TYPEFORMER_UNROLL_REGISTER_LOOP
    for (std::size_t r = 0; r < R; ++r) {
      const batch pr = O::splat(p[r][j]);
      TYPEFORMER_UNROLL_REGISTER_LOOP
      for (std::size_t n = 0; n < C; ++n) a[r][n] = O::fma(pr, vj[n], a[r][n]);
    }
  }
  TYPEFORMER_UNROLL_REGISTER_LOOP
  for (std::size_t r = 0; r < R; ++r) {
    const batch scale = O::splat(correction[r]);
    TYPEFORMER_UNROLL_REGISTER_LOOP
    for (std::size_t n = 0; n < C; ++n) {
      float* out = acc + r * vs + c + n * W;
      O::store(out, O::fma(O::load(out), scale, a[r][n]));
    }
  }
}

/// p[·][c0, c0 + NV·W) = q·kᵀ for R query rows (row stride key_dim) and NV registers of keys
/// of a transposed key tile in a stored block of key_block keys. Its own function, so that the R×NV
/// accumulators are registers from start to end. No software prefetch: a lone row (decoding)
/// prefetching the next key and value tile as it went ran 20% slower on Zen 3 than leaving the
/// streams to the hardware prefetchers, from L3 and from memory alike (probably because the
/// prefetches compete with the loads for load slots and miss buffers).
template <class Arch, std::size_t R, std::size_t NV, std::size_t T>
[[gnu::noinline]] void score_pass(const float* q, std::size_t key_dim, const float* kt,
                                  std::size_t key_block, std::size_t c0,
                                  float (&p)[R][T]) noexcept {
  using O = simd::ops<Arch>;
  using batch = typename O::batch;
  constexpr std::size_t W = O::width;
  batch s[R][NV];
  TYPEFORMER_UNROLL_REGISTER_LOOP
  for (std::size_t r = 0; r < R; ++r) {
    TYPEFORMER_UNROLL_REGISTER_LOOP
    for (std::size_t n = 0; n < NV; ++n) s[r][n] = O::splat(0.0f);
  }
#pragma GCC unroll 2  // as in accumulate_values
  for (std::size_t d = 0; d < key_dim; ++d) {
    batch k[NV];
    TYPEFORMER_UNROLL_REGISTER_LOOP
    for (std::size_t n = 0; n < NV; ++n) {
      k[n] = O::load(kt + d * key_block + c0 + n * W);
      if constexpr (R > 1) O::keep_in_register(k[n]);  // one row: the load folds into its FMA
    }
    TYPEFORMER_UNROLL_REGISTER_LOOP
    for (std::size_t r = 0; r < R; ++r) {
      const batch qd = O::splat(q[r * key_dim + d]);
      TYPEFORMER_UNROLL_REGISTER_LOOP
      for (std::size_t n = 0; n < NV; ++n) s[r][n] = O::fma(qd, k[n], s[r][n]);
    }
  }
  TYPEFORMER_UNROLL_REGISTER_LOOP
  for (std::size_t r = 0; r < R; ++r) {
    TYPEFORMER_UNROLL_REGISTER_LOOP
    for (std::size_t n = 0; n < NV; ++n) O::store(p[r] + c0 + n * W, s[r][n]);
  }
}

/// p = q·kᵀ for R query rows and the first `count` keys of one transposed key tile (at least;
/// whole registers), in passes of as many key registers as the register file holds for R rows.
/// Whole registers past `count` are zero; the caller masks every score past `count`.
template <class Arch, std::size_t R, std::size_t T>
void tile_scores(const float* q, std::size_t key_dim, const float* kt, std::size_t key_block,
                 std::size_t count, float (&p)[R][T]) noexcept {
  constexpr std::size_t W = simd::ops<Arch>::width;
  constexpr std::size_t NV = std::min(T / W, attention_pass_registers<Arch, R>);
  // Only the registers that hold keys: a short sequence's five keys take one register, not a
  // pass of NV.
  const std::size_t end = in_register_passes<NV, W>(
      std::min(T, simd::round_up(count, W)), [&]<std::size_t N>(std::size_t c0) {
        score_pass<Arch, R, N>(q, key_dim, kt, key_block, c0, p);
      });
  for (std::size_t r = 0; r < R; ++r) std::fill(p[r] + end, p[r] + T, 0.0f);
}

/// Each row's query_dot products with the table rows its indices reach over the whole call's
/// keys, in natural units (the queries are scaled by score_unit), and zero value-row masses.
template <class Arch, class F>
void start_row_terms(const attention_operands& o, [[maybe_unused]] const F& f,
                     attention_block& blk) noexcept {
  if constexpr (F::has_query_dot) {
    // No keys, no scores: and no key box to bound the index over.
    const std::size_t rows = o.key_len == 0 ? 0 : blk.rows;
    const float to_natural = 1.0f / score_unit(o.softmax_maths);
    for (std::size_t r = 0; r < rows; ++r) {
      const std::size_t i = blk.i0 + r;
      const expr::interval reach = f.query_index_bounds(blk.b, blk.h, i, i, 0, o.key_len - 1);
      for (auto t = static_cast<std::size_t>(reach.lo); t <= static_cast<std::size_t>(reach.hi);
           ++t)
        blk.query_terms[r * blk.query_rows + t] =
            dot<Arch>(blk.q + r * o.key_dim, f.query_row(t), o.key_dim) * to_natural;
    }
  }
  if constexpr (F::has_value_rows) std::fill_n(blk.mass, blk.rows * blk.value_rows, 0.0f);
}

/// Adds a row's tile probabilities (unnormalised, as acc holds them) to its masses per value
/// row, after rescaling them by the row's correction.
/// `tile_row` is the value row of the whole micro-tile, or no_shared_row (found per row).
template <class Arch, class F, std::size_t T>
void accumulate_value_mass(const F& f, attention_block& blk, std::size_t row, std::size_t j0,
                           std::size_t count, std::size_t last_key, std::size_t tile_row,
                           const float (&p)[T], float correction, float tile_sum) noexcept {
  using O = simd::ops<Arch>;
  constexpr std::size_t W = O::width;
  float* mass = blk.mass + row * blk.value_rows;
  if (correction != 1.0f)
    for (std::size_t t = 0; t < blk.value_rows; ++t) mass[t] *= correction;
  const std::size_t i = blk.i0 + row;
  const std::size_t shared =
      tile_row != no_shared_row
          ? tile_row
          : shared_row(f.value_index_bounds(blk.b, blk.h, i, i, j0, j0 + count - 1));
  if (shared != no_shared_row) {
    mass[shared] += tile_sum;
    return;
  }
  // Keys past `count` have probability 0; their lanes read the last key's index.
  for (std::size_t c = 0; c < count; c += W) {
    const auto at = lanes_at<Arch>(O::splat(0.0f), *f.operands, blk.b, blk.h, f.query_offset + i,
                                   j0 + c, last_key);
    const auto rows = expr::evaluate_function(F::value_index(), at);
    if constexpr (W == 1) {
      mass[static_cast<std::size_t>(rows)] += p[c];
    } else {
      alignas(64) float lanes[W];
      rows.store_aligned(lanes);
      for (std::size_t w = 0; w < W; ++w) mass[static_cast<std::size_t>(lanes[w])] += p[c + w];
    }
  }
}

/// acc += Σ_t mass_t·table[t] for one row of the block, before the division by the row's sum.
template <class Arch, class F>
void add_value_rows(const attention_operands& o, const F& f, attention_block& blk,
                    std::size_t row) noexcept {
  using O = simd::ops<Arch>;
  constexpr std::size_t W = O::width;
  float* acc = blk.acc + row * o.v_stride;
  const float* mass = blk.mass + row * blk.value_rows;
  const std::size_t vector_end = o.value_dim / W * W;
  for (std::size_t t = 0; t < blk.value_rows; ++t) {
    if (mass[t] == 0.0f) continue;
    const float* rv = f.value_row(t);
    const auto m = O::splat(mass[t]);
    std::size_t c = 0;
    for (; c < vector_end; c += W) O::store(acc + c, O::fma(m, O::load(rv + c), O::load(acc + c)));
    for (; c < o.value_dim; ++c) acc[c] = std::fma(mass[t], rv[c], acc[c]);
  }
}

/// The online softmax of a micro-tile: raises each row's running maximum m to the tile's, turns
/// the scores into e^(s − m) and adds them to the row's sum; correction[r] = e^(m_old − m_new)
/// is what the row's accumulator must be scaled by. The policy is a template argument so that
/// the exponential is inlined and a row's registers of it overlap (called through the run-time
/// policy switch, it was a call per register that waited on its own result: 13% of the core).
/// The rows go through each step side by side, and the corrections of up to a register of rows
/// through one vector exponential rather than a libm call per row (after which GCC reloaded
/// every constant of the exp): with the running sums kept in lanes, 8% off the (1, 2048, 8)
/// core on AVX-512.
template <class Arch, maths M, std::size_t R, std::size_t T, class F>
void exponentiate_scores(const attention_operands& o, [[maybe_unused]] const F& f,
                         attention_block& blk, std::size_t r0, [[maybe_unused]] std::size_t j0,
                         [[maybe_unused]] std::size_t count,
                         [[maybe_unused]] std::size_t value_tile_row, float (&p)[R][T],
                         float (&correction)[R]) noexcept {
  using O = simd::ops<Arch>;
  using batch = typename O::batch;
  constexpr std::size_t W = O::width;
  constexpr std::size_t NV = T / W;
  constexpr float neg_inf = -std::numeric_limits<float>::infinity();
  // The exponents of the corrections, padded with zeros to whole registers.
  alignas(64) float exponent[simd::round_up(R, W)] = {};
  float new_max[R];
  TYPEFORMER_UNROLL_REGISTER_LOOP
  for (std::size_t r = 0; r < R; ++r) {
    batch tile_max = O::load(p[r]);
    TYPEFORMER_UNROLL_REGISTER_LOOP
    for (std::size_t n = 1; n < NV; ++n) tile_max = O::max(tile_max, O::load(p[r] + n * W));
    const float row_max = blk.row_max[r0 + r];
    new_max[r] = std::max(row_max, O::max_of(tile_max));
    // A row with nothing visible yet keeps its correction at e^0.
    if (new_max[r] != neg_inf) exponent[r] = row_max - new_max[r];
  }
  // A tile that does not raise a row's maximum must leave the row exactly as it is: the fast
  // 2^0 is 1.00000012, and a long row that multiplied its sum and accumulator by it once per
  // tile drifted from the true result by 2e-5 relative at 4096 keys on the scalar path.
  if constexpr (W == 1) {
    for (std::size_t r = 0; r < R; ++r)
      exponent[r] = exponent[r] == 0.0f ? 1.0f : exp_of_scores<Arch, M>(exponent[r]);
  } else {
    // The exponents go into registers by lane selects, not through `exponent`: a register
    // loaded from just-stored single floats waits for the stores to retire (store-to-load
    // forwarding fails), and that wait was 5% of this step on AVX2.
    alignas(64) static constexpr float lane_numbers[16] = {0, 1, 2,  3,  4,  5,  6,  7,
                                                           8, 9, 10, 11, 12, 13, 14, 15};
    static_assert(W <= 16);
    const batch lane = O::load(lane_numbers);
    TYPEFORMER_UNROLL_REGISTER_LOOP
    for (std::size_t g = 0; g < R; g += W) {
      batch e = O::splat(0.0f);
      for (std::size_t r = g; r < std::min(R, g + W); ++r)
        e = xsimd::select(lane == O::splat(static_cast<float>(r - g)), O::splat(exponent[r]), e);
      O::store(exponent + g,
               xsimd::select(e == O::splat(0.0f), O::splat(1.0f), exp_of_scores<Arch, M>(e)));
    }
  }
  TYPEFORMER_UNROLL_REGISTER_LOOP
  for (std::size_t r = 0; r < R; ++r) {
    correction[r] = exponent[r];
    if (new_max[r] == neg_inf) {  // nothing visible yet in this row
      std::fill_n(p[r], T, 0.0f);
      continue;
    }
    blk.row_max[r0 + r] = new_max[r];
    batch sum = O::splat(0.0f);
    const batch shift = O::splat(new_max[r]);
    TYPEFORMER_UNROLL_REGISTER_LOOP
    for (std::size_t n = 0; n < NV; ++n) {
      const batch e = exp_of_scores<Arch, M>(O::load(p[r] + n * W) - shift);
      O::store(p[r] + n * W, e);
      sum = sum + e;
    }
    float* lanes = blk.row_sum_lanes[r0 + r];
    O::store(lanes, O::fma(O::load(lanes), O::splat(correction[r]), sum));
    if constexpr (F::has_value_rows)
      accumulate_value_mass<Arch>(f, blk, r0 + r, j0, count, o.key_len - 1, value_tile_row, p[r],
                                  correction[r], O::sum(sum));
  }
}

/// Rows [r0, r0 + R) of the block against keys [j0, j0 + count); keys of the tile past `count`
/// (past the key length, or past every key the rows may see) count as masked.
template <class Arch, std::size_t R, class F>
void attend_key_tile(const attention_operands& o, const mask_spec& m, [[maybe_unused]] const F& f,
                     attention_block& blk, std::size_t r0, std::size_t j0, std::size_t count,
                     [[maybe_unused]] expr::tile_class tile) noexcept {
  constexpr std::size_t W = simd::ops<Arch>::width;
  constexpr std::size_t T = attention_key_tile<Arch>;
  constexpr float neg_inf = -std::numeric_limits<float>::infinity();

  // Scores for R rows × T keys; keys past `count` (padding, which may hold anything, and short
  // sequences' missing keys) are not computed where a whole register lies past it, and are
  // masked below in any case.
  alignas(64) float p[R][T];
  const std::size_t key_block = stored_key_block(o.key_capacity);
  tile_scores<Arch>(blk.q + r0 * o.key_dim, o.key_dim,
                    blk.kt + transposed_key_offset(0, j0, o.key_dim, key_block), key_block, count,
                    p);
  const float unit = score_unit(o.softmax_maths);
  // The table rows the whole micro-tile's indices are, where they are one (Shaw's key tiles
  // beyond ±K): one interval bound per micro-tile rather than one per row.
  const std::size_t i_first = blk.i0 + r0, i_last = blk.i0 + r0 + R - 1;
  [[maybe_unused]] std::size_t query_tile_row = no_shared_row, value_tile_row = no_shared_row;
  if constexpr (F::has_query_dot)
    query_tile_row =
        shared_row(f.query_index_bounds(blk.b, blk.h, i_first, i_last, j0, j0 + count - 1));
  if constexpr (F::has_value_rows)
    value_tile_row =
        shared_row(f.value_index_bounds(blk.b, blk.h, i_first, i_last, j0, j0 + count - 1));
  if constexpr (F::has_score)
    apply_score_function<Arch>(f, blk.b, blk.h, blk.i0 + r0, j0, count, o.key_len - 1, unit,
                               blk.query_terms + r0 * blk.query_rows, blk.query_rows,
                               query_tile_row, p);
  [[maybe_unused]] bool seen_before[R];
  if constexpr (F::has_element_mask) std::copy_n(blk.seen + r0, R, seen_before);

  // Masks, element by element only where the tile needs it.
  std::ptrdiff_t min_limit = blk.limit[r0], max_start = blk.start[r0];
  for (std::size_t r = 1; r < R; ++r) {
    min_limit = std::min(min_limit, blk.limit[r0 + r]);
    max_start = std::max(max_start, blk.start[r0 + r]);
  }
  const auto first = static_cast<std::ptrdiff_t>(j0);
  const bool whole_tile_visible = count == T && !m.has_element_parts() &&
                                  first + static_cast<std::ptrdiff_t>(T) <= min_limit &&
                                  first >= max_start;
  if (whole_tile_visible) {
    for (std::size_t r = 0; r < R; ++r) blk.seen[r0 + r] = true;
  } else if (!m.has_element_parts() && m.policy != fully_masked_rows::minus_1e9_added) {
    // Only lengths, causality, a window's start and the tile's end hide keys: each row sees a
    // contiguous part of the tile. (Short sequences and causal diagonals: element by element,
    // this was 8% of (64, 5, 512, 8).)
    const auto in_tile = [&](std::ptrdiff_t key) {
      return static_cast<std::size_t>(
          std::clamp<std::ptrdiff_t>(key - first, 0, static_cast<std::ptrdiff_t>(count)));
    };
    for (std::size_t r = 0; r < R; ++r) {
      const std::size_t begin = in_tile(blk.start[r0 + r]), end = in_tile(blk.limit[r0 + r]);
      std::fill(p[r], p[r] + begin, neg_inf);
      std::fill(p[r] + std::max(begin, end), p[r] + T, neg_inf);
      blk.seen[r0 + r] = blk.seen[r0 + r] || end > begin;
    }
  } else {
    // Under Keras's policy a key that the typed mask and a mask function both hide gets −1e9
    // once: the function is evaluated here, key by key (a rare case: Keras has no functions).
    [[maybe_unused]] const bool function_here = F::has_element_mask &&
                                                m.policy == fully_masked_rows::minus_1e9_added &&
                                                tile != expr::tile_class::full;
    for (std::size_t r = 0; r < R; ++r) {
      const std::size_t i = blk.i0 + r0 + r;
      bool seen = blk.seen[r0 + r];
      for (std::size_t j = 0; j < T; ++j) {
        if (j >= count) {
          p[r][j] = neg_inf;
          continue;
        }
        bool function_hides = false;
        if constexpr (F::has_element_mask)
          function_hides =
              function_here &&
              !scalar_mask_function<F::mask>(*f.operands, blk.b, blk.h, f.query_offset + i, j0 + j);
        p[r][j] = masked_score<Arch>(m, p[r][j], blk.b, blk.h, i, j0 + j, blk.limit[r0 + r], unit,
                                     function_hides, blk.start[r0 + r]);
        seen = seen || p[r][j] != neg_inf;
      }
      blk.seen[r0 + r] = seen;
    }
  }
  if constexpr (F::has_element_mask) {
    const bool done_above = m.policy == fully_masked_rows::minus_1e9_added && !whole_tile_visible;
    if (tile != expr::tile_class::full && !done_above) {
      // Keras's policy adds −1e9 where the whole mask hides a key (in a tile its key limits
      // leave whole, nothing else hides one); otherwise the limits have hidden the keys past
      // them.
      const std::size_t q0 = f.query_offset + blk.i0 + r0;
      if (m.policy == fully_masked_rows::minus_1e9_added)
        apply_mask_function<Arch, F::mask>(*f.operands, blk.b, blk.h, q0, j0, count, o.key_len - 1,
                                           unit, true, p);
      else
        apply_mask_function<Arch, F::element_mask>(*f.operands, blk.b, blk.h, q0, j0, count,
                                                   o.key_len - 1, unit, false, p);
      for (std::size_t r = 0; r < R; ++r) {
        bool seen = seen_before[r];
        for (std::size_t j = 0; j < count && !seen; ++j)
          seen = p[r][j] != -std::numeric_limits<float>::infinity();
        blk.seen[r0 + r] = seen;
      }
    }
  }

  float correction[R];
  if (o.softmax_maths == maths::fast)
    exponentiate_scores<Arch, maths::fast>(o, f, blk, r0, j0, count, value_tile_row, p, correction);
  else
    exponentiate_scores<Arch, maths::exact>(o, f, blk, r0, j0, count, value_tile_row, p,
                                            correction);

  // Value columns in passes of attention_pass_registers (two on the scalar path), then four,
  // two and one for the rest.
  constexpr std::size_t C = W > 1 ? attention_pass_registers<Arch, R> : 2;
  const std::size_t vs = o.v_stride, v_row = o.value_row_stride();
  float* acc = blk.acc + r0 * vs;
  const float* v = blk.v + j0 * v_row;
  in_register_passes<C, W>(vs, [&]<std::size_t N>(std::size_t c) {
    accumulate_values<Arch, R, N>(acc, vs, v, v_row, count, p, correction, c);
  });
}

/// Asks for the cache lines of `floats` floats from `row` ahead of their use (to write them
/// when `ForWriting`). Prefetches never fault, and a row is always inside its buffer here.
/// Always inlined: GCC 12 finds a function whose only statements are prefetches free of side
/// effects (its interprocedural pure-const analysis) and deletes every call to it, which left
/// the kernel without a single prefetch instruction until session 57.
/// Rows to be read are asked for with locality 1 (prefetcht2 on x86): 1-2% faster than into L1
/// on the documents below, whose blocks' other data is in L1 meanwhile.
template <bool ForWriting = false>
[[gnu::always_inline]] inline void prefetch_row(const float* row, std::size_t floats) noexcept {
  const auto* bytes = reinterpret_cast<const char*>(row);
  for (std::size_t at = 0; at < floats * sizeof(float); at += 64)
    __builtin_prefetch(bytes + at, ForWriting ? 1 : 0, ForWriting ? 3 : 1);
}

/// Prefetches rows [first, last) of what the block writes and the next block reads from
/// memory: the block's output rows (for writing), and the query rows of the block that runs
/// next (i0 − 128, since a pair's blocks run last first, or the next pair's last) with the value
/// rows of its diagonal keys; and, where the caller copies each pair's keys just before its
/// blocks run (o.next_pair_keys), the key rows of the block's own index that the next copy reads.
/// A block that computes few tiles (a sliding window, packed documents) otherwise waits on each
/// in turn. Measured on 16 documents at (8, 12, 1024), one thread (probe, alternating runs, Zen 4):
/// issued two rows before and two after each micro-tile, 22.8-23.4 -> 19.2-19.9 ms (four rows at
/// once, 48 cache lines, ran 3-4% slower: the prefetches waited for the core's miss buffers); the
/// next copy's keys, 18.4-19.2 -> 17.5-17.8 ms. Streaming stores for the output rows instead of
/// their prefetch gained nothing.
[[gnu::always_inline]] inline void prefetch_rows_ahead(const attention_operands& o,
                                                       const attention_block& blk,
                                                       std::size_t first,
                                                       std::size_t last) noexcept {
  constexpr std::size_t QB = attention_query_block;
  for (std::size_t r = first; r < last; ++r) {
    prefetch_row<true>(o.out + blk.b * o.out_batch + blk.h * o.out_head + (blk.i0 + r) * o.out_row,
                       o.value_dim);
    if (o.next_pair_keys != nullptr && blk.i0 + r < o.key_len)
      prefetch_row(o.next_pair_keys + (blk.i0 + r) * o.next_pair_key_row, o.key_dim);
    if (blk.i0 < QB) {
      // The pair's last block: the first block of the pair that usually runs next (the same
      // thread's), whose rows nothing else prefetches. 1-2% of the documents' call.
      const std::size_t pair = blk.b * o.heads + blk.h + 1;
      const std::size_t row = (o.query_len - 1) / QB * QB + r;
      if (pair >= o.batch * o.heads || row >= o.query_len) continue;
      const std::size_t b = pair / o.heads, h = pair % o.heads;
      prefetch_row(o.q + b * o.q_batch + h * o.q_head + row * o.q_row, o.key_dim);
      if (o.v_row != 0 && row < o.key_len)  // values read in place
        prefetch_row(o.value_block(b, h) + row * o.v_row, o.value_dim);
      continue;
    }
    const std::size_t next = blk.i0 - QB + r;
    prefetch_row(o.q + blk.b * o.q_batch + blk.h * o.q_head + next * o.q_row, o.key_dim);
    if (next < o.key_len) prefetch_row(blk.v + next * o.value_row_stride(), o.value_dim);
  }
}

/// Runs the block of query rows [i0, i0 + 128) of (b, h) over the keys in [key_begin, key_stop)
/// (key_begin a multiple of the key tile), leaving each row's running (max, sum, accumulator)
/// in `blk`.
template <class Arch, class F>
void attend_query_block(const attention_operands& o, const mask_spec& m,
                        [[maybe_unused]] const F& f, float* scratch, attention_block& blk,
                        std::size_t b, std::size_t h, std::size_t i0, std::size_t key_begin,
                        std::size_t key_stop) noexcept {
  constexpr std::size_t QB = attention_query_block;
  constexpr std::size_t R = attention_query_tile;
  constexpr std::size_t T = attention_key_tile<Arch>;
  constexpr std::size_t W = simd::ops<Arch>::width;
  constexpr std::size_t group_rows = 32;  // rows classified together within a partial tile
  static_assert(QB % group_rows == 0 && group_rows % R == 0);
  [[maybe_unused]] constexpr auto unclassified = static_cast<expr::tile_class>(-1);
  // A lone short block (stored_key_block) is narrower than a 64-key tile: the tile's whole
  // registers of keys must still lie within it.
  static_assert(attention_key_block % T == 0 && attention_short_key_multiple % W == 0 &&
                    (T >= attention_key_block || attention_short_key_multiple % T == 0) &&
                    attention_value_stride_multiple % W == 0,
                "a key tile must divide the stored key blocks it spans, and a register a short "
                "key block and the value stride");
  static_assert(QB % R == 0 && W <= attention_block::sum_lanes);
  constexpr float neg_inf = -std::numeric_limits<float>::infinity();
  // Under Keras's −1e9 policy masked keys still weigh in a fully masked row: no skipping.
  const bool may_skip = m.policy != fully_masked_rows::minus_1e9_added;
  const std::size_t vs = o.v_stride;
  blk.q = scratch;
  blk.acc = scratch + QB * o.key_dim;
  blk.b = b, blk.h = h, blk.i0 = i0;
  blk.rows = std::min(QB, o.query_len - i0);
  const float q_scale = o.q_scale * score_unit(o.softmax_maths);
  blk.kt = o.key_block(b, h);
  blk.v = o.value_block(b, h);

  std::ptrdiff_t max_limit = 0;
  // The first key any row with keys to see may see: the block's key tiles start there.
  auto min_start = static_cast<std::ptrdiff_t>(o.key_len);
  for (std::size_t r = 0; r < blk.rows; ++r) {
    const std::size_t i = i0 + r;
    const float* q = o.q + b * o.q_batch + h * o.q_head + i * o.q_row;
    float* scaled = scratch + r * o.key_dim;
    const auto scale = simd::ops<Arch>::splat(q_scale);
    std::size_t d = 0;
    for (; d + W <= o.key_dim; d += W)
      simd::ops<Arch>::store(scaled + d, simd::ops<Arch>::load(q + d) * scale);
    for (; d < o.key_dim; ++d) scaled[d] = q[d] * q_scale;
    blk.limit[r] = visible_key_limit<Arch>(o, m, b, i);
    blk.start[r] = 0;
    // The mask function's row conditions and key bounds bound the row like a typed mask's.
    if constexpr (F::has_key_ranges) {
      const expr::key_range keys = f.row_keys(b, h, i, o.key_len);
      blk.limit[r] = std::min(blk.limit[r], static_cast<std::ptrdiff_t>(keys.end));
      blk.start[r] = static_cast<std::ptrdiff_t>(keys.begin);
      if (blk.start[r] >= blk.limit[r]) blk.start[r] = blk.limit[r] = 0;  // sees no key
    }
    max_limit = std::max(max_limit, blk.limit[r]);
    if (blk.limit[r] > 0) min_start = std::min(min_start, blk.start[r]);
    blk.row_max[r] = neg_inf;
    std::fill_n(blk.row_sum_lanes[r], W, 0.0f);
    blk.seen[r] = false;
  }
  std::fill_n(blk.acc, blk.rows * vs, 0.0f);
  if constexpr (F::has_query_dot || F::has_value_rows) {
    blk.query_rows = f.query_rows();
    blk.value_rows = f.value_rows();
  } else {
    blk.query_rows = blk.value_rows = 0;
  }
  blk.query_terms = blk.acc + QB * vs;
  blk.mass = blk.query_terms + QB * blk.query_rows;
  start_row_terms<Arch>(o, f, blk);
  const std::size_t key_end =
      std::min(key_stop, may_skip ? static_cast<std::size_t>(max_limit) : o.key_len);
  // A window's rows start past 0: the key tiles before every row's first key are not visited
  // (classifying each of them was most of a long sliding window's classification).
  std::size_t key_first = key_begin;
  if constexpr (F::has_key_starts)
    if (may_skip && min_start > 0)
      key_first = std::max(key_begin, static_cast<std::size_t>(min_start) / T * T);

  // Where the rows' key limits hide the keys past them, a tile is classified by the mask's
  // element conjuncts alone (a causal diagonal is then full for a sliding window's).
  [[maybe_unused]] const auto classify = [&](std::size_t i_first, std::size_t i_last,
                                             std::size_t j_first, std::size_t j_last) {
    return may_skip ? f.classify_elements(b, h, i_first, i_last, j_first, j_last)
                    : f.classify(b, h, i_first, i_last, j_first, j_last);
  };
  // Rows of prefetch_rows_ahead issued: only where a mask function may end rows early (without
  // one the blocks are long; the plain kernel's code stays as it was, 4% faster at (8, 12, 128)).
  constexpr bool prefetch_ahead = F::has_key_ranges || F::has_element_mask;
  [[maybe_unused]] std::size_t prefetched = 0;
  const auto prefetch_some_rows = [&] {
    if constexpr (prefetch_ahead)
      if (prefetched < blk.rows) {
        const std::size_t until = std::min(blk.rows, prefetched + (R + 1) / 2);
        prefetch_rows_ahead(o, blk, prefetched, until);
        prefetched = until;
      }
  };
  for (std::size_t j0 = key_first; j0 < key_end; j0 += T) {
    const std::size_t count = std::min(T, o.key_len - j0);
    // The mask function's class of the key tile for the whole block first: most tiles of a
    // long row are empty or full for all 128 rows (classifying each micro-tile against every
    // key tile cost a quarter of a sliding window's time at 32768 keys).
    [[maybe_unused]] expr::tile_class block_tile = expr::tile_class::full;
    if constexpr (F::has_element_mask) {
      block_tile = classify(i0, i0 + blk.rows - 1, j0, j0 + count - 1);
      if (may_skip && block_tile == expr::tile_class::empty) continue;
    }
    // Where the block's tile is partial, each group of 32 rows is classified once, on its first
    // micro-tile, and its micro-tiles take its class unless it is partial too: packed documents
    // of 64 rows make every group empty or full, and classifying each micro-tile was 5% of
    // their call.
    [[maybe_unused]] expr::tile_class group_tile[QB / group_rows];
    if constexpr (F::has_element_mask) std::fill_n(group_tile, QB / group_rows, unclassified);
    for (std::size_t r0 = 0; r0 < blk.rows; r0 += R) {
      const std::size_t n = std::min(R, blk.rows - r0);
      // Keys of the tile that some row of the micro-tile may see: on a causal diagonal only
      // the first few, and the scores and values past them are neither computed nor read.
      std::size_t keys = count;
      if (may_skip) {
        const std::ptrdiff_t seen =
            *std::max_element(blk.limit + r0, blk.limit + r0 + n) - static_cast<std::ptrdiff_t>(j0);
        if (seen <= 0) continue;  // every row of the micro-tile is done before this key tile
        keys = std::min(count, static_cast<std::size_t>(seen));
        if constexpr (F::has_key_starts) {
          // Every row of the micro-tile starts after this key tile.
          if (*std::min_element(blk.start + r0, blk.start + r0 + n) >=
              static_cast<std::ptrdiff_t>(j0 + keys))
            continue;
        }
      }
      // The mask function's class of the tile: empty tiles are skipped, and the registers of
      // keys past the last that may be seen are not computed.
      expr::tile_class tile = expr::tile_class::full;
      if constexpr (F::has_element_mask) {
        const std::size_t i_first = i0 + r0, i_last = i0 + r0 + n - 1;
        tile = block_tile;
        if (tile == expr::tile_class::partial) {
          expr::tile_class& group = group_tile[r0 / group_rows];
          if (group == unclassified) {
            const std::size_t g0 = r0 / group_rows * group_rows;
            group =
                classify(i0 + g0, i0 + std::min(blk.rows, g0 + group_rows) - 1, j0, j0 + count - 1);
          }
          tile = group == expr::tile_class::partial ? classify(i_first, i_last, j0, j0 + keys - 1)
                                                    : group;
        }
        if (may_skip && tile == expr::tile_class::empty) continue;
        if (may_skip && tile == expr::tile_class::partial)
          while (keys > W) {
            const std::size_t last_register = (keys - 1) / W * W;
            if (classify(i_first, i_last, j0 + last_register, j0 + keys - 1) !=
                expr::tile_class::empty)
              break;
            keys = last_register;
          }
      }
      prefetch_some_rows();
      switch (n) {
        case 1:
          attend_key_tile<Arch, 1>(o, m, f, blk, r0, j0, keys, tile);
          break;
        case 2:
          attend_key_tile<Arch, 2>(o, m, f, blk, r0, j0, keys, tile);
          break;
        case 3:
          attend_key_tile<Arch, 3>(o, m, f, blk, r0, j0, keys, tile);
          break;
        default:
          attend_key_tile<Arch, R>(o, m, f, blk, r0, j0, keys, tile);
          break;
      }
      prefetch_some_rows();
    }
  }
  for (std::size_t r = 0; r < blk.rows; ++r)
    blk.row_sum[r] = simd::ops<Arch>::sum(simd::ops<Arch>::load(blk.row_sum_lanes[r]));
}

/// out = acc / sum for a row whose running values are (seen, sum, acc); a row that saw no key
/// gets the fully-masked-row policy's fill.
template <class Arch>
void write_attention_row(const attention_operands& o, const mask_spec& m, std::size_t b,
                         std::size_t h, std::size_t i, bool seen, float sum,
                         const float* acc) noexcept {
  float* out = o.out + b * o.out_batch + h * o.out_head + i * o.out_row;
  if (seen) {
    // A NaN score makes the sum NaN (or leaves it 0 when the maximum skipped it): both give
    // NaN here, as the frameworks do.
    // In registers by hand: GCC's -O2 cost model leaves loops with a tail scalar (4% of a
    // short sequence's core). Division, not a reciprocal, so the bits are the same either way.
    using O = simd::ops<Arch>;
    constexpr std::size_t W = O::width;
    const auto divisor = O::splat(sum);
    std::size_t c = 0;
    for (; c + W <= o.value_dim; c += W) O::store(out + c, O::load(acc + c) / divisor);
    for (; c < o.value_dim; ++c) out[c] = acc[c] / sum;
  } else {
    const float fill =
        m.policy == fully_masked_rows::nan ? std::numeric_limits<float>::quiet_NaN() : 0.0f;
    std::fill_n(out, o.value_dim, fill);
  }
}

}  // namespace detail

/// Runs tasks [task_begin, task_end) of `attention_task_count(o)`; `scratch` holds
/// `attention_scratch_floats(o.key_dim, o.value_dim)` floats.
template <class Arch, class F = no_attention_functions>
void flash_attention(const attention_operands& o, const mask_spec& m, float* scratch,
                     std::size_t task_begin, std::size_t task_end, const F& f = {}) noexcept {
  constexpr std::size_t QB = attention_query_block;
  const std::size_t blocks = (o.query_len + QB - 1) / QB;
  detail::attention_block blk;
  for (std::size_t task = task_begin; task < task_end; ++task) {
    const std::size_t pair = task / blocks;
    const std::size_t b = pair / o.heads, h = pair % o.heads;
    const std::size_t block = blocks - 1 - task % blocks;
    detail::attend_query_block<Arch>(o, m, f, scratch, blk, b, h, block * QB, 0, o.key_len);
    for (std::size_t r = 0; r < blk.rows; ++r) {
      if constexpr (F::has_value_rows)
        if (blk.seen[r]) detail::add_value_rows<Arch>(o, f, blk, r);
      detail::write_attention_row<Arch>(o, m, b, h, blk.i0 + r, blk.seen[r], blk.row_sum[r],
                                        blk.acc + r * o.v_stride);
    }
  }
}

// ---- Split keys: one short query block against a long cache ---------------------------------
// Decoding runs one query row per (batch, head) against thousands of cached keys; when those
// tasks are fewer than the threads, each (batch, head)'s keys are split into ranges that run as
// separate tasks, each leaving a partial (max, sum, accumulator) per row, and a second pass
// merges them: m = max m_s, sum = Σ sum_s·e^(m_s − m), acc = Σ acc_s·e^(m_s − m).

/// Query rows up to which a call may split its keys (decoding and short continuations).
inline constexpr std::size_t attention_split_query_rows = 32;

/// (batch, head) pairs below which a short query block's keys are split, so that there are
/// about this many tasks. A shape decides it, not the thread count, so that 1 and 2 threads
/// give the same bits.
inline constexpr std::size_t attention_split_target_tasks = 8;

/// Key ranges per (batch, head): 1 unless the query has at most attention_split_query_rows rows
/// and the (batch, head) pairs are fewer than the target; ranges of at least 512 keys. A call
/// with a value function is not split (its value-row masses are not part of the partial
/// results).
inline std::size_t attention_key_splits(const attention_operands& o,
                                        bool value_rows = false) noexcept {
  const std::size_t pairs = o.batch * o.heads;
  if (o.query_len > attention_split_query_rows || pairs == 0 ||
      pairs >= attention_split_target_tasks || value_rows)
    return 1;
  const std::size_t wanted = (attention_split_target_tasks + pairs - 1) / pairs;
  return std::max<std::size_t>(1, std::min(wanted, o.key_len / 512));
}

/// Floats of the partial results of a split call: per (batch, head, range, row) a maximum, a
/// sum, a seen flag and v_stride accumulators.
inline std::size_t attention_split_floats(const attention_operands& o,
                                          std::size_t splits) noexcept {
  return o.batch * o.heads * splits * o.query_len * (o.v_stride + 3);
}

/// The most attention_split_floats can be for these extents, whatever the key length.
constexpr std::size_t attention_split_floats_at_most(std::size_t batch, std::size_t heads,
                                                     std::size_t query_len,
                                                     std::size_t value_dim) noexcept {
  const std::size_t pairs = batch * heads;
  if (query_len > attention_split_query_rows || pairs == 0 || pairs >= attention_split_target_tasks)
    return 0;
  const std::size_t splits = (attention_split_target_tasks + pairs - 1) / pairs;
  return pairs * splits * query_len * (attention_operands::v_stride_for(value_dim) + 3);
}

/// Runs split tasks [task_begin, task_end) of batch·heads·splits (o.query_len ≤
/// attention_split_query_rows), writing
/// their partial results into `partials` (attention_split_floats(o, splits) floats).
template <class Arch, class F = no_attention_functions>
void flash_attention_split_keys(const attention_operands& o, const mask_spec& m, float* scratch,
                                float* partials, std::size_t splits, std::size_t task_begin,
                                std::size_t task_end, const F& f = {}) noexcept {
  constexpr std::size_t T = attention_key_block;  // a multiple of every key tile
  const std::size_t span = (o.key_len + splits * T - 1) / (splits * T) * T;
  const std::size_t record = o.v_stride + 3;
  detail::attention_block blk;
  for (std::size_t task = task_begin; task < task_end; ++task) {
    const std::size_t s = task % splits, bh = task / splits;
    detail::attend_query_block<Arch>(o, m, f, scratch, blk, bh / o.heads, bh % o.heads, 0, s * span,
                                     (s + 1) * span);
    for (std::size_t r = 0; r < blk.rows; ++r) {
      float* out = partials + (task * o.query_len + r) * record;
      out[0] = blk.row_max[r];
      out[1] = blk.row_sum[r];
      out[2] = blk.seen[r] ? 1.0f : 0.0f;
      std::copy_n(blk.acc + r * o.v_stride, o.v_stride, out + 3);
    }
  }
}

/// Merges the partial results of rows [row_begin, row_end) of batch·heads·query_len into the
/// output; `acc` holds v_stride floats.
template <class Arch>
void merge_attention_splits(const attention_operands& o, const mask_spec& m, const float* partials,
                            std::size_t splits, float* acc, std::size_t row_begin,
                            std::size_t row_end) noexcept {
  const std::size_t record = o.v_stride + 3;
  for (std::size_t row = row_begin; row < row_end; ++row) {
    const std::size_t i = row % o.query_len, bh = row / o.query_len;
    auto part = [&](std::size_t s) {
      return partials + ((bh * splits + s) * o.query_len + i) * record;
    };
    bool seen = false;
    float max = -std::numeric_limits<float>::infinity();
    for (std::size_t s = 0; s < splits; ++s) {
      seen = seen || part(s)[2] != 0.0f;
      max = std::max(max, part(s)[0]);
    }
    float sum = 0.0f;
    std::fill_n(acc, o.v_stride, 0.0f);
    for (std::size_t s = 0; s < splits && seen; ++s) {
      const float* p = part(s);
      if (p[2] == 0.0f) continue;  // a range with nothing visible adds nothing
      // A NaN partial maximum is skipped by std::max above but still poisons its own sum.
      // The maxima are in score_unit(o.softmax_maths).
      const float scale =
          o.softmax_maths == maths::fast ? std::exp2(p[0] - max) : std::exp(p[0] - max);
      sum += p[1] * scale;
      for (std::size_t c = 0; c < o.v_stride; ++c) acc[c] += p[3 + c] * scale;
    }
    detail::write_attention_row<Arch>(o, m, bh / o.heads, bh % o.heads, i, seen, sum, acc);
  }
}

template <class Arch, class F = no_attention_functions>
void flash_attention(const attention_operands& o, const mask_spec& m, float* scratch,
                     const F& f = {}) noexcept {
  flash_attention<Arch>(o, m, scratch, 0, attention_task_count(o), f);
}

/// The whole call on every participant of `pool`. `scratch` holds each participant's
/// attention_scratch_floats(key_dim, value_dim, f.row_term_floats()) floats, then, when the
/// keys are split (attention_key_splits(o, F::has_value_rows) > 1: decoding a few (batch, head)
/// pairs against a long cache), attention_split_floats(o, splits) for the partial results.
template <class Arch, class F = no_attention_functions>
void flash_attention(thread_pool& pool, const attention_operands& o, const mask_spec& m,
                     float* scratch, const F& f = {}) noexcept {
  const std::size_t per_thread =
      attention_scratch_floats(o.key_dim, o.value_dim, f.row_term_floats());
  const std::size_t threads = pool.size();
  const std::size_t splits = attention_key_splits(o, F::has_value_rows);
  if (splits > 1) {
    float* partials = scratch + threads * per_thread;
    pool.parallel_for(o.batch * o.heads * splits, 1,
                      [&](std::size_t first, std::size_t last, std::size_t who) {
                        flash_attention_split_keys<Arch>(o, m, scratch + who * per_thread, partials,
                                                         splits, first, last, f);
                      });
    const std::size_t rows = o.batch * o.heads * o.query_len;
    pool.parallel_for(rows, std::max<std::size_t>(1, rows / (2 * threads)),
                      [&](std::size_t first, std::size_t last, std::size_t who) {
                        merge_attention_splits<Arch>(o, m, partials, splits,
                                                     scratch + who * per_thread, first, last);
                      });
    return;
  }
  const std::size_t tasks = attention_task_count(o);
  pool.parallel_for(tasks, attention_chunk_tasks(o, threads),
                    [&](std::size_t first, std::size_t last, std::size_t who) {
                      flash_attention<Arch>(o, m, scratch + who * per_thread, first, last, f);
                    });
}

}  // namespace typeformer::kernels

// The kernel without score or mask functions (every typed mask, every layer without a variant),
// compiled once per program when TYPEFORMER_COMPILED_KERNELS is 1 (kernels/compiled_kernels.hpp).
#define TYPEFORMER_FLASH_ATTENTION_INSTANCES(PREFIX, ARCH)                                   \
  PREFIX template void                                                                       \
  typeformer::kernels::flash_attention<ARCH, typeformer::kernels::no_attention_functions>(   \
      const typeformer::kernels::attention_operands&, const typeformer::kernels::mask_spec&, \
      float*, std::size_t, std::size_t,                                                      \
      const typeformer::kernels::no_attention_functions&) noexcept;                          \
  PREFIX template void                                                                       \
  typeformer::kernels::flash_attention<ARCH, typeformer::kernels::no_attention_functions>(   \
      const typeformer::kernels::attention_operands&, const typeformer::kernels::mask_spec&, \
      float*, const typeformer::kernels::no_attention_functions&) noexcept;                  \
  PREFIX template void                                                                       \
  typeformer::kernels::flash_attention<ARCH, typeformer::kernels::no_attention_functions>(   \
      typeformer::thread_pool&, const typeformer::kernels::attention_operands&,              \
      const typeformer::kernels::mask_spec&, float*,                                         \
      const typeformer::kernels::no_attention_functions&) noexcept;                          \
  PREFIX template void typeformer::kernels::flash_attention_split_keys<                      \
      ARCH, typeformer::kernels::no_attention_functions>(                                    \
      const typeformer::kernels::attention_operands&, const typeformer::kernels::mask_spec&, \
      float*, float*, std::size_t, std::size_t, std::size_t,                                 \
      const typeformer::kernels::no_attention_functions&) noexcept;                          \
  PREFIX template void typeformer::kernels::merge_attention_splits<ARCH>(                    \
      const typeformer::kernels::attention_operands&, const typeformer::kernels::mask_spec&, \
      const float*, std::size_t, float*, std::size_t, std::size_t) noexcept;
#if TYPEFORMER_COMPILED_KERNELS
TYPEFORMER_FOR_EACH_KERNEL_ARCH(TYPEFORMER_FLASH_ATTENTION_INSTANCES, extern)
#endif
