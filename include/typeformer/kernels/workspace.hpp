#pragma once
// What a layer call needs besides its inputs and weights: reusable scratch memory and the
// threads that share the work. One workspace serves one call at a time.

#include <cstddef>

#include <typeformer/kernels/thread_pool.hpp>
#include <typeformer/tensor/aligned_buffer.hpp>

namespace typeformer {

/// Scratch memory grows to the largest request served (or reserved up front) and is then
/// reused, so calls of that size or smaller allocate nothing. `threads` participants (the
/// caller and threads − 1 workers started here) share each call's loops.
class workspace {
 public:
  explicit workspace(std::size_t threads = 1) : pool_(threads) {}

  /// A pointer to at least `floats` floats; allocates only when that exceeds the capacity.
  float* reserve(std::size_t floats) {
    if (floats > buffer_.size()) buffer_ = aligned_buffer<float>(floats);
    return buffer_.data();
  }
  std::size_t capacity() const noexcept { return buffer_.size(); }
  std::size_t threads() const noexcept { return pool_.size(); }
  thread_pool& pool() noexcept { return pool_; }

 private:
  aligned_buffer<float> buffer_;
  thread_pool pool_;
};

}  // namespace typeformer
