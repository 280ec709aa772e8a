// The walkthrough's program (docs/guide/7-walkthrough.md): loads the exported weights with the
// self-test, tags a batch of two sequences (the second padded after 9 positions), and writes the
// input, the lengths and the output to a file that compare.py checks against PyTorch.
#include <cmath>
#include <cstdio>
#include <vector>

#include <typeformer/typeformer.hpp>

#include "my_model.hpp"

int main(int argc, char** argv) try {
  namespace tfm = typeformer;
  using my_app::token_tagger;
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s WEIGHTS.safetensors OUTPUT.safetensors\n", argv[0]);
    return 2;
  }
  // Names, shapes and the exporter's self-test are checked here.
  const auto weights =
      tfm::load_weights<token_tagger>(argv[1], tfm::naming::pytorch, tfm::verify::on);

  tfm::runner<token_tagger> run(weights, {.threads = 2});
  xt::xtensor<float, 3> x = xt::zeros<float>({std::size_t{2}, std::size_t{16}, std::size_t{64}});
  for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = float(std::sin(0.37 * double(i)));
  const std::vector<tfm::extent_t> lengths = {16, 9};
  const auto y = run(x, tfm::masks::key_lengths{lengths});
  std::printf("tags for position 0: ");
  for (std::size_t t = 0; t < y.shape(2); ++t) std::printf("%.3f ", y(0, 0, t));
  std::printf("\n");

  tfm::io::safetensors_writer out;
  out.add_floats("input", {2, 16, 64}, {x.data(), x.size()});
  out.add_integers("lengths", {2}, std::vector<std::int64_t>(lengths.begin(), lengths.end()));
  out.add_floats("output", {2, 16, 10}, {y.data(), y.size()});
  out.write(argv[2]);
} catch (const typeformer::error& e) {
  std::fprintf(stderr, "%s\n", e.what());
  return 1;
}
