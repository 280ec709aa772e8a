// A 6-layer transformer encoder (d_model 512, 8 heads, feed-forward 2048, a final norm) exported
// from PyTorch's nn.TransformerEncoder (examples/pytorch_modules.py:encoder_6x512) by
// tools/export_torch.py, loaded by its state_dict names, run on a padded batch and compared with
// PyTorch's output.
//
//   ./run-example.sh transformer_encoder     (exports the weights first if they are missing)

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include <typeformer/typeformer.hpp>

namespace tfm = typeformer;
using namespace tfm::dims;

// nn.TransformerEncoder(nn.TransformerEncoderLayer(512, 8, 2048, batch_first=True), 6,
// norm=nn.LayerNorm(512)). PyTorch's inference fast path zeroes padded positions before the
// final norm; zero_padded_positions says so (leave it out to match PyTorch's general path).
using encoder = tfm::model<
    tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<512>, max_batch<8>, max_seq<128>>,
    tfm::repeat<"layers", 6, tfm::transformer_encoder_layer<heads<8>, dim_feedforward<2048>>>,
    tfm::zero_padded_positions, tfm::layer_norm<"norm">>;

static_assert(encoder::parameter_count == 18'915'328);
static_assert(encoder::output_shape[2] == 512);

int main(int argc, char** argv) try {
  const std::string path =
      argc > 1 ? argv[1]
               : std::string(TYPEFORMER_EXAMPLE_DATA) + "/generated/encoder_6x512.safetensors";
  std::cout << tfm::summary<encoder>();
  std::printf("workspace at batch 8, length 128, one thread: %.1f MB\n",
              double(encoder::workspace_bytes) / 1e6);

  const auto file = tfm::io::safetensors_file::open(path);
  // verify::on runs the exporter's self-test (PyTorch's output for a sample) before returning.
  const auto weights = tfm::load_weights<encoder>(file, tfm::naming::pytorch, tfm::verify::on);

  // The exporter's sample: a padded batch (B, L, 512), its lengths and PyTorch's output.
  const auto* shape = file.find("selftest.input");
  const auto B = static_cast<std::size_t>(shape->shape[0]);
  const auto L = static_cast<std::size_t>(shape->shape[1]);
  xt::xtensor<float, 3> x = xt::empty<float>({B, L, std::size_t(512)});
  const auto input = file.read_floats("selftest.input");
  std::copy(input.begin(), input.end(), x.begin());
  std::vector<tfm::extent_t> lengths;
  for (auto n : file.read_integers("selftest.key_lengths")) lengths.push_back(n);

  tfm::runner<encoder> run(weights, {.threads = 2});
  xt::xtensor<float, 3> y = xt::empty<float>(x.shape());
  const auto start = std::chrono::steady_clock::now();
  run(x, y, tfm::masks::key_lengths{lengths});
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();

  // The exporter's tolerance, checked by it against a float64 run of the module.
  const double atol = std::stod(file.metadata().at("selftest.atol"));
  const double rtol = std::stod(file.metadata().at("selftest.rtol"));
  const auto reference = file.read_floats("selftest.output");
  double worst = 0.0;
  std::size_t outside = 0;
  for (std::size_t i = 0; i < reference.size(); ++i) {
    const double diff = std::fabs(double(y.data()[i]) - reference[i]);
    worst = std::max(worst, diff);
    if (diff > atol + rtol * std::fabs(reference[i])) ++outside;
  }
  std::printf("batch %zu, length %zu, lengths", B, L);
  for (auto n : lengths) std::printf(" %lld", static_cast<long long>(n));
  std::printf("\nfirst call on 2 threads: %.2f ms\n", ms);
  std::printf("max |ours - PyTorch| = %.2e over %zu values; %zu outside atol %.0e + rtol %.0e\n",
              worst, reference.size(), outside, atol, rtol);
  return outside == 0 ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "transformer_encoder: %s\n", e.what());
  return 2;
}
