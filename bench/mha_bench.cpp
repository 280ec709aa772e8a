// Multi-head attention forward: typeformer against PyTorch's nn::MultiheadAttention (libtorch,
// same process, same weights, 1 and 2 threads), with OpenBLAS SGEMM timing the four
// projections as a ceiling. Prints median milliseconds, GFLOP/s and ratios.
//
// FLOPs counted: 4 projections 2·B·L·d² each, and 2·B·h·L²·d_head each for q·kᵀ and p·v
// (half of that with a causal mask: the work a causal kernel must do).

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include <cblas.h>
#include <malloc.h>
#include <torch/torch.h>

#include <typeformer/typeformer.hpp>

#include "bench_common.hpp"

namespace tfm = typeformer;
using namespace tfm::dims;

namespace {

template <class Layer>
void bench_shape(long B, long L, bool causal) {
  constexpr long d = Layer::d_model, h = Layer::heads, dh = Layer::key_dim_per_head;
  torch::manual_seed(0);
  torch::nn::MultiheadAttention torch_mha(torch::nn::MultiheadAttentionOptions(d, h));
  torch_mha->eval();
  auto params = Layer::from_weights(tfm::naming::pytorch, [&](const std::string& name) {
    if (name == "in_proj_weight") return bench::to_vector(torch_mha->in_proj_weight);
    if (name == "in_proj_bias") return bench::to_vector(torch_mha->in_proj_bias);
    if (name == "out_proj.weight") return bench::to_vector(torch_mha->out_proj->weight);
    return bench::to_vector(torch_mha->out_proj->bias);
  });

  torch::Tensor x = torch::randn({B, L, d});
  torch::Tensor x_lnd = x.transpose(0, 1).contiguous();  // libtorch's MHA takes (L, B, d)
  torch::Tensor mask;
  // A float mask: libtorch 1.13's C++ MultiheadAttention adds attn_mask to the scores as is,
  // so a boolean mask would add 1, not hide the key.
  if (causal) mask = torch::full({L, L}, -std::numeric_limits<float>::infinity()).triu(1);

  xt::xtensor<float, 3> xin = xt::empty<float>({std::size_t(B), std::size_t(L), std::size_t(d)});
  std::copy_n(x.data_ptr<float>(), x.numel(), xin.data());
  xt::xtensor<float, 3> y = xt::empty<float>(xin.shape());
  tfm::workspace ws1(1), ws2(2);
  tfm::workspace* ws = &ws1;
  auto ours = [&] {
    if (causal)
      Layer::forward(params, xin, xin, xin, y, *ws, tfm::masks::causal{});
    else
      Layer::forward(params, xin, xin, xin, y, *ws);
  };

  torch::NoGradGuard no_grad;
  torch::Tensor reference;
  auto theirs = [&] {
    reference =
        std::get<0>(torch_mha->forward(x_lnd, x_lnd, x_lnd, {}, /*need_weights=*/false, mask));
  };

  // Agreement first: a fast wrong answer is not a result.
  ours();
  theirs();
  auto ref = reference.transpose(0, 1).contiguous();
  const double max_diff =
      bench::max_abs_diff(ref.data_ptr<float>(), y.data(), std::size_t(ref.numel()));

  // OpenBLAS: the four projection GEMMs, (B·L × d) · (d × d), as the ceiling for that part.
  std::vector<float> a(std::size_t(B * L * d), 0.5f), w(std::size_t(d * d), 0.25f),
      c(std::size_t(B * L * d));
  auto blas = [&] {
    for (int p = 0; p < 4; ++p)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(B * L), int(d), int(d), 1.0f,
                  a.data(), int(d), w.data(), int(d), 0.0f, c.data(), int(d));
  };

  const double proj_flops = 4.0 * 2.0 * double(B * L) * double(d * d);
  const double attn_flops =
      2.0 * 2.0 * double(B * h) * double(L) * double(L) * double(dh) * (causal ? 0.5 : 1.0);
  const double gflop = (proj_flops + attn_flops) * 1e-9;

  for (int threads : {1, 2}) {
    ws = threads == 1 ? &ws1 : &ws2;
    torch::set_num_threads(threads);
    openblas_set_num_threads(threads);
    bench::settle();
    const double t_ours = bench::median_ms(ours);
    bench::settle();
    const double t_torch = bench::median_ms(theirs);
    bench::settle();
    const double t_blas = bench::median_ms(blas);
    std::printf(
        "%4ld %5ld %4ld %3ld %-6s %2d | %9.3f %7.1f | %9.3f %7.1f | %9.3f | %6.2fx | %.1e\n", B, L,
        d, h, causal ? "causal" : "none", threads, t_ours, gflop / t_ours * 1e3, t_torch,
        gflop / t_torch * 1e3, t_blas, t_torch / t_ours, max_diff);
  }
}

}  // namespace

int main() {
  bench::configure_peers();
  std::printf(
      "typeformer instruction set: %s; PyTorch with OMP_WAIT_POLICY=PASSIVE, glibc M_MMAP_MAX=0, "
      "M_TRIM_THRESHOLD=1 GiB\n",
      std::string(tfm::simd::best_arch::name()).c_str());
  std::printf(
      "median ms over >= 7 runs (>= 2 s); GFLOP/s counts projections + attention (causal: half the "
      "attention)\n");
  std::printf(
      "   B     L    d   h mask   th | typeformer   GFLOP/s |   PyTorch   GFLOP/s | BLAS proj | "
      "torch/ours | max|diff|\n");
  using mha512 = tfm::multi_head_attention<"self_attn", heads<8>, d_model<512>>;
  using mha768 = tfm::multi_head_attention<"self_attn", heads<12>, d_model<768>>;
  for (bool causal : {false, true}) {
    bench_shape<mha512>(64, 5, causal);
    bench_shape<mha768>(1, 128, causal);
    bench_shape<mha512>(1, 2048, causal);
  }
}
