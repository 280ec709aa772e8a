#pragma once
// Owning, 64-byte aligned, zero-initialised storage for weights and workspaces.

#include <cstddef>
#include <cstring>
#include <memory>
#include <new>
#include <span>

namespace typeformer {

/// A fixed-size array of T aligned for the widest SIMD register. Allocates once, at
/// construction; kernels only ever see its pointer.
template <class T>
class aligned_buffer {
 public:
  static constexpr std::align_val_t alignment{64};

  aligned_buffer() = default;
  explicit aligned_buffer(std::size_t count)
      : data_(count ? static_cast<T*>(::operator new[](count * sizeof(T), alignment)) : nullptr),
        size_(count) {
    if (count) std::memset(static_cast<void*>(data_.get()), 0, count * sizeof(T));
  }

  T* data() noexcept { return data_.get(); }
  const T* data() const noexcept { return data_.get(); }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  T& operator[](std::size_t i) noexcept { return data_[i]; }
  const T& operator[](std::size_t i) const noexcept { return data_[i]; }
  std::span<T> span() noexcept { return {data(), size_}; }
  std::span<const T> span() const noexcept { return {data(), size_}; }

 private:
  struct release {
    void operator()(T* p) const noexcept { ::operator delete[](p, alignment); }
  };
  std::unique_ptr<T[], release> data_;
  std::size_t size_ = 0;
};

}  // namespace typeformer
