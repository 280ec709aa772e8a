// keras-multi-head's "multi-head LSTM" text classifier:
//
//   model = Sequential([Embedding(100, 20, input_length=50),
//                       MultiHead(LSTM(64), layer_num=3),     # three copies: (batch, 64, 3)
//                       Flatten(),
//                       Dense(4, activation="softmax")])
//
// The weights (Keras names: embed/embeddings, lstm_1/kernel ... lstm_3/bias, dense/kernel) and a
// sample of 8 sequences with TensorFlow.js's output are in examples/data, written by
// tools/keras_goldens/make_layer_goldens_keras.mjs --multi-head-examples. The program prints the
// model's summary, checks its output against TensorFlow.js's and times a call on 1 and 2
// threads: the three LSTM copies run in parallel.
//
//   ./run-example.sh multi_head_lstm

#include <cstdint>
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>

#include <typeformer/typeformer.hpp>

#include "example_support.hpp"

namespace tfm = typeformer;
using namespace tfm::dims;

using classifier =
    tfm::model<tfm::tokens<batch<tfm::dynamic>, seq<50>, max_batch<8>>,
               tfm::embedding<"embed", 100, 20>, tfm::multi_head<tfm::lstm<"lstm", 64>, 3>,
               tfm::flatten<>, tfm::dense<"dense", 4, tfm::activations::softmax>>;

// Keras's count: 100·20 + 3·4·64·(20 + 64 + 1) + (192·4 + 4).
static_assert(classifier::parameter_count == 68'052);
static_assert(classifier::output_shape == std::array<tfm::extent_t, 2>{tfm::dynamic, 4});

int main(int argc, char** argv) try {
  const std::string path =
      argc > 1 ? argv[1]
               : std::string(TYPEFORMER_EXAMPLE_DATA) + "/keras_multi_head_lstm.safetensors";
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
  std::fprintf(stderr, "multi_head_lstm: %s\n", e.what());
  return 2;
}
