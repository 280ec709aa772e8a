// The two kernels that carry the FLOPs, alone: our packed SGEMM against OpenBLAS on every
// projection and feed-forward shape of the performance compass (timed interleaved, 1 and 2
// threads), and the tiled attention core over projected per-head data as a share of the FMA
// peak measured in the same run.
//
// Built twice: kernel_bench at the build type's optimisation (-O3 in Release) and
// kernel_bench_o2 at -O2, the level of CMake's RelWithDebInfo and of most distribution
// builds. A kernel whose register arrays the compiler leaves in memory at -O2 shows here as
// the same rows at a third of the speed.
//
//   kernel_bench [--quick] [--json FILE]

#include <cblas.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <typeformer/kernels/flash_attention.hpp>
#include <typeformer/kernels/gemm.hpp>
#include <typeformer/kernels/packed_bf16_matrix.hpp>
#include <typeformer/tensor/aligned_buffer.hpp>

#include "bench_timing.hpp"

#ifndef TYPEFORMER_BENCH_OPTIMISATION
#define TYPEFORMER_BENCH_OPTIMISATION "the build type's"
#endif

namespace {

namespace tfm = typeformer;
namespace tk = typeformer::kernels;
using isa = tfm::simd::best_arch;

struct context {
  double peak[3] = {};
  nlohmann::json records = nlohmann::json::array();
};

std::vector<float> random_values(std::size_t n, unsigned seed) {
  std::mt19937 generator(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> values(n);
  for (auto& v : values) v = uniform(generator);
  return values;
}

/// One GEMM shape: x (rows × inputs, row stride ldx) and w (inputs × outputs), row-major, with
/// cblas_sgemm on them and the JSON fields that name the shape, for both GEMM benchmarks.
struct gemm_operands {
  const char* what;
  std::size_t rows, inputs, outputs;
  std::size_t ldx = inputs;
  std::vector<float> x = random_values(rows * ldx, 1), w = random_values(inputs * outputs, 2);

  float element(std::size_t k, std::size_t n) const { return w[k * outputs + n]; }
  double gflop() const { return 2.0 * double(rows) * double(inputs) * double(outputs) * 1e-9; }
  void blas(float* y) const {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(rows), int(outputs), int(inputs),
                1.0f, x.data(), int(ldx), w.data(), int(outputs), 0.0f, y, int(outputs));
  }
  nlohmann::json record(const char* kernel, int threads) const {
    return {{"kernel", kernel}, {"shape", what},      {"rows", rows},      {"inputs", inputs},
            {"ldx", ldx},       {"outputs", outputs}, {"threads", threads}};
  }
};

/// y = x·w, ours (weights packed once, as a layer does at load time) against cblas_sgemm on the
/// same row-major operands; x's rows `ldx` floats apart (default: packed).
void bench_gemm(context& ctx, const char* what, std::size_t rows, std::size_t inputs,
                std::size_t outputs, std::size_t ldx = 0) {
  const gemm_operands g{what, rows, inputs, outputs, ldx ? ldx : inputs};
  std::vector<float> ours_y(rows * outputs), blas_y(rows * outputs);
  const auto packed = tk::packed_matrix::pack(
      [&](std::size_t k, std::size_t n) { return g.element(k, n); }, inputs, outputs);
  const tk::gemm_args args{g.x.data(), g.ldx, rows, &packed, nullptr, 1.0f, ours_y.data(), outputs};
  for (int threads : {1, 2}) {
    tfm::thread_pool pool(static_cast<std::size_t>(threads));
    openblas_set_num_threads(threads);
    auto ours = [&] { tk::gemm<isa>(pool, args); };
    auto blas = [&] { g.blas(blas_y.data()); };
    bench::settle();
    const auto [t_ours, t_blas] = bench::time_interleaved_ms(ours, blas);
    double worst = 0;  // agreement first: sums of `inputs` products of values in [-1, 1]
    for (std::size_t i = 0; i < ours_y.size(); ++i)
      worst = std::max(worst, double(std::fabs(ours_y[i] - blas_y[i])));
    const double rate = g.gflop() / t_ours.median * 1e3, peak = ctx.peak[threads];
    std::printf(
        "%-22s %5zu %5zu %5zu %2d | %8.3f (%7.3f-%8.3f) %6.1f %3.0f%% | %8.3f %5.2fx | %.1e\n",
        what, rows, inputs, outputs, threads, t_ours.median, t_ours.min, t_ours.max, rate,
        100 * rate / peak, t_blas.median, t_blas.median / t_ours.median, worst);
    std::fflush(stdout);
    auto record = g.record("gemm", threads);
    record.update({{"ours_ms", bench::as_json(t_ours)},
                   {"gflops", rate},
                   {"percent_of_peak", 100 * rate / peak},
                   {"openblas_ms", bench::as_json(t_blas)},
                   {"openblas_over_ours", t_blas.median / t_ours.median},
                   {"max_abs_diff_vs_openblas", worst}});
    ctx.records.push_back(record);
  }
}

/// y = x·w with w stored as bfloat16 (rounded once, at packing) against the same product with
/// float32 weights, ours and cblas_sgemm's: what halving the weights' bytes buys, and costs.
/// Bf16Matrix picks the arithmetic: float32 inputs, or inputs rounded too (vdpbf16ps's).
template <class Bf16Matrix>
void bench_gemm_bf16(context& ctx, const char* what, std::size_t rows, std::size_t inputs,
                     std::size_t outputs) {
  const gemm_operands g{what, rows, inputs, outputs};
  std::vector<float> bf16_y(rows * outputs), f32_y(rows * outputs), blas_y(rows * outputs);
  const auto element = [&](std::size_t k, std::size_t n) { return g.element(k, n); };
  const auto bf16 = Bf16Matrix::pack(element, inputs, outputs);
  const auto f32 = tk::packed_matrix::pack(element, inputs, outputs);
  const tk::basic_gemm_args<Bf16Matrix> bf16_args{g.x.data(), inputs, rows,          &bf16,
                                                  nullptr,    1.0f,   bf16_y.data(), outputs};
  const tk::gemm_args f32_args{g.x.data(), inputs, rows,         &f32,
                               nullptr,    1.0f,   f32_y.data(), outputs};
  const double weight_mib = double(inputs * outputs) * 2 / (1 << 20);
  for (int threads : {1, 2}) {
    tfm::thread_pool pool(static_cast<std::size_t>(threads));
    openblas_set_num_threads(threads);
    auto ours_bf16 = [&] { tk::gemm<isa>(pool, bf16_args); };
    auto ours_f32 = [&] { tk::gemm<isa>(pool, f32_args); };
    auto blas = [&] { g.blas(blas_y.data()); };
    bench::settle();
    const auto [t_bf16, t_f32, t_blas] = bench::time_interleaved_ms(ours_bf16, ours_f32, blas);
    double worst = 0, largest = 0;  // the bfloat16 rounding's effect on the outputs
    for (std::size_t i = 0; i < bf16_y.size(); ++i) {
      worst = std::max(worst, double(std::fabs(bf16_y[i] - blas_y[i])));
      largest = std::max(largest, double(std::fabs(blas_y[i])));
    }
    const double rate = g.gflop() / t_bf16.median * 1e3, peak = ctx.peak[threads];
    std::printf(
        "%-22s %5zu %5zu %5zu %5.1f %2d | %8.3f (%7.3f-%8.3f) %6.1f %3.0f%% | %8.3f %5.2fx | "
        "%8.3f %5.2fx | %.1e of %.1f\n",
        what, rows, inputs, outputs, weight_mib, threads, t_bf16.median, t_bf16.min, t_bf16.max,
        rate, 100 * rate / peak, t_f32.median, t_f32.median / t_bf16.median, t_blas.median,
        t_blas.median / t_bf16.median, worst, largest);
    std::fflush(stdout);
    auto record = g.record(
        tk::rounds_inputs<Bf16Matrix> ? "gemm_bf16_products" : "gemm_bf16_weights", threads);
    record.update({{"bf16_weight_mib", weight_mib},
                   {"ours_ms", bench::as_json(t_bf16)},
                   {"gflops", rate},
                   {"percent_of_peak", 100 * rate / peak},
                   {"ours_float32_weights_ms", bench::as_json(t_f32)},
                   {"float32_over_bf16", t_f32.median / t_bf16.median},
                   {"openblas_ms", bench::as_json(t_blas)},
                   {"openblas_over_ours", t_blas.median / t_bf16.median},
                   {"max_abs_diff_vs_openblas_float32", worst},
                   {"max_abs_openblas_output", largest}});
    ctx.records.push_back(record);
  }
}

/// softmax(q·kᵀ/√64)·v over per-head data as the multi-head layer lays it out (keys transposed
/// in blocks, value rows padded), without the projections.
void bench_attention_core(context& ctx, std::size_t batch, std::size_t len, std::size_t heads,
                          bool causal) {
  constexpr std::size_t dh = 64;
  const std::size_t d = heads * dh;
  const auto q = random_values(batch * len * d, 3), k = random_values(batch * len * d, 4),
             v = random_values(batch * len * d, 5);
  tk::attention_operands o;
  o.batch = batch, o.heads = heads, o.query_len = len, o.key_len = len;
  o.key_dim = dh, o.value_dim = dh;
  o.q = q.data(), o.q_batch = len * d, o.q_head = dh, o.q_row = d;
  o.q_scale = 0.125f;
  o.key_capacity = tk::attention_operands::key_capacity_for(len);
  o.v_stride = tk::attention_operands::v_stride_for(dh);
  const tk::head_strides strides{len * d, dh, d};
  tfm::aligned_buffer<float> kt(batch * heads * dh * o.key_capacity),
      vs(batch * heads * len * o.v_stride);
  tk::scatter_keys_transposed<isa>(k.data(), strides, batch, heads, len, dh, kt.data(),
                                   o.key_capacity);
  tk::scatter_values<isa>(v.data(), strides, batch, heads, len, dh, vs.data(), o.v_stride);
  o.kt = kt.data(), o.v = vs.data();
  std::vector<float> out(batch * len * d);
  o.out = out.data(), o.out_batch = len * d, o.out_head = dh, o.out_row = d;
  tk::mask_spec mask;
  if (causal) mask.causal = tfm::causal_alignment::top_left;

  const double pairs = causal ? double(len) * double(len + 1) / 2 : double(len) * double(len);
  const double gflop = 4.0 * double(batch * heads) * pairs * double(dh) * 1e-9;
  for (int threads : {1, 2}) {
    tfm::thread_pool pool(static_cast<std::size_t>(threads));
    tfm::aligned_buffer<float> scratch(pool.size() * tk::attention_scratch_floats(dh, dh) +
                                       tk::attention_split_floats(o, tk::attention_key_splits(o)));
    auto ours = [&] { tk::flash_attention<isa>(pool, o, mask, scratch.data()); };
    bench::settle();
    const auto [t_ours] = bench::time_interleaved_ms(ours);
    const double rate = gflop / t_ours.median * 1e3, peak = ctx.peak[threads];
    std::printf("attention %-6s %5zu %5zu %3zu %4zu %2d | %8.3f (%7.3f-%8.3f) %6.1f %3.0f%%\n",
                causal ? "causal" : "none", batch, len, heads, dh, threads, t_ours.median,
                t_ours.min, t_ours.max, rate, 100 * rate / peak);
    std::fflush(stdout);
    ctx.records.push_back({{"kernel", "attention_core"},
                           {"batch", batch},
                           {"seq", len},
                           {"heads", heads},
                           {"head_dim", dh},
                           {"causal", causal},
                           {"threads", threads},
                           {"ours_ms", bench::as_json(t_ours)},
                           {"gflops", rate},
                           {"percent_of_peak", 100 * rate / peak}});
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string json_path = bench::parse_common_flags(argc, argv);
  context ctx;
  ctx.peak[1] = bench::fma_peak_gflops(1);
  ctx.peak[2] = bench::fma_peak_gflops(2);
  std::printf(
      "typeformer kernels built at %s optimisation, instruction set %s; FP32 FMA peak measured: "
      "%.1f GFLOP/s (1 thread), %.1f (2 threads)\n",
      TYPEFORMER_BENCH_OPTIMISATION, std::string(tfm::simd::best_arch::name()).c_str(), ctx.peak[1],
      ctx.peak[2]);
  std::printf(
      "median ms (min-max) over >= %s; ours and OpenBLAS timed in alternating blocks\n\n"
      "GEMM y = x·w (weights packed once), against cblas_sgemm on the same operands\n"
      "shape                   rows    in   out th |  ours ms (    min -     max) GFLOP/s peak | "
      "BLAS ms BLAS/ours | max|diff|\n",
      bench::quick ? "3 runs, 0.3 s (--quick)" : "7 runs, 2 s");
  bench_gemm(ctx, "(64,5,512) projection", 320, 512, 512);
  bench_gemm(ctx, "(1,128,768) projection", 128, 768, 768);
  bench_gemm(ctx, "(8,128,768) projection", 1024, 768, 768);
  bench_gemm(ctx, "(1,512,768) projection", 512, 768, 768);
  bench_gemm(ctx, "(1,2048,512) projection", 2048, 512, 512);
  bench_gemm(ctx, "(1,4096,512) projection", 4096, 512, 512);
  bench_gemm(ctx, "encoder FFN in", 1024, 768, 3072);
  bench_gemm(ctx, "encoder FFN out", 1024, 3072, 768);
  // As feed_forward lays out its hidden rows (gemm_input_stride): 3088 floats apart, not 3072.
  bench_gemm(ctx, "FFN out, layer's rows", 1024, 3072, 768, tk::gemm_input_stride(3072));
  bench_gemm(ctx, "decode projection", 1, 512, 512);

  std::printf(
      "\nGEMM with bfloat16 weights (rounded once, when packed), against our float32-weight GEMM "
      "and cblas_sgemm on the float32 weights; max|diff| is against cblas_sgemm, with the "
      "largest |output| beside it\n"
      "shape                   rows    in   out   MiB th |  bf16 ms (    min -     max) GFLOP/s "
      "peak |  f32 ms f32/bf16 | BLAS ms BLAS/bf16 | max|diff|\n");
  using tk::packed_bf16_matrix, tk::packed_bf16_dot_matrix;
  bench_gemm_bf16<packed_bf16_matrix>(ctx, "decode projection", 1, 512, 512);
  bench_gemm_bf16<packed_bf16_matrix>(ctx, "decode FFN in", 1, 768, 3072);
  bench_gemm_bf16<packed_bf16_matrix>(ctx, "decode, weights > L3", 1, 4096, 4096);
  bench_gemm_bf16<packed_bf16_matrix>(ctx, "(8,128,768) projection", 1024, 768, 768);
  bench_gemm_bf16<packed_bf16_matrix>(ctx, "encoder FFN in", 1024, 768, 3072);

  const bool instruction =
      tk::detail::has_bf16_dot_kernels<isa> && tk::bf16_dot::cpu_has_instruction();
  std::printf(
      "\nGEMM with bfloat16 products (weights and inputs rounded to bfloat16, float32 sums: "
      "weight_format::bfloat16_products), %s; columns as above\n"
      "shape                   rows    in   out   MiB th | prod ms (    min -     max) GFLOP/s "
      "peak |  f32 ms f32/prod | BLAS ms BLAS/prod | max|diff|\n",
      instruction ? "by vdpbf16ps (AVX-512 BF16)"
                  : "emulated: this build or CPU has no AVX-512 BF16");
  bench_gemm_bf16<packed_bf16_dot_matrix>(ctx, "decode projection", 1, 512, 512);
  bench_gemm_bf16<packed_bf16_dot_matrix>(ctx, "decode FFN in", 1, 768, 3072);
  bench_gemm_bf16<packed_bf16_dot_matrix>(ctx, "decode, weights > L3", 1, 4096, 4096);
  bench_gemm_bf16<packed_bf16_dot_matrix>(ctx, "(8,128,768) projection", 1024, 768, 768);
  bench_gemm_bf16<packed_bf16_dot_matrix>(ctx, "encoder FFN in", 1024, 768, 3072);
  bench_gemm_bf16<packed_bf16_dot_matrix>(ctx, "encoder FFN out", 1024, 3072, 768);

  std::printf(
      "\nAttention core over projected per-head data (no projections); GFLOP/s counts the "
      "unmasked pairs only\n"
      "kernel     mask  batch   seq   h head th |  ours ms (    min -     max) GFLOP/s peak\n");
  for (bool causal : {false, true}) {
    bench_attention_core(ctx, 8, 128, 12, causal);
    bench_attention_core(ctx, 1, 512, 12, causal);
    bench_attention_core(ctx, 1, 2048, 8, causal);
    bench_attention_core(ctx, 1, 4096, 8, causal);
  }

  if (!json_path.empty()) {
    std::ofstream(json_path) << nlohmann::json{{"optimisation", TYPEFORMER_BENCH_OPTIMISATION},
                                               {"instruction_set", std::string(isa::name())},
                                               {"fma_peak_gflops_1_thread", ctx.peak[1]},
                                               {"fma_peak_gflops_2_threads", ctx.peak[2]},
                                               {"results", ctx.records}}
                                    .dump(2)
                             << '\n';
  }
}
