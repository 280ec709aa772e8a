// Incremental decoding: tokens per second of a 6-layer transformer decoder (d_model 512, 8 heads,
// FFN 2048) over a 128-position memory, batch 1, generating 128 positions with typeformer's
// key/value cache; PyTorch's nn::TransformerDecoder (libtorch, same process, same weights) has no
// cache and recomputes the whole prefix per position, as a user of nn.TransformerDecoder does.
// The bound is memory bandwidth: each step reads every weight and the cached keys and values
// once; bytes per step ÷ the measured read bandwidth gives the fastest a step can be. The same
// decoder with bfloat16 weight matrices runs in the same loop, against its own (smaller) bound,
// in both formats: float32 inputs (weight_format::bfloat16) and bfloat16 products
// (weight_format::bfloat16_products, AVX-512 BF16's vdpbf16ps where the CPU has it).

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include <torch/torch.h>

#include <typeformer/typeformer.hpp>

#include "bench_common.hpp"

namespace tfm = typeformer;
using namespace tfm::dims;

namespace {

constexpr long D = 512, H = 8, F = 2048, LAYERS = 6, MEMORY = 128, STEPS = 128;

template <class... Storage>
using decoder_with = tfm::model<
    tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<D>, max_batch<1>, max_seq<STEPS>>,
    tfm::memory<seq<tfm::dynamic>, d_model<D>, max_seq<MEMORY>>,
    tfm::repeat<"layers", LAYERS,
                tfm::transformer_decoder_layer<heads<H>, dim_feedforward<F>, Storage...>>>;
using decoder = decoder_with<>;
/// The same decoder with its weight matrices stored as bfloat16 (docs/bf16_weights.md).
using decoder_bf16 = decoder_with<tfm::weights_stored_as<tfm::weight_format::bfloat16>>;
/// ... and with bfloat16 products: the same bytes, the inputs of the products rounded too.
using decoder_products =
    decoder_with<tfm::weights_stored_as<tfm::weight_format::bfloat16_products>>;
/// Weight-matrix elements per step: each layer's self- and cross-attention projections (4·D²
/// each) and its feed-forward (2·D·F); the rest (biases, norms) stays float32.
constexpr double matrix_elements = double(LAYERS) * (8.0 * D * D + 2.0 * D * F);

}  // namespace

int main(int argc, char** argv) {
  bench::parse_common_flags(argc, argv);
  bench::configure_peers();
  torch::manual_seed(0);
  torch::nn::TransformerDecoder torch_decoder(torch::nn::TransformerDecoderOptions(
      torch::nn::TransformerDecoderLayer(
          torch::nn::TransformerDecoderLayerOptions(D, H).dim_feedforward(F).dropout(0.0)),
      LAYERS));
  torch_decoder->eval();
  const auto named = torch_decoder->named_parameters();
  const auto get = [&](const std::string& name) { return bench::to_vector(named[name]); };
  const auto weights = decoder::from_weights(tfm::naming::pytorch, get);
  const auto weights_bf16 = decoder_bf16::from_weights(tfm::naming::pytorch, get);
  const auto weights_products = decoder_products::from_weights(tfm::naming::pytorch, get);

  torch::Tensor memory = torch::randn({1, MEMORY, D});
  torch::Tensor first = torch::randn({1, 1, D});
  xt::xtensor<float, 3> mem =
      xt::empty<float>({std::size_t(1), std::size_t(MEMORY), std::size_t(D)});
  std::copy_n(memory.data_ptr<float>(), memory.numel(), mem.data());

  std::printf("typeformer instruction set: %s; PyTorch %s\n",
              std::string(tfm::simd::best_arch::name()).c_str(), TORCH_VERSION);
  std::printf(
      "decoder: %ld layers, d_model %ld, %ld heads, FFN %ld, memory %ld, batch 1, %ld "
      "positions; median of whole generations\n",
      LAYERS, D, H, F, MEMORY, STEPS);
  const double weight_bytes = double(decoder::parameter_count) * 4.0;
  // Per step at position t: all weights, the self-attention cache (keys and values, t+1
  // positions) and the memory's keys and values, in every layer. Averaged over the generation.
  const double cache_bytes_mean =
      double(LAYERS) * 2.0 * double(D) * 4.0 * (double(STEPS + 1) / 2.0 + double(MEMORY));
  const double step_bytes = weight_bytes + cache_bytes_mean;
  const double step_bytes_bf16 = step_bytes - 2.0 * matrix_elements;
  std::printf("bytes read per step: %.1f MB weights + %.2f MB cache (mean)\n", weight_bytes / 1e6,
              cache_bytes_mean / 1e6);
  // The machine's read bandwidth, with every core reading (one core alone cannot saturate
  // the memory system, and the GEMM's prefetched panel streams beat a one-core sum loop).
  const double bandwidth = std::max(bench::read_bandwidth(1), bench::read_bandwidth(2));
  const double bound_tps = bandwidth / step_bytes, bound_tps_bf16 = bandwidth / step_bytes_bf16;
  std::printf(
      "read bandwidth (best of 1 and 2 threads): %.1f GB/s -> bound %.0f tokens/s (%.0f with "
      "bfloat16 weights, %.1f MB per step)\n",
      bandwidth / 1e9, bound_tps, bound_tps_bf16, step_bytes_bf16 / 1e6);
  std::printf(
      " th | typeformer tok/s (%% of bound) | PyTorch tok/s (recompute) | ours/torch | "
      "max|diff| | bf16 weights tok/s (%% of bound) | bf16/f32 | max|diff| | bf16 products tok/s "
      "(%% of bound) | prod/f32 | max|diff|\n");

  const std::vector<tfm::extent_t> lengths = {MEMORY};
  const tfm::masks::key_lengths memory_mask{lengths};
  for (int threads : {1, 2}) {
    torch::set_num_threads(threads);
    tfm::runner<decoder> run(weights, {.threads = std::size_t(threads)});
    tfm::runner<decoder_bf16> run_bf16(weights_bf16, {.threads = std::size_t(threads)});
    tfm::runner<decoder_products> run_products(weights_products, {.threads = std::size_t(threads)});
    xt::xtensor<float, 3> outputs =
        xt::empty<float>({std::size_t(1), std::size_t(STEPS), std::size_t(D)});
    xt::xtensor<float, 3> outputs_bf16 = xt::empty<float>(outputs.shape());
    xt::xtensor<float, 3> outputs_products = xt::empty<float>(outputs.shape());
    // Ours: the next position's input is the previous output (a continuous "greedy" loop).
    auto generate = [&](auto& runner, xt::xtensor<float, 3>& out) {
      runner.start_decoding(mem, memory_mask);
      xt::xtensor<float, 3> x = xt::empty<float>({std::size_t(1), std::size_t(1), std::size_t(D)});
      std::copy_n(first.data_ptr<float>(), D, x.data());
      xt::xtensor<float, 3> y = xt::empty<float>(x.shape());
      for (long t = 0; t < STEPS; ++t) {
        runner.decode(x, y, memory_mask);
        std::copy_n(y.data(), D, out.data() + t * D);
        x = y;
      }
    };
    auto ours = [&] { generate(run, outputs); };
    auto ours_bf16 = [&] { generate(run_bf16, outputs_bf16); };
    auto ours_products = [&] { generate(run_products, outputs_products); };
    // PyTorch: the same loop, recomputing the prefix each step; (L, B, E) layout.
    torch::NoGradGuard no_grad;
    torch::Tensor torch_outputs;
    auto theirs = [&] {
      torch::Tensor tgt = first.transpose(0, 1).clone();  // (1, 1, D)
      const torch::Tensor mem_lbd = memory.transpose(0, 1);
      for (long t = 0; t < STEPS; ++t) {
        const long len = tgt.size(0);
        torch::Tensor mask =
            torch::full({len, len}, -std::numeric_limits<float>::infinity()).triu(1);
        torch::Tensor out = torch_decoder->forward(tgt, mem_lbd, mask);
        tgt = torch::cat({tgt, out.slice(0, len - 1, len)}, 0);
      }
      torch_outputs = tgt.slice(0, 1, STEPS + 1).transpose(0, 1).contiguous();
    };
    bench::settle();
    const auto timings = bench::time_interleaved_ms(ours, theirs, ours_bf16, ours_products);
    const double t_ours = timings[0].median, t_torch = timings[1].median;
    const double t_bf16 = timings[2].median, t_products = timings[3].median;
    const double max_diff = bench::max_abs_diff(torch_outputs.data_ptr<float>(), outputs.data(),
                                                std::size_t(STEPS * D));
    // Over 128 positions, each fed the previous output: the bfloat16 rounding compounds.
    const double max_diff_bf16 = bench::max_abs_diff(torch_outputs.data_ptr<float>(),
                                                     outputs_bf16.data(), std::size_t(STEPS * D));
    const double max_diff_products = bench::max_abs_diff(
        torch_outputs.data_ptr<float>(), outputs_products.data(), std::size_t(STEPS * D));
    const double ours_tps = double(STEPS) / (t_ours * 1e-3);
    const double torch_tps = double(STEPS) / (t_torch * 1e-3);
    const double bf16_tps = double(STEPS) / (t_bf16 * 1e-3);
    const double products_tps = double(STEPS) / (t_products * 1e-3);
    std::printf(
        " %2d | %16.0f (%5.1f%%) | %24.0f | %9.1fx | %.1e | %20.0f (%5.1f%%) | %7.2fx | %.1e | "
        "%21.0f (%5.1f%%) | %7.2fx | %.1e\n",
        threads, ours_tps, 100.0 * ours_tps / bound_tps, torch_tps, ours_tps / torch_tps, max_diff,
        bf16_tps, 100.0 * bf16_tps / bound_tps_bf16, bf16_tps / ours_tps, max_diff_bf16,
        products_tps, 100.0 * products_tps / bound_tps_bf16, products_tps / ours_tps,
        max_diff_products);
  }
}
