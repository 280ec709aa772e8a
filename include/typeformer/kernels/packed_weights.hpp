#pragma once
// The element format of a layer's packed weight matrices, chosen by its type.

#include <type_traits>

#include <typeformer/kernels/packed_bf16_matrix.hpp>
#include <typeformer/kernels/packed_matrix.hpp>

namespace typeformer {

/// How a layer stores its weight matrices. Activations, biases and sums stay float32 either way.
enum class weight_format {
  /// As loaded: the results match PyTorch's float32 module.
  float32,
  /// Rounded to bfloat16 at load time: half the memory and half the bytes each product reads.
  /// bfloat16 keeps 8 significant bits, so each weight carries a relative error of at most 2^-8;
  /// see docs/bf16_weights.md for what that does to a layer's outputs.
  bfloat16,
  /// Stored as bfloat16, and each product's input rounded to bfloat16 too, with float32 sums:
  /// the arithmetic of AVX-512 BF16's dot-product instruction, vdpbf16ps (Zen 4, Cooper Lake,
  /// Sapphire Rapids and later), about twice the float32 FMA rate. Used where the CPU has it
  /// and the layer runs AVX-512 kernels; elsewhere emulated with the same bits, more slowly
  /// than `bfloat16`. See docs/bf16_weights.md.
  bfloat16_products
};

namespace kernels {

/// The packed matrix type that stores weights in `Format`.
template <weight_format Format>
using packed_weights =
    std::conditional_t<Format == weight_format::bfloat16, packed_bf16_matrix,
                       std::conditional_t<Format == weight_format::bfloat16_products,
                                          packed_bf16_dot_matrix, packed_matrix>>;

}  // namespace kernels
}  // namespace typeformer
