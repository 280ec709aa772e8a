// The multi-head attention block of "Attention Is All You Need" (Vaswani et al. 2017):
// h = 8 heads, d_k = d_v = 64, d_model = 512, on a batch of 64 sequences of length 5.
// The weights come from a PyTorch nn.MultiheadAttention (tools/export_example_mha.py), which
// also stored a sample input and PyTorch's output for it; we run the same input and compare.

#include <cmath>
#include <cstdio>
#include <exception>
#include <string>

#include <typeformer/typeformer.hpp>

namespace tfm = typeformer;
using namespace tfm::dims;

// The layer is a type: its parameter count and every shape rule are known to the compiler.
using self_attention = tfm::multi_head_attention<"self_attn", heads<8>, d_model<512>>;
static_assert(self_attention::key_dim_per_head == 64);
static_assert(self_attention::parameter_count == 4 * 512 * 512 + 4 * 512);

int main(int argc, char** argv) try {
  const std::string path =
      argc > 1 ? argv[1] : std::string(TYPEFORMER_EXAMPLE_DATA) + "/aiayn_mha.safetensors";
  const auto file = tfm::io::safetensors_file::open(path);
  const auto params = tfm::load_weights<self_attention>(file, tfm::naming::pytorch);

  // A fixed-shape input: batch, sequence and width are all checked at compile time.
  using batch_of_sequences = xt::xtensor_fixed<float, xt::xshape<64, 5, 512>>;
  batch_of_sequences x, y;
  const auto input = file.read_floats("selftest.input");
  const auto expected = file.read_floats("selftest.output");
  std::copy(input.begin(), input.end(), x.begin());

  tfm::workspace workspace;
  self_attention::forward(params, x, x, x, y, workspace);

  double max_error = 0, max_reference = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    max_error = std::fmax(max_error, std::fabs(double(y.data()[i]) - expected[i]));
    max_reference = std::fmax(max_reference, std::fabs(double(expected[i])));
  }
  const double tolerance = 1e-4;
  std::printf("multi_head_attention \"self_attn\": heads 8, d_model 512, %lld parameters\n",
              static_cast<long long>(self_attention::parameter_count));
  std::printf("output shape (%zu, %zu, %zu)\n", y.shape()[0], y.shape()[1], y.shape()[2]);
  std::printf("max |typeformer - PyTorch| = %.3g (largest |output| %.3g, tolerance %.0e): %s\n",
              max_error, max_reference, tolerance, max_error <= tolerance ? "match" : "MISMATCH");
  return max_error <= tolerance ? 0 : 1;
} catch (const tfm::error& e) {
  std::fprintf(stderr, "typeformer: %s\n", e.what());
  return 2;
}
