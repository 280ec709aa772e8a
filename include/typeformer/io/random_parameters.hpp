#pragma once
// random_parameters<Layer>(seed): parameters for a model or layer without a weight file, to try
// an architecture, time it, or test code around it before the trained weights exist.
//
// Every tensor the layer expects (expected_weights) gets values drawn for its name and shape:
//   - matrices and kernels (two axes or more): uniform in ±sqrt(6 / (fan_in + fan_out)), the
//     Glorot bound Keras initialises kernels with; fan_in + fan_out is the sum of the two
//     largest axes times the others (a convolution's receptive field), so a PyTorch (out, in, k)
//     and a Keras (k, in, out) kernel get the same bound;
//   - a norm's scale (one axis, named weight, gamma or scale): ones;
//   - every other vector (biases): zeros, as PyTorch and Keras start them.
// The values depend only on the seed and the tensor's name, through a generator defined here
// (splitmix64), so they are the same on every compiler, library and machine, and the same
// tensor gets the same values in any model that names it alike.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <typeformer/core/naming.hpp>
#include <typeformer/core/weight_source.hpp>

namespace typeformer {

namespace detail {

constexpr std::uint64_t splitmix64(std::uint64_t& state) noexcept {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

constexpr std::uint64_t fnv1a(std::string_view text) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

inline bool names_a_scale(std::string_view name) {
  const std::size_t cut = name.find_last_of("./");
  const std::string_view last = cut == std::string_view::npos ? name : name.substr(cut + 1);
  return last == "weight" || last == "gamma" || last == "scale";
}

inline std::vector<float> random_tensor(const weight_spec& spec, std::uint64_t seed) {
  std::vector<float> values(element_count(spec.shape));
  if (spec.shape.size() < 2) {
    std::fill(values.begin(), values.end(), names_a_scale(spec.name) ? 1.0f : 0.0f);
    return values;
  }
  std::vector<std::int64_t> axes = spec.shape;
  std::sort(axes.begin(), axes.end(), std::greater<>());
  double fans = static_cast<double>(axes[0] + axes[1]);
  for (std::size_t i = 2; i < axes.size(); ++i) fans *= static_cast<double>(axes[i]);
  const double bound = fans > 0 ? std::sqrt(6.0 / fans) : 0.0;
  std::uint64_t state = seed ^ fnv1a(spec.name);
  for (float& v : values) {
    const double unit = static_cast<double>(splitmix64(state) >> 11) * 0x1.0p-53;  // [0, 1)
    v = static_cast<float>((2.0 * unit - 1.0) * bound);
  }
  return values;
}

}  // namespace detail

/// Parameters for `Layer` (a model or a layer) drawn from `seed`, under `naming`'s tensor names
/// (see above): the same parameters that load_weights would give for a file holding these values.
template <class Layer, class Naming = naming::pytorch_t>
typename Layer::parameters random_parameters(std::uint64_t seed, Naming naming = {}) {
  const std::vector<weight_spec> specs = Layer::expected_weights(naming);
  return Layer::from_weights(naming, [&](const std::string& name) {
    for (const weight_spec& spec : specs)
      if (spec.name == name) return detail::random_tensor(spec, seed);
    return std::vector<float>{};  // not expected: from_weights names the tensor in its error
  });
}

}  // namespace typeformer
