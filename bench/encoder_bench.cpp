// Transformer encoder layer forward: typeformer's transformer_encoder_layer against PyTorch's
// nn::TransformerEncoderLayer (libtorch, same process, same weights, 1 and 2 threads), with
// OpenBLAS SGEMM timing the layer's six GEMMs as a ceiling. Prints median milliseconds,
// GFLOP/s and ratios. The same layer with bfloat16 products (weight_format::bfloat16_products:
// AVX-512 BF16's vdpbf16ps where the CPU has it) is timed in the same loop, beside it.
//
// FLOPs counted: projections 4·2·B·L·d², feed-forward 2·2·B·L·d·f, attention 2·2·B·h·L²·d_head.
// The ceiling is all of them at 100% of the FMA peak measured here; ORT's time over it is the
// largest ORT/ours ratio any float32 implementation could reach on the machine.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <cblas.h>
#include <torch/torch.h>

#include <typeformer/typeformer.hpp>

#include "bench_common.hpp"
#include "onnxruntime_peer.hpp"

namespace tfm = typeformer;
using namespace tfm::dims;

namespace {

bench::onnxruntime* ort = nullptr;  // ONNX Runtime as a peer (bench/run.sh), if given
double peak[3] = {};                // FP32 FMA peak in GFLOP/s, by thread count
// FMA chains timed beside the layer: the share of the peak the machine gives in each row's
// minutes, as in mha_bench (this VM's speed moves by 10-40% over minutes).
bench::fma_probe* fma_probes[3] = {};

template <long D, long H, long F, class... Storage>
using encoder_model =
    tfm::model<tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<D>>,
               tfm::transformer_encoder_layer<heads<H>, dim_feedforward<F>, Storage...>>;

template <long D, long H, long F>
void bench_shape(long B, long L) {
  using model = encoder_model<D, H, F>;
  using products_model =
      encoder_model<D, H, F, tfm::weights_stored_as<tfm::weight_format::bfloat16_products>>;
  torch::manual_seed(0);
  torch::nn::TransformerEncoderLayer layer(
      torch::nn::TransformerEncoderLayerOptions(D, H).dim_feedforward(F).dropout(0.0));
  layer->eval();
  const auto named = layer->named_parameters();
  const auto get = [&](const std::string& name) { return bench::to_vector(named[name]); };
  const auto weights = model::from_weights(tfm::naming::pytorch, get);
  const auto weights_products = products_model::from_weights(tfm::naming::pytorch, get);

  torch::Tensor x = torch::randn({B, L, D});
  torch::Tensor x_lbd = x.transpose(0, 1).contiguous();  // libtorch's layer takes (L, B, d)
  xt::xtensor<float, 3> xin = xt::empty<float>({std::size_t(B), std::size_t(L), std::size_t(D)});
  std::copy_n(x.data_ptr<float>(), x.numel(), xin.data());
  xt::xtensor<float, 3> y = xt::empty<float>(xin.shape());
  tfm::runner<model> run1(weights, {.threads = 1, .max_batch = B, .max_seq = L});
  tfm::runner<model> run2(weights, {.threads = 2, .max_batch = B, .max_seq = L});
  tfm::runner<model>* run = &run1;
  auto ours = [&] { (*run)(xin, y); };
  xt::xtensor<float, 3> y_products = xt::empty<float>(xin.shape());
  tfm::runner<products_model> products1(weights_products,
                                        {.threads = 1, .max_batch = B, .max_seq = L});
  tfm::runner<products_model> products2(weights_products,
                                        {.threads = 2, .max_batch = B, .max_seq = L});
  tfm::runner<products_model>* run_products = &products1;
  auto ours_products = [&] { (*run_products)(xin, y_products); };

  torch::NoGradGuard no_grad;
  torch::Tensor reference;
  auto theirs = [&] { reference = layer->forward(x_lbd); };

  ours();
  theirs();
  auto ref = reference.transpose(0, 1).contiguous();
  const double max_diff =
      bench::max_abs_diff(ref.data_ptr<float>(), y.data(), std::size_t(ref.numel()));
  ours_products();
  const double max_diff_products =
      bench::max_abs_diff(ref.data_ptr<float>(), y_products.data(), std::size_t(ref.numel()));

  // OpenBLAS: the four d×d projections and the two feed-forward GEMMs.
  const int rows = int(B * L);
  const auto widest = static_cast<std::size_t>(F);
  std::vector<float> a(static_cast<std::size_t>(rows) * widest, 0.5f);
  std::vector<float> w(static_cast<std::size_t>(D) * widest, 0.25f);
  std::vector<float> c(static_cast<std::size_t>(rows) * widest);
  auto blas = [&] {
    for (int p = 0; p < 4; ++p)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, int(D), int(D), 1.0f, a.data(),
                  int(D), w.data(), int(D), 0.0f, c.data(), int(D));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, int(F), int(D), 1.0f, a.data(),
                int(D), w.data(), int(F), 0.0f, c.data(), int(F));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, int(D), int(F), 1.0f, a.data(),
                int(F), w.data(), int(D), 0.0f, c.data(), int(D));
  };

  const double gemm_flops = 2.0 * double(rows) * (4.0 * D * D + 2.0 * D * F);
  const double attn_flops = 2.0 * 2.0 * double(B * H) * double(L) * double(L) * double(D / H);
  const double gflop = (gemm_flops + attn_flops) * 1e-9;

  for (int threads : {1, 2}) {
    run = threads == 1 ? &run1 : &run2;
    run_products = threads == 1 ? &products1 : &products2;
    torch::set_num_threads(threads);
    openblas_set_num_threads(threads);
    bench::settle();
    bench::fma_probe& fma = *fma_probes[threads];
    const auto [timings, t_ort] = ort->time_with("encoder", B, L, D, H, false, threads, ours,
                                                 theirs, blas, ours_products, fma);
    const double t_ours = timings[0].median, t_torch = timings[1].median,
                 t_blas = timings[2].median, t_products = timings[3].median;
    const double fma_now = fma.percent_of_peak(timings[4].median, peak[threads]);
    const double ceiling = gflop / peak[threads] * 1e3, rate = gflop / t_ours * 1e3;
    char ort_text[64] = "       n/a                           ";
    if (t_ort.found())
      std::snprintf(ort_text, sizeof ort_text, "%9.3f%c %7.2fx %7.2fx %8.3f", t_ort.median_ms(),
                    t_ort.interleaved ? ' ' : '*', t_ort.median_ms() / t_ours,
                    t_ort.median_ms() / ceiling, t_ort.alone_ms);
    char ort_products[16] = "    n/a";
    if (t_ort.found())
      std::snprintf(ort_products, sizeof ort_products, "%7.2fx", t_ort.median_ms() / t_products);
    std::printf(
        "%3ld %5ld %4ld %3ld %5ld %2d | %9.3f %7.1f %3.0f%% %8.3f %6.0f%% | %9.3f %7.1f | %s | "
        "%9.3f %7.1f | %6.2fx | %.1e | %9.3f %6.2fx %s | %.1e\n",
        B, L, D, H, F, threads, t_ours, rate, 100 * rate / peak[threads], ceiling, fma_now, t_torch,
        gflop / t_torch * 1e3, ort_text, t_blas, gemm_flops * 1e-9 / t_blas * 1e3, t_torch / t_ours,
        max_diff, t_products, t_ours / t_products, ort_products, max_diff_products);
  }
}

}  // namespace

int main(int argc, char** argv) {
  bench::parse_common_flags(argc, argv);
  bench::configure_peers();
  bench::onnxruntime onnxruntime(argc, argv);
  ort = &onnxruntime;
  peak[1] = bench::fma_peak_gflops(1);
  peak[2] = bench::fma_peak_gflops(2);
  bench::fma_probe fma1{1}, fma2{2};
  fma_probes[1] = &fma1;
  fma_probes[2] = &fma2;
  std::printf(
      "typeformer instruction set: %s; FP32 FMA peak measured: %.1f GFLOP/s (1 thread), %.1f "
      "(2 threads); PyTorch %s with OMP_WAIT_POLICY=PASSIVE; ONNX Runtime: %s\n",
      std::string(tfm::simd::best_arch::name()).c_str(), peak[1], peak[2], TORCH_VERSION,
      onnxruntime.describe().c_str());
  std::printf(
      "median ms over >= 7 runs (>= 2 s) each, ours, PyTorch, OpenBLAS, ours with bf16 products "
      "and ORT timed in alternating blocks (ORT ms marked *: its stand-alone time, as 'alone' "
      "always is); GFLOP/s "
      "counts GEMMs + attention; the BLAS "
      "column times the six GEMMs alone; ceil ms = every counted FLOP at 100%% of peak, and "
      "ORT/ceil the largest ORT/ours any float32 code can reach here; FMA now = the rate of FMA "
      "chains timed in the same blocks, as a share of the peak above\n");
  std::printf(
      "  B     L    d   h  d_ff th | typeformer   GFLOP/s peak  ceil ms FMA now |   PyTorch   "
      "GFLOP/s | "
      "    ORT ms ORT/ours ORT/ceil    alone | BLAS gemms GFLOP/s | torch/ours | max|diff| | bf16 "
      "prod ms "
      "f32/prod ORT/prod | max|diff|\n");
  bench_shape<768, 12, 3072>(8, 128);
  bench_shape<768, 12, 3072>(1, 512);
}
