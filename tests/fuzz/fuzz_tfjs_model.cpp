// libFuzzer entry point: typeformer_fuzz::tfjs_model (see fuzz_inputs.hpp).

#include <cstddef>
#include <cstdint>
#include <span>

#include "custom_mutator.hpp"
#include "fuzz_inputs.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  typeformer_fuzz::tfjs_model({reinterpret_cast<const std::byte*>(data), size});
  return 0;
}

extern "C" std::size_t LLVMFuzzerCustomMutator(std::uint8_t* data, std::size_t size,
                                               std::size_t max_size, unsigned int seed) {
  return typeformer_fuzz::half_structured(typeformer_fuzz::mutate_tfjs_model, data, size, max_size,
                                          seed);
}
