#pragma once
// The fuzz targets' bodies, shared by the libFuzzer entry points (tests/fuzz/fuzz_*.cpp, the
// `fuzz` preset) and by the corpus replay test (every build), so a crash the fuzzer finds stays
// a regression test once its input is in tests/fuzz/corpus/.
//
// Each body takes arbitrary bytes and returns normally when the library either accepted them or
// threw the typed exception its contract names; any other outcome (another exception, a broken
// invariant, a sanitizer report) aborts.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace typeformer_fuzz {

/// A safetensors file: parse, read every tensor as its kind, write it back and read it again.
void safetensors_file(std::span<const std::byte> data);

/// A weight file for each of the small models in both namings: load_weights, then a run.
void load_weights(std::span<const std::byte> data);

/// from_weights of a model or layer chosen by the first byte, the naming by the second; each
/// tensor it asks for gets a length and values taken from the rest; on success, a run.
void weight_conversion(std::span<const std::byte> data);

/// A TensorFlow.js model: model.json's text, a NUL byte, then the shard bytes (every shard the
/// manifest names is read from them, concatenated). Parsed, its weights listed and loaded into a
/// Keras model (with the self-test when there is one); the text is also read as a weight
/// manifest (typeformer-inspect --against), which must survive its JSON round trip.
void tfjs_model(std::span<const std::byte> data);

/// Structure-aware mutations (structured_mutations.cpp), for libFuzzer's custom mutator: the
/// input parsed, changed as a hostile writer would (self-test extents and tolerances, huge
/// extents beside a 0, dropped tensors, other dtypes; for model.json, shards listed again,
/// repeated layers, quantisation extremes, key lengths, duplicate keys) and written back valid.
/// An input that does not parse becomes a valid weight file (the empty input of an empty
/// corpus included); a model.json that does not parse comes back unchanged.
std::vector<std::byte> mutate_weight_file(std::span<const std::byte> data, std::uint64_t seed);
std::vector<std::byte> mutate_tfjs_model(std::span<const std::byte> data, std::uint64_t seed);

/// A named seed input.
struct seed {
  std::string name;
  std::vector<std::byte> bytes;
};

/// Valid inputs for each target: a weight file per model and naming, the lengths every
/// conversion case expects.
std::vector<seed> load_weights_seeds();
std::vector<seed> weight_conversion_seeds();
/// The tfjs fixtures of `test_data`/tfjs (valid and hostile) and weight manifests, each as
/// model.json + NUL + shards.
std::vector<seed> tfjs_model_seeds(const std::string& test_data);

}  // namespace typeformer_fuzz
