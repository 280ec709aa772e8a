#pragma once
// Weight matrices stored as bfloat16, packed once at load time: half the bytes of a
// packed_matrix, so a product that is bound by reading its weights (one token's projections
// while decoding) reads half as much.

#include <cstddef>
#include <cstdint>

#include <typeformer/io/half.hpp>
#include <typeformer/kernels/packed_matrix.hpp>
#include <typeformer/tensor/aligned_buffer.hpp>

namespace typeformer::kernels {

/// `value` rounded to the nearest bfloat16 (ties to even), as a float.
constexpr float round_to_bf16(float value) noexcept {
  return io::bf16_to_float(io::float_to_bf16(value));
}

/// What the kernels multiply the weights of a bfloat16 matrix with.
enum class bf16_inputs {
  /// The inputs as they are: each product is a bfloat16 weight times a float32 input.
  float32,
  /// The inputs rounded to bfloat16 too, as AVX-512 BF16's dot-product instruction (vdpbf16ps)
  /// takes them: each product is exact, and the two of a pair are added to the sum in turn.
  bfloat16
};

/// A K×N matrix as ⌈N/16⌉ panels of 16 columns, like packed_matrix, whose elements are rounded
/// to bfloat16 (nearest, ties to even, as PyTorch's `.bfloat16()`). Within a panel, 32-bit word
/// (i, c) holds column c of two consecutive inputs: bits 0-15 row 2i, bits 16-31 row 2i + 1; an
/// odd last row is paired with zero. Either half becomes a float with one integer operation (a
/// shift or a mask) on every instruction set, and the pairs are the operand layout of AVX-512
/// BF16's dot-product instruction. `Inputs` changes only how the GEMM multiplies, not the data.
template <bf16_inputs Inputs>
class basic_packed_bf16_matrix {
 public:
  using word = std::uint32_t;

  basic_packed_bf16_matrix() = default;
  basic_packed_bf16_matrix(std::size_t inputs, std::size_t outputs)
      : inputs_(inputs), outputs_(outputs), data_(pairs() * panels() * panel_width) {}

  /// Packs element (k, n) = element(k, n), rounded to bfloat16; see packed_matrix::pack.
  template <class Source>
  static basic_packed_bf16_matrix pack(Source&& element, std::size_t inputs, std::size_t outputs) {
    basic_packed_bf16_matrix m(inputs, outputs);
    for (std::size_t k = 0; k < inputs; ++k)
      for (std::size_t n = 0; n < outputs; ++n) m.set(k, n, element(k, n));
    return m;
  }

  std::size_t inputs() const noexcept { return inputs_; }
  std::size_t outputs() const noexcept { return outputs_; }
  std::size_t panels() const noexcept { return (outputs_ + panel_width - 1) / panel_width; }
  /// Rows of words per panel: ⌈inputs / 2⌉.
  std::size_t pairs() const noexcept { return (inputs_ + 1) / 2; }
  const word* panel(std::size_t p) const noexcept {
    return data_.data() + p * pairs() * panel_width;
  }
  /// The word row of panel p that holds inputs k and k + 1 (k even).
  const word* panel_row(std::size_t p, std::size_t k) const noexcept {
    return panel(p) + k / 2 * panel_width;
  }

  /// Element (k, n) as the kernels see it: the stored bfloat16, widened (exactly) to float.
  float at(std::size_t k, std::size_t n) const noexcept {
    return io::bf16_to_float(static_cast<std::uint16_t>(word_at(k, n) >> shift(k)));
  }

 private:
  static constexpr unsigned shift(std::size_t k) noexcept { return k % 2 == 0 ? 0u : 16u; }
  std::size_t offset(std::size_t k, std::size_t n) const noexcept {
    return (n / panel_width) * pairs() * panel_width + (k / 2) * panel_width + n % panel_width;
  }
  word word_at(std::size_t k, std::size_t n) const noexcept { return data_[offset(k, n)]; }
  void set(std::size_t k, std::size_t n, float value) noexcept {
    word& w = data_[offset(k, n)];
    const word bits = io::float_to_bf16(value);
    w = (w & ~(word{0xFFFFu} << shift(k))) | (bits << shift(k));
  }

  std::size_t inputs_ = 0;
  std::size_t outputs_ = 0;
  aligned_buffer<word> data_;
};

/// bfloat16 weights times float32 inputs.
using packed_bf16_matrix = basic_packed_bf16_matrix<bf16_inputs::float32>;
/// bfloat16 weights times inputs rounded to bfloat16: vdpbf16ps's arithmetic.
using packed_bf16_dot_matrix = basic_packed_bf16_matrix<bf16_inputs::bfloat16>;

}  // namespace typeformer::kernels
