#pragma once
// Weight matrices packed once, at load time, into the layout the GEMM kernel streams.

#include <cstddef>

#include <typeformer/tensor/aligned_buffer.hpp>

namespace typeformer::kernels {

/// Columns per packed panel. A multiple of every SIMD width (1, 4, 8, 16 floats), so a
/// packed matrix serves every instruction set and the kernel needs no column tail inside it.
inline constexpr std::size_t panel_width = 16;

/// A K×N matrix (y = x·W maps K inputs to N outputs) stored as ⌈N/16⌉ panels; panel p holds
/// columns [16p, 16p+16) for every k, row after row, zero-padded past column N. One panel
/// (16·K floats, 32 KiB at K = 512) stays in L1 while every input row streams past it.
class packed_matrix {
 public:
  packed_matrix() = default;
  packed_matrix(std::size_t inputs, std::size_t outputs)
      : inputs_(inputs), outputs_(outputs), data_(inputs * panels() * panel_width) {}

  /// Packs element (k, n) = source[k * k_stride + n * n_stride]: Keras kernels (in, out) have
  /// strides (out, 1), PyTorch weights (out, in) have strides (1, in): no transposed copy.
  template <class Source>
  static packed_matrix pack(Source&& element, std::size_t inputs, std::size_t outputs) {
    packed_matrix m(inputs, outputs);
    for (std::size_t k = 0; k < inputs; ++k)
      for (std::size_t n = 0; n < outputs; ++n) m.at(k, n) = element(k, n);
    return m;
  }

  std::size_t inputs() const noexcept { return inputs_; }
  std::size_t outputs() const noexcept { return outputs_; }
  std::size_t panels() const noexcept { return (outputs_ + panel_width - 1) / panel_width; }
  const float* panel(std::size_t p) const noexcept {
    return data_.data() + p * inputs_ * panel_width;
  }
  /// Row k of panel p: the 16 weights of input k.
  const float* panel_row(std::size_t p, std::size_t k) const noexcept {
    return panel(p) + k * panel_width;
  }

  float& at(std::size_t k, std::size_t n) noexcept {
    return data_[(n / panel_width) * inputs_ * panel_width + k * panel_width + n % panel_width];
  }
  float at(std::size_t k, std::size_t n) const noexcept {
    return data_[(n / panel_width) * inputs_ * panel_width + k * panel_width + n % panel_width];
  }

 private:
  std::size_t inputs_ = 0;
  std::size_t outputs_ = 0;
  aligned_buffer<float> data_;
};

}  // namespace typeformer::kernels
