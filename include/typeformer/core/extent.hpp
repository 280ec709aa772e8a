#pragma once
// Extents: a dimension's size is either fixed at compile time or `dynamic` (known at run time).

#include <cstddef>

namespace typeformer {

/// The type of every extent. Signed, like Eigen's Index, so that `dynamic` can be -1.
using extent_t = std::ptrdiff_t;

/// Marks an extent that is known only at run time: `batch<dynamic>`.
inline constexpr extent_t dynamic = -1;

constexpr bool is_static_extent(extent_t e) noexcept { return e != dynamic; }

/// Two extents agree when either is dynamic (checked later, at run time) or both are equal.
constexpr bool extents_may_agree(extent_t a, extent_t b) noexcept {
  return a == dynamic || b == dynamic || a == b;
}

}  // namespace typeformer
