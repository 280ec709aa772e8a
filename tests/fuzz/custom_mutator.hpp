#pragma once
// libFuzzer's custom mutator for the targets with a structure-aware mutation (included only by
// the fuzz entry points: LLVMFuzzerMutate exists only in a libFuzzer link).

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

extern "C" std::size_t LLVMFuzzerMutate(std::uint8_t* data, std::size_t size, std::size_t max_size);

namespace typeformer_fuzz {

using structured_mutation = std::vector<std::byte> (*)(std::span<const std::byte>, std::uint64_t);

/// Half the mutations are libFuzzer's own (bytes), half `mutate`'s; a result longer than
/// max_size falls back to libFuzzer's.
inline std::size_t half_structured(structured_mutation mutate, std::uint8_t* data, std::size_t size,
                                   std::size_t max_size, unsigned int seed) {
  if (seed % 2 == 0) return LLVMFuzzerMutate(data, size, max_size);
  const auto mutated = mutate({reinterpret_cast<const std::byte*>(data), size}, seed / 2);
  if (mutated.empty() || mutated.size() > max_size) return LLVMFuzzerMutate(data, size, max_size);
  std::memcpy(data, mutated.data(), mutated.size());
  return mutated.size();
}

}  // namespace typeformer_fuzz
