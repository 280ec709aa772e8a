// libFuzzer entry point: typeformer_fuzz::tfjs_model (see fuzz_inputs.hpp).

#include <cstddef>
#include <cstdint>
#include <span>

#include "fuzz_inputs.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  typeformer_fuzz::tfjs_model({reinterpret_cast<const std::byte*>(data), size});
  return 0;
}
