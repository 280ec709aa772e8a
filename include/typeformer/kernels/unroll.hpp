#pragma once
// TYPEFORMER_UNROLL_REGISTER_LOOP goes before every loop over a kernel's register arrays
// (accumulators, weights, scores). Unless such a loop is unrolled, the array lives on the stack
// and every FMA goes through memory: GCC 12 at -O2 unrolls none of them by itself, and Clang at
// -O2 not all (a third of the -O3 speed, docs/performance.md). GCC and Clang both honour the
// pragma. Under a sanitizer it expands to nothing: speed does not matter there, and the
// unrolled, instrumented bodies made Clang's ASan+UBSan compile of the kernel tests 60% slower.
// A pragma cannot be spelled without the preprocessor, hence a macro.

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TYPEFORMER_UNROLL_REGISTER_LOOP
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define TYPEFORMER_UNROLL_REGISTER_LOOP
#endif
#endif
#ifndef TYPEFORMER_UNROLL_REGISTER_LOOP
#define TYPEFORMER_UNROLL_REGISTER_LOOP _Pragma("GCC unroll 16")
#endif
