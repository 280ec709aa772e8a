// Writes the weight manifests the typeformer-inspect tests compare files with, into DIR. One
// program for all of them keeps the build short; the CMake helper typeformer_add_manifest, which
// writes one manifest per program, is exercised by tests/package from an installed package.

#include <cstdio>
#include <exception>
#include <string>

#include <typeformer/io/weight_manifest.hpp>

#include "manifest_models.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: write_test_manifests DIR\n");
    return 2;
  }
  namespace tfm = typeformer;
  const std::string dir = argv[1];
  try {
    tfm::manifest<manifest_models::small_encoder>(tfm::naming::pytorch)
        .save(dir + "/small_encoder.json");
    tfm::manifest<manifest_models::small_encoder_wide_feedforward>(tfm::naming::pytorch)
        .save(dir + "/small_encoder_wide_feedforward.json");
    tfm::manifest<manifest_models::keras_dense_norm>(tfm::naming::keras)
        .save(dir + "/keras_dense_norm.json");
    // keras-multi-head's layer named "self", as it sits in a model: its weights under "self/".
    tfm::manifest<manifest_models::keras_multi_head_self>(tfm::naming::keras, {.prefix = "self/"})
        .save(dir + "/keras_multi_head_self.json");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "write_test_manifests: %s\n", e.what());
    return 1;
  }
  return 0;
}
