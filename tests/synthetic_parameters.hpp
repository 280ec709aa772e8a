#pragma once
// Deterministic parameters for tests that need a model's weights but no reference output
// (allocation counts, concurrency): `value(i, t)` gives element i of the model's t-th tensor.

#include <cstddef>
#include <string>
#include <vector>

#include <typeformer/core/naming.hpp>

template <class Model, class Value>
typename Model::parameters synthetic_parameters(Value value) {
  std::size_t tensor = 0;
  const auto specs = Model::expected_weights(typeformer::naming::pytorch);
  return Model::from_weights(typeformer::naming::pytorch, [&](const std::string& name) {
    std::size_t n = 1;
    for (const auto& spec : specs)
      if (spec.name == name)
        for (auto e : spec.shape) n *= static_cast<std::size_t>(e);
    std::vector<float> w(n);
    for (std::size_t i = 0; i < n; ++i) w[i] = value(i, tensor);
    ++tensor;
    return w;
  });
}
