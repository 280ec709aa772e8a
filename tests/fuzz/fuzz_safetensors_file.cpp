// libFuzzer entry point: typeformer_fuzz::safetensors_file (see fuzz_inputs.hpp).

#include <cstddef>
#include <cstdint>
#include <span>

#include "fuzz_inputs.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  typeformer_fuzz::safetensors_file({reinterpret_cast<const std::byte*>(data), size});
  return 0;
}
