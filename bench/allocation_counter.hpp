#pragma once
// Replaces the global operator new so that a benchmark can report the heap allocations of a
// call (bench::allocations). Include from exactly one translation unit of an executable.
// libtorch's tensors come from its own allocator (posix_memalign), so only our side, and
// small C++ objects on PyTorch's side, are counted.

#include <cstdlib>
#include <new>

#include "bench_common.hpp"

// The replacements pair malloc with free; g++ 12 at -O3 inlines both into a caller and then
// takes `new` + `free` for a mismatch (-Wmismatched-new-delete), which it is not here.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

void* operator new(std::size_t size) {
  bench::allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t size, std::align_val_t align) {
  bench::allocations.fetch_add(1, std::memory_order_relaxed);
  const auto a = static_cast<std::size_t>(align);
  if (void* p = std::aligned_alloc(a, (size + a - 1) / a * a)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
