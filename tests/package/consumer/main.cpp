// The smallest program a user writes: declare a layer, give it weights, run it.
#include <cstdio>
#include <string>
#include <vector>

#include <typeformer/typeformer.hpp>

#include "consumer_model.hpp"

namespace tfm = typeformer;

// typeformer::typeformer declares the kernels and the reader and compiles them in units of their
// own (a link error if those units were missing); typeformer::header_only defines them here.
#if defined(CONSUMER_EXPECTS_COMPILED_KERNELS)
static_assert(TYPEFORMER_COMPILED_KERNELS == 1 && TYPEFORMER_COMPILED_IO == 1);
#else
static_assert(TYPEFORMER_COMPILED_KERNELS == 0 && TYPEFORMER_COMPILED_IO == 0);
#endif
#if defined(CONSUMER_EXPECTS_BF16_KERNELS)
static_assert(TYPEFORMER_COMPILED_BF16_KERNELS == 1);
#else
static_assert(TYPEFORMER_COMPILED_BF16_KERNELS == 0);
#endif

int main() {
  using attention = consumer::attention;
  static_assert(attention::parameter_count == 4 * 4 * 4 + 4 * 4);
  // Identity projections over identical rows: attention returns that row.
  const auto weight = [](const std::string& name) {
    std::vector<float> w(name == "in_proj_weight"    ? 48
                         : name == "out_proj.weight" ? 16
                                                     : 4 * (name == "in_proj_bias" ? 3 : 1));
    if (name == "in_proj_weight" || name == "out_proj.weight")
      for (std::size_t r = 0; r < w.size() / 4; ++r) w[r * 4 + r % 4] = 1.0f;
    return w;
  };
  auto params = attention::from_weights(tfm::naming::pytorch, weight);
  // The same weights as a file, which the package test checks with typeformer-inspect against
  // the manifest typeformer_add_manifest wrote.
  tfm::io::safetensors_writer file;
  for (const tfm::weight_spec& w : attention::expected_weights(tfm::naming::pytorch, ""))
    file.add_floats(w.name, w.shape, weight(w.name));
  file.write("attention.safetensors");
  xt::xtensor<float, 3> x = {{{1, 2, 3, 4}, {1, 2, 3, 4}, {1, 2, 3, 4}}};
  xt::xtensor<float, 3> y = xt::zeros<float>({1, 3, 4});
  tfm::workspace ws;
  attention::forward(params, x, x, x, y, ws);
  std::printf("y[0, 1, :] = %g %g %g %g\n", y(0, 1, 0), y(0, 1, 1), y(0, 1, 2), y(0, 1, 3));
  return y(0, 1, 2) > 2.999f && y(0, 1, 2) < 3.001f ? 0 : 1;
}
