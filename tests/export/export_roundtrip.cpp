// The round trip from a trained model to C++: a file written by tools/export_torch.py for a module
// of examples/pytorch_modules.py, or by tools/keras_h5_to_safetensors.py for a Keras HDF5 file,
// is loaded by its C++ declaration with verify::on, which runs the embedded self-test (the
// framework's output for a sample).
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

#include "exported_models.hpp"

namespace tfm = typeformer;
using namespace tfm::dims;

namespace {

using exported_models::causal_token_model;
using exported_models::small_encoder;

template <class Model, class Naming = tfm::naming::pytorch_t>
void load(const std::string& path, Naming naming = {}) {
  const auto weights = tfm::load_weights<Model>(path, naming, tfm::verify::on);
  std::printf("%s: loaded %lld parameters, self-test passed\n", path.c_str(),
              static_cast<long long>(Model::parameter_count));
}

void load_as(std::string_view declaration, const std::string& path) {
  if (declaration == "small_encoder") return load<small_encoder<tfm::activations::gelu>>(path);
  if (declaration == "small_encoder_with_relu")
    return load<small_encoder<tfm::activations::relu>>(path);
  if (declaration == "causal_token_model") return load<causal_token_model<tfm::norm_first>>(path);
  if (declaration == "causal_token_model_post_norm") return load<causal_token_model<>>(path);
  if (declaration == "small_decoder") return load<exported_models::small_decoder<>>(path);
  if (declaration == "small_decoder_pre_norm")
    return load<exported_models::small_decoder<tfm::norm_first>>(path);
  if (declaration == "encoder_with_head")
    return load<exported_models::encoder_with_head<tfm::zero_padded_positions>>(path);
  if (declaration == "encoder_with_head_unzeroed")
    return load<exported_models::encoder_with_head<>>(path);
  // Keras: files written by tools/keras_h5_to_safetensors.py.
  if (declaration == "keras_dense_norm")
    return load<exported_models::keras_dense_norm>(path, tfm::naming::keras);
  if (declaration == "keras_dense_norm_with_tanh")  // the file cannot tell; the self-test can
    return load<tfm::model<
        tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<10>, max_batch<2>, max_seq<6>>,
        tfm::dense<"hidden", 16, tfm::activations::tanh>,
        tfm::layer_norm<"norm", tfm::epsilon<1, -5>>, tfm::dense<"out", 4>>>(path,
                                                                             tfm::naming::keras);
  if (declaration == "keras_embedding_lstm")
    return load<exported_models::keras_embedding_lstm>(path, tfm::naming::keras);
  if (declaration == "keras_mha_block")
    return load<exported_models::keras_mha_block>(path, tfm::naming::keras);
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
