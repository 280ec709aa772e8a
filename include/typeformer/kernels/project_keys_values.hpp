#pragma once
// Key and value projections written straight into the attention kernel's per-head layouts.
// A task projects a tile of rows into its thread's staging and copies it out while the tile is
// still in L2, so the staging is O(threads × tile) however long the sequence: no (batch·length ×
// width) intermediate exists.

#include <algorithm>
#include <cstddef>

#include <typeformer/kernels/activation.hpp>
#include <typeformer/kernels/attention_layout.hpp>
#include <typeformer/kernels/compiled_kernels.hpp>
#include <typeformer/kernels/gemm.hpp>
#include <typeformer/kernels/packed_matrix.hpp>
#include <typeformer/kernels/rotary_embedding.hpp>
#include <typeformer/kernels/simd.hpp>
#include <typeformer/kernels/thread_pool.hpp>

namespace typeformer::kernels {

/// Rows of keys (and of values) one task projects at a time: the staging is this × width per
/// thread, and enough tiles for two threads to share a short sequence.
inline constexpr std::size_t key_value_tile_rows = 96;

/// What to project: `batch` × `key_len` rows of keys (key_features wide, contiguous) by
/// `key_weights` and as many rows of values by `value_weights`, each with its bias (or null) and
/// activation. `Weights` is any matrix gemm takes.
template <class Weights>
struct basic_key_value_projection {
  const float* key = nullptr;
  std::size_t key_features = 0;
  const Weights* key_weights = nullptr;
  const float* key_bias = nullptr;
  const float* value = nullptr;
  std::size_t value_features = 0;
  const Weights* value_weights = nullptr;
  const float* value_bias = nullptr;
  activation act = activation::identity;
  /// Rotary position embedding of the projected keys (none while the tables are null): key j
  /// of a sequence turns by the angles of row j of the tables (rotary_angles, rotary_dims / 2
  /// floats a row).
  const float* key_cos = nullptr;
  const float* key_sin = nullptr;
  std::size_t rotary_dims = 0;
  rotary_pairs rotary = rotary_pairs::half_split;
};
using key_value_projection = basic_key_value_projection<packed_matrix>;

/// Floats of staging for `threads` threads projecting to `key_width` and `value_width` columns.
constexpr std::size_t key_value_staging_floats(std::size_t threads, std::size_t key_width,
                                               std::size_t value_width) noexcept {
  return threads * key_value_tile_rows * std::max(key_width, value_width);
}

/// Projects the keys and values into `kt` (transposed key blocks) and `v`
/// (value rows of o.v_stride, blocks of key_len rows) for the key/value heads, key_dim,
/// value_dim, key_len and key_capacity of `o`, on every thread of `pool`. `staging` holds
/// key_value_staging_floats(pool.size(), kv_heads·key_dim, kv_heads·value_dim) floats.
template <class Arch, class Weights = packed_matrix>
void project_keys_and_values(thread_pool& pool, const basic_key_value_projection<Weights>& a,
                             std::size_t batch, const attention_operands& o, float* kt, float* v,
                             float* staging) noexcept {
  const std::size_t H = o.kv_heads ? o.kv_heads : o.heads, kd = o.key_dim, vd = o.value_dim,
                    key_len = o.key_len;
  const std::size_t KW = H * kd, VW = H * vd, rows = batch * key_len;
  if (rows == 0) return;
  // Tiles a whole number of micro-kernels high, at least two per thread when rows are few, so
  // that both threads stay busy; a tile's split never changes an output's bits.
  constexpr std::size_t R = gemm_rows<Arch>;
  const std::size_t threads = pool.size();
  const std::size_t tile =
      std::min(key_value_tile_rows, simd::round_up((rows + 2 * threads - 1) / (2 * threads), R));
  const std::size_t tiles = (rows + tile - 1) / tile;
  pool.parallel_for(tiles, 1, [&](std::size_t first, std::size_t last, std::size_t who) {
    float* stage = staging + who * key_value_tile_rows * std::max(KW, VW);
    // Calls copy(b, j, count, rows) for the tile's rows by batch entry: a tile may end one
    // sequence and begin the next.
    const auto by_sequence = [&](std::size_t r0, std::size_t n, std::size_t columns, auto&& copy) {
      for (std::size_t r = r0; r < r0 + n;) {
        const std::size_t b = r / key_len, j = r % key_len;
        const std::size_t count = std::min(key_len - j, r0 + n - r);
        copy(b, j, count, stage + (r - r0) * columns);
        r += count;
      }
    };
    for (std::size_t t = first; t < last; ++t) {
      const std::size_t r0 = t * tile, n = std::min(tile, rows - r0);
      gemm<Arch, Weights>({a.key + r0 * a.key_features, a.key_features, n, a.key_weights,
                           a.key_bias, 1.0f, stage, KW, a.act});
      by_sequence(r0, n, KW, [&](std::size_t b, std::size_t j, std::size_t count, float* k) {
        if (a.key_cos)
          rotate_rows_in_place<Arch>(k, count, KW, H, kd, a.rotary_dims, a.rotary,
                                     a.key_cos + j * (a.rotary_dims / 2),
                                     a.key_sin + j * (a.rotary_dims / 2));
        append_keys_transposed<Arch>(k, {0, kd, KW}, 1, H, j, count, kd,
                                     kt + b * H * kd * o.key_capacity, o.key_capacity);
      });
      gemm<Arch, Weights>({a.value + r0 * a.value_features, a.value_features, n, a.value_weights,
                           a.value_bias, 1.0f, stage, VW, a.act});
      by_sequence(r0, n, VW, [&](std::size_t b, std::size_t j, std::size_t count, float* x) {
        append_values<Arch>(x, {0, vd, VW}, 1, H, j, count, vd, v + b * H * key_len * o.v_stride,
                            o.v_stride, key_len * o.v_stride);
      });
    }
  });
  // The padding keys past key_len are left as they are: the kernels never compute with them.
}

}  // namespace typeformer::kernels

// Compiled once per program when TYPEFORMER_COMPILED_KERNELS is 1 (kernels/compiled_kernels.hpp).
#define TYPEFORMER_KEY_VALUE_PROJECTION_INSTANCES_FOR(PREFIX, ARCH, WEIGHTS)                     \
  PREFIX template void typeformer::kernels::project_keys_and_values<ARCH, WEIGHTS>(              \
      typeformer::thread_pool&, const typeformer::kernels::basic_key_value_projection<WEIGHTS>&, \
      std::size_t, const typeformer::kernels::attention_operands&, float*, float*,               \
      float*) noexcept;
#define TYPEFORMER_KEY_VALUE_PROJECTION_INSTANCES(PREFIX, ARCH) \
  TYPEFORMER_KEY_VALUE_PROJECTION_INSTANCES_FOR(PREFIX, ARCH, typeformer::kernels::packed_matrix)
#define TYPEFORMER_BF16_KEY_VALUE_PROJECTION_INSTANCES(PREFIX, ARCH)                     \
  TYPEFORMER_KEY_VALUE_PROJECTION_INSTANCES_FOR(PREFIX, ARCH,                            \
                                                typeformer::kernels::packed_bf16_matrix) \
  TYPEFORMER_KEY_VALUE_PROJECTION_INSTANCES_FOR(PREFIX, ARCH,                            \
                                                typeformer::kernels::packed_bf16_dot_matrix)
#if TYPEFORMER_COMPILED_KERNELS
TYPEFORMER_FOR_EACH_KERNEL_ARCH(TYPEFORMER_KEY_VALUE_PROJECTION_INSTANCES, extern)
#endif
#if TYPEFORMER_COMPILED_BF16_KERNELS
TYPEFORMER_FOR_EACH_KERNEL_ARCH(TYPEFORMER_BF16_KEY_VALUE_PROJECTION_INSTANCES, extern)
#endif
