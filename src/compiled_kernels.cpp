// The kernels every model uses, compiled once for the program (see
// <typeformer/kernels/compiled_kernels.hpp>). Compile this file with the same instruction-set
// flags as the rest of the program and with TYPEFORMER_COMPILED_KERNELS=1 everywhere (and
// TYPEFORMER_COMPILED_BF16_KERNELS=1 for the bfloat16-weight GEMMs too); CMake's
// typeformer_compile_kernels_once(target [BF16]) does both.

#if !defined(TYPEFORMER_COMPILED_KERNELS) || !TYPEFORMER_COMPILED_KERNELS
#error \
    "compiled_kernels.cpp defines the kernels the other units declare: build every unit with TYPEFORMER_COMPILED_KERNELS=1"
#endif

#include <typeformer/kernels/attention_probabilities.hpp>
#include <typeformer/kernels/compiled_kernels.hpp>
#include <typeformer/kernels/flash_attention.hpp>
#include <typeformer/kernels/gemm.hpp>
#include <typeformer/kernels/project_keys_values.hpp>

TYPEFORMER_FOR_EACH_KERNEL_ARCH(TYPEFORMER_GEMM_INSTANCES, )
TYPEFORMER_FOR_EACH_KERNEL_ARCH(TYPEFORMER_FLASH_ATTENTION_INSTANCES, )
TYPEFORMER_FOR_EACH_KERNEL_ARCH(TYPEFORMER_ATTENTION_PROBABILITIES_INSTANCES, )
TYPEFORMER_FOR_EACH_KERNEL_ARCH(TYPEFORMER_KEY_VALUE_PROJECTION_INSTANCES, )
#if TYPEFORMER_COMPILED_BF16_KERNELS
TYPEFORMER_FOR_EACH_KERNEL_ARCH(TYPEFORMER_BF16_GEMM_INSTANCES, )
TYPEFORMER_FOR_EACH_KERNEL_ARCH(TYPEFORMER_BF16_KEY_VALUE_PROJECTION_INSTANCES, )
#endif
