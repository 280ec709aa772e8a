// A multi-head CNN text classifier: three Conv1D heads with kernel sizes 3, 5 and 7 read the same
// embedded sequence (keras-multi-head's MultiHead given a list of layers):
//
//   model = Sequential([Embedding(100, 20, input_length=50),
//                       MultiHead([Conv1D(32, 3, padding="same", activation="relu", name="conv3"),
//                                  Conv1D(32, 5, padding="same", activation="relu", name="conv5"),
//                                  Conv1D(32, 7, padding="same", activation="relu",
//                                  name="conv7")]),
//                       Flatten(),                            # (batch, 50, 32, 3) -> 4800
//                       Dense(4, activation="softmax")])
//
// Weights and a sample with TensorFlow.js's output are in examples/data, written by
// tools/keras_goldens/make_layer_goldens_keras.mjs --multi-head-examples. The program prints the
// summary, checks the output against TensorFlow.js's and times a call on 1 and 2 threads.
//
//   ./run-example.sh multi_head_cnn

#include <cstdint>
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>

#include <typeformer/typeformer.hpp>

#include "example_support.hpp"

namespace tfm = typeformer;
using namespace tfm::dims;

using same_relu = tfm::padding<tfm::conv_padding::same>;
template <tfm::fixed_string Name, tfm::extent_t Kernel>
using conv_head =
    tfm::conv1d<Name, 32, Kernel, same_relu, tfm::with_activation<tfm::activations::relu>>;

using classifier = tfm::model<
    tfm::tokens<batch<tfm::dynamic>, seq<50>, max_batch<8>>, tfm::embedding<"embed", 100, 20>,
    tfm::multi_head_list<conv_head<"conv3", 3>, conv_head<"conv5", 5>, conv_head<"conv7", 7>>,
    tfm::flatten<>, tfm::dense<"dense", 4, tfm::activations::softmax>>;

// 100·20 + (3 + 5 + 7)·20·32 + 3·32 + (50·32·3·4 + 4).
static_assert(classifier::parameter_count == 2'000 + 9'600 + 96 + 19'204);
static_assert(classifier::output_shape == std::array<tfm::extent_t, 2>{tfm::dynamic, 4});

int main(int argc, char** argv) try {
  const std::string path =
      argc > 1 ? argv[1]
               : std::string(TYPEFORMER_EXAMPLE_DATA) + "/keras_multi_head_cnn.safetensors";
  std::cout << tfm::summary<classifier>();

  const auto file = tfm::io::safetensors_file::open(path);
  const auto weights = tfm::load_weights<classifier>(file, tfm::naming::keras);

  const auto ids = example::read_ids(file, "selftest.ids");

  tfm::runner<classifier> run(weights, {.threads = 2});
  const xt::xtensor<float, 2> probabilities = run(ids);

  for (std::size_t b = 0; b < 3; ++b)
    std::printf("sequence %zu: p = [%.4f %.4f %.4f %.4f]\n", b, probabilities(b, 0),
                probabilities(b, 1), probabilities(b, 2), probabilities(b, 3));
  const std::size_t outside = example::compare_with_reference(file, probabilities.data(),
                                                              "selftest.output", "TensorFlow.js");

  xt::xtensor<float, 2> y = xt::empty<float>(probabilities.shape());
  example::print_times<classifier>(weights, ids, y, "(8, 50) tokens", 21);
  return outside == 0 ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "multi_head_cnn: %s\n", e.what());
  return 2;
}
