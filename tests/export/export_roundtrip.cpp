// The round trip from a trained model to C++: a file written by tools/export_torch.py for a module
// of examples/pytorch_modules.py is loaded by its C++ declaration with verify::on, which runs the
// embedded self-test (PyTorch's output for a sample).
//
//   export_roundtrip DECLARATION FILE [--expect-failure TEXT]
//
// With --expect-failure the load must throw a weight_error containing TEXT: a declaration that
// disagrees with the module in an option the weight file cannot show (an activation, pre- or
// post-norm) is caught by the self-test, not by the names and shapes.

#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include <typeformer/typeformer.hpp>

namespace tfm = typeformer;
using namespace tfm::dims;

namespace {

// examples/pytorch_modules.py: small_encoder. PyTorch's inference fast path zeroes padded
// positions before the final norm, hence zero_padded_positions.
template <tfm::activation Activation>
using small_encoder = tfm::model<
    tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<32>, max_batch<4>, max_seq<16>>,
    tfm::repeat<"layers", 2,
                tfm::transformer_encoder_layer<heads<4>, dim_feedforward<64>,
                                               tfm::activation_is<Activation>>>,
    tfm::zero_padded_positions, tfm::layer_norm<"norm">>;

// examples/pytorch_modules.py: causal_token_model (the causal mask comes from the self-test's
// selftest.causal flag).
template <class... NormFirst>
using causal_token_model = tfm::model<
    tfm::tokens<batch<tfm::dynamic>, seq<tfm::dynamic>, max_batch<4>, max_seq<16>>,
    tfm::embedding<"embed", 50, 32>,
    tfm::repeat<"encoder.layers", 2,
                tfm::transformer_encoder_layer<heads<4>, dim_feedforward<64>, NormFirst...>>,
    tfm::dense<"head", 50>>;

template <class Model>
void load(const std::string& path) {
  const auto weights = tfm::load_weights<Model>(path, tfm::naming::pytorch, tfm::verify::on);
  std::printf("%s: loaded %lld parameters, self-test passed\n", path.c_str(),
              static_cast<long long>(Model::parameter_count));
}

void load_as(std::string_view declaration, const std::string& path) {
  if (declaration == "small_encoder") return load<small_encoder<tfm::activation::gelu>>(path);
  if (declaration == "small_encoder_with_relu")
    return load<small_encoder<tfm::activation::relu>>(path);
  if (declaration == "causal_token_model") return load<causal_token_model<tfm::norm_first>>(path);
  if (declaration == "causal_token_model_post_norm") return load<causal_token_model<>>(path);
  throw std::invalid_argument("unknown declaration " + std::string(declaration));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 && !(argc == 5 && std::strcmp(argv[3], "--expect-failure") == 0)) {
    std::fprintf(stderr, "usage: export_roundtrip DECLARATION FILE [--expect-failure TEXT]\n");
    return 2;
  }
  const char* expected_failure = argc == 5 ? argv[4] : nullptr;
  try {
    load_as(argv[1], argv[2]);
  } catch (const tfm::weight_error& e) {
    if (expected_failure && std::strstr(e.what(), expected_failure)) {
      std::printf("refused as expected: %s\n", e.what());
      return 0;
    }
    std::fprintf(stderr, "export_roundtrip: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "export_roundtrip: %s\n", e.what());
    return 1;
  }
  if (expected_failure) {
    std::fprintf(stderr,
                 "export_roundtrip: loaded, but expected a weight_error containing \"%s\"\n",
                 expected_failure);
    return 1;
  }
  return 0;
}
