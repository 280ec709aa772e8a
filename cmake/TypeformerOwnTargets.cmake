# Settings for typeformer's own tests, examples and benchmarks. None of this is exported.

# Warnings are errors in our own targets.
add_library(typeformer_warnings INTERFACE)
target_compile_options(typeformer_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion -Werror
  # GCC 12's AVX-512 intrinsics start from _mm512_undefined_ps(), which -W(maybe-)uninitialized
  # reports once inlined into any caller (GCC bug 105593); it is not a fault in our code.
  # clang keeps both warnings on for our code.
  $<$<CXX_COMPILER_ID:GNU>:-Wno-maybe-uninitialized -Wno-uninitialized>)

# Instruction-set flags for one target (see docs/simd.md).
function(typeformer_simd_flags out simd)
  if(simd STREQUAL "native")
    set(flags -march=native)
  elseif(simd STREQUAL "avx512")
    set(flags -mavx512f -mavx512cd -mavx512dq -mavx512bw -mavx512vl -mavx2 -mfma -mf16c)
  elseif(simd STREQUAL "avx2")
    set(flags -mavx2 -mfma -mf16c)
  elseif(simd STREQUAL "sse2")
    set(flags -msse2)
  elseif(simd STREQUAL "scalar")
    set(flags -DTYPEFORMER_FORCE_SCALAR=1)
  else()
    message(FATAL_ERROR "TYPEFORMER_SIMD: unknown instruction set '${simd}'")
  endif()
  set(${out} ${flags} PARENT_SCOPE)
endfunction()

typeformer_simd_flags(_typeformer_flags ${TYPEFORMER_SIMD})
add_library(typeformer_simd INTERFACE)
target_compile_options(typeformer_simd INTERFACE ${_typeformer_flags})
if(TYPEFORMER_SIMD STREQUAL "sse2" OR TYPEFORMER_SIMD STREQUAL "scalar")
  message(WARNING "typeformer: TYPEFORMER_SIMD=${TYPEFORMER_SIMD}: kernels run without AVX; "
                  "inference will be several times slower than with -mavx2 -mfma or -march=native")
endif()
