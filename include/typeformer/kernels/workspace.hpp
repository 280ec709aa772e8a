#pragma once
// Scratch memory a layer or an expression evaluation reuses from call to call.

#include <cstddef>

#include <typeformer/tensor/aligned_buffer.hpp>

namespace typeformer {

/// Grows to the largest request it has served (or what was reserved up front) and is then
/// reused, so calls of that size or smaller allocate nothing. One per thread.
class workspace {
 public:
  workspace() = default;
  explicit workspace(std::size_t floats) : buffer_(floats) {}

  /// A pointer to at least `floats` floats; allocates only when that exceeds the capacity.
  float* reserve(std::size_t floats) {
    if (floats > buffer_.size()) buffer_ = aligned_buffer<float>(floats);
    return buffer_.data();
  }
  std::size_t capacity() const noexcept { return buffer_.size(); }

 private:
  aligned_buffer<float> buffer_;
};

}  // namespace typeformer
