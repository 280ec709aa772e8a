#pragma once
// The per-head layouts the attention kernels read, and the copies that produce them from
// projection outputs. Keys are stored transposed, in blocks of 64 keys: block t holds key_dim
// rows of keys [64t, 64t + 64), one after the other. Scores for a tile of keys are then
// broadcast-FMAs over contiguous keys with no horizontal sums, and a tile is one contiguous
// 16 KiB run at head width 64: rows a whole sequence apart would share L1 sets and evict
// each other. Up to 64 keys are one block as wide as the keys rounded up to 16: at (64, 5, 512,
// 8) a 64-key block spread each head's five keys over 64 cache lines 256 bytes apart, 8 MiB of
// blocks for 0.65 MB of keys.

#include <algorithm>
#include <cstddef>
#include <type_traits>

#include <typeformer/kernels/exp.hpp>
#include <typeformer/kernels/simd.hpp>

namespace typeformer::kernels {

/// Keys per stored block of transposed keys: every instruction set's key tile divides it.
inline constexpr std::size_t attention_key_block = 64;
/// What the width of a lone, shorter block is a multiple of: every SIMD width and the scalar
/// path's key tile, so that whole registers of keys stay within the block.
inline constexpr std::size_t attention_short_key_multiple = 16;
static_assert(attention_key_block % attention_short_key_multiple == 0);

/// Keys per stored block in a buffer of `key_capacity` keys per (batch, head)
/// (attention_operands::key_capacity_for): 64, or the capacity when it is less.
constexpr std::size_t stored_key_block(std::size_t key_capacity) noexcept {
  return std::min(key_capacity, attention_key_block);
}
/// The padded per-head value row, a multiple of every SIMD width.
inline constexpr std::size_t attention_value_stride_multiple = 16;

/// Shapes and pointers of one attention call over projected, per-head data.
struct attention_operands {
  std::size_t batch = 0, heads = 0, query_len = 0, key_len = 0, key_dim = 0, value_dim = 0;
  // Heads of keys and values, dividing `heads` (grouped-query attention; 1 is multi-query);
  // 0 means `heads`. Query head h reads key/value head h·kv_heads/heads.
  std::size_t kv_heads = 0;
  // q(b,h,i,d) = q[b*q_batch + h*q_head + i*q_row + d]; scores are (q·k)·q_scale.
  const float* q = nullptr;
  std::size_t q_batch = 0, q_head = 0, q_row = 0;
  float q_scale = 1.0f;
  maths softmax_maths = maths::fast;  // how the softmax's exponentials are evaluated
  // Block (b,h) at kt + (b*heads + h)*key_dim*key_capacity, element (d, j) at
  // transposed_key_offset(d, j, key_dim, stored_key_block(key_capacity)); key_capacity comes
  // from key_capacity_for.
  const float* kt = nullptr;
  std::size_t key_capacity = 0;
  // Block (b,h) at v + (b*heads + h)*v_block; element (j, c) at j*v_stride + c. v_block 0
  // means key_len*v_stride (blocks packed for this call); a KV cache sets its capacity's.
  const float* v = nullptr;
  std::size_t v_stride = 0;
  std::size_t v_block = 0;
  // Values read where the caller holds them, when their rows need no padding (value_dim a
  // multiple of 16): row j of key/value head g of batch b at v + b*v_batch + g*v_head + j*v_row.
  // v_row 0 means the packed blocks above. Saves a copy of every value per call (a tenth of a
  // sparse variant's call at (8, 12, 1024)).
  std::size_t v_batch = 0, v_head = 0, v_row = 0;
  // out(b,h,i,c) = out[b*out_batch + h*out_head + i*out_row + c].
  float* out = nullptr;
  std::size_t out_batch = 0, out_head = 0, out_row = 0;
  // The transposed keys, and the packed values when v_row is 0, hold only the (batch, key head)
  // pair being run, at kt and v: a caller that copies each pair just before its query blocks
  // into buffers of the thread running them (the copies then stay in that core's cache).
  bool one_pair_copied = false;
  // Such a caller's next copy reads these key rows (key_len rows of key_dim floats, each
  // next_pair_key_row floats after the last), or none: the blocks that end rows early (mask
  // functions) prefetch them while they run, each the rows of its own index.
  const float* next_pair_keys = nullptr;
  std::size_t next_pair_key_row = 0;
  /// The (batch, head) block of keys and values that query head h of batch b reads.
  constexpr std::size_t kv_block(std::size_t b, std::size_t h) const noexcept {
    const std::size_t kv = kv_heads ? kv_heads : heads;
    return b * kv + h * kv / heads;
  }

  /// The transposed keys that query head h of batch b reads.
  constexpr const float* key_block(std::size_t b, std::size_t h) const noexcept {
    return one_pair_copied ? kt : kt + kv_block(b, h) * key_dim * key_capacity;
  }
  /// The first value row that query head h of batch b reads.
  constexpr const float* value_block(std::size_t b, std::size_t h) const noexcept {
    if (v_row != 0) {
      const std::size_t kv = kv_heads ? kv_heads : heads;
      return v + b * v_batch + (h * kv / heads) * v_head;
    }
    if (one_pair_copied) return v;
    return v + kv_block(b, h) * (v_block ? v_block : key_len * v_stride);
  }
  /// Floats from one value row to the next.
  constexpr std::size_t value_row_stride() const noexcept { return v_row ? v_row : v_stride; }

  /// Keys per (batch, head) stored for `key_len` keys: one block of a multiple of 16 up to 64
  /// keys, whole 64-key blocks beyond.
  static constexpr std::size_t key_capacity_for(std::size_t key_len) noexcept {
    const std::size_t keys = std::max<std::size_t>(key_len, 1);
    return simd::round_up(
        keys, keys <= attention_key_block ? attention_short_key_multiple : attention_key_block);
  }
  static constexpr std::size_t v_stride_for(std::size_t value_dim) noexcept {
    return simd::round_up(std::max<std::size_t>(value_dim, 1), attention_value_stride_multiple);
  }
};

/// Where key j's feature d lives in a (batch, head) run of transposed keys stored in blocks
/// of `key_block` keys (stored_key_block).
constexpr std::size_t transposed_key_offset(std::size_t d, std::size_t j, std::size_t key_dim,
                                            std::size_t key_block) noexcept {
  return ((j / key_block) * key_dim + d) * key_block + j % key_block;
}

/// Where element (b, h, j, d) of a (batch, heads, length, width) tensor lives:
/// data[b*batch + h*head + j*row + d]. Projection outputs, rows (b, j) × columns (h, d), have
/// batch = L·heads·width, head = width, row = heads·width.
struct head_strides {
  std::size_t batch, head, row;
};

namespace detail {
/// Whether 4-float registers with 64-bit interleaves exist alongside `Arch` (every x86 path has
/// SSE2's), for transposing keys 4×4 in registers.
template <class Arch>
inline constexpr bool has_four_float_transpose =
    std::is_base_of_v<xsimd::sse2, Arch> || std::is_base_of_v<xsimd::avx, Arch> ||
    std::is_base_of_v<xsimd::avx512f, Arch>;

/// out[m·out_stride + r] = in[r·in_stride + m] for r, m < 4: four keys' four features to four
/// features' four keys, in registers (two rounds of interleaves). A 4×4 block at a time took
/// the key copy of (8, 12, 1024, 64) from 4.8 to 2.6 ms on AVX-512 against a scalar loop.
/// `Four` is a parameter so that nothing names SSE2's registers where no call instantiates it
/// (other architectures).
template <class Arch, class Four = xsimd::sse2>
[[gnu::always_inline]] inline void transpose_four_by_four(const float* in, std::size_t in_stride,
                                                          float* out,
                                                          std::size_t out_stride) noexcept {
  using f4 = xsimd::batch<float, Four>;
  using d2 = xsimd::batch<double, Four>;
  const f4 r0 = f4::load_unaligned(in), r1 = f4::load_unaligned(in + in_stride),
           r2 = f4::load_unaligned(in + 2 * in_stride), r3 = f4::load_unaligned(in + 3 * in_stride);
  const auto t0 = xsimd::bitwise_cast<d2>(xsimd::zip_lo(r0, r1));  // r0[0] r1[0] r0[1] r1[1]
  const auto t1 = xsimd::bitwise_cast<d2>(xsimd::zip_hi(r0, r1));  // r0[2] r1[2] r0[3] r1[3]
  const auto t2 = xsimd::bitwise_cast<d2>(xsimd::zip_lo(r2, r3));
  const auto t3 = xsimd::bitwise_cast<d2>(xsimd::zip_hi(r2, r3));
  xsimd::bitwise_cast<f4>(xsimd::zip_lo(t0, t2)).store_unaligned(out);
  xsimd::bitwise_cast<f4>(xsimd::zip_hi(t0, t2)).store_unaligned(out + out_stride);
  xsimd::bitwise_cast<f4>(xsimd::zip_lo(t1, t3)).store_unaligned(out + 2 * out_stride);
  xsimd::bitwise_cast<f4>(xsimd::zip_hi(t1, t3)).store_unaligned(out + 3 * out_stride);
}
}  // namespace detail

/// Copies keys into the per-head transposed blocks of `kt` and zeroes the padding keys, so
/// the caller need not clear the blocks first.
/// A template over the architecture, like every helper a kernel call uses (docs/simd.md).
template <class Arch>
void scatter_keys_transposed(const float* k, head_strides s, std::size_t batch, std::size_t heads,
                             std::size_t key_len, std::size_t key_dim, float* kt,
                             std::size_t key_capacity) noexcept {
  const std::size_t width = stored_key_block(key_capacity);
  for (std::size_t b = 0; b < batch; ++b)
    for (std::size_t h = 0; h < heads; ++h) {
      float* block = kt + (b * heads + h) * key_dim * key_capacity;
      const float* keys = k + b * s.batch + h * s.head;
      // A stored block at a time, feature by feature: the block's key rows stay in L1 while
      // each feature's row of the block is written in order (no division per element).
      for (std::size_t j0 = 0; j0 < key_len; j0 += width) {
        const std::size_t n = std::min(width, key_len - j0);
        float* out = block + j0 * key_dim;  // == transposed_key_offset(0, j0, key_dim, width)
        const float* rows = keys + j0 * s.row;
        std::size_t j = 0;
        if constexpr (detail::has_four_float_transpose<Arch>) {
          for (; j + 4 <= n; j += 4) {
            std::size_t d = 0;
            for (; d + 4 <= key_dim; d += 4)
              detail::transpose_four_by_four<Arch>(rows + j * s.row + d, s.row, out + d * width + j,
                                                   width);
            for (; d < key_dim; ++d)
              for (std::size_t r = j; r < j + 4; ++r) out[d * width + r] = rows[r * s.row + d];
          }
        }
        for (std::size_t d = 0; d < key_dim; ++d)
          for (std::size_t r = j; r < n; ++r) out[d * width + r] = rows[r * s.row + d];
      }
      // Padding keys are contiguous within each feature's row of a stored block.
      for (std::size_t j = key_len; j < key_capacity;) {
        const std::size_t block_end = (j / width + 1) * width;
        for (std::size_t d = 0; d < key_dim; ++d)
          std::fill_n(block + transposed_key_offset(d, j, key_dim, width), block_end - j, 0.0f);
        j = block_end;
      }
    }
}

/// Copies values into per-head blocks whose rows are padded to `v_stride`, zeroing the padding.
template <class Arch>
void scatter_values(const float* v, head_strides s, std::size_t batch, std::size_t heads,
                    std::size_t key_len, std::size_t value_dim, float* out,
                    std::size_t v_stride) noexcept {
  for (std::size_t b = 0; b < batch; ++b)
    for (std::size_t h = 0; h < heads; ++h) {
      float* block = out + (b * heads + h) * key_len * v_stride;
      for (std::size_t j = 0; j < key_len; ++j) {
        float* row =
            std::copy_n(v + b * s.batch + h * s.head + j * s.row, value_dim, block + j * v_stride);
        std::fill(row, block + (j + 1) * v_stride, 0.0f);
      }
    }
}

/// Writes `count` new keys into transposed per-head blocks at columns [first, first + count),
/// the growing key cache of incremental decoding. Columns beyond are left as they are: the
/// kernels never let a key past the call's key_len contribute.
template <class Arch>
void append_keys_transposed(const float* k, head_strides s, std::size_t batch, std::size_t heads,
                            std::size_t first, std::size_t count, std::size_t key_dim, float* kt,
                            std::size_t key_capacity) noexcept {
  const std::size_t width = stored_key_block(key_capacity);
  for (std::size_t b = 0; b < batch; ++b)
    for (std::size_t h = 0; h < heads; ++h) {
      float* block = kt + (b * heads + h) * key_dim * key_capacity;
      for (std::size_t j = 0; j < count; ++j) {
        const float* row = k + b * s.batch + h * s.head + j * s.row;
        for (std::size_t d = 0; d < key_dim; ++d)
          block[transposed_key_offset(d, first + j, key_dim, width)] = row[d];
      }
    }
}

/// Writes `count` new value rows into per-head blocks `v_block` floats apart at rows
/// [first, first + count), zeroing each row's padding.
template <class Arch>
void append_values(const float* v, head_strides s, std::size_t batch, std::size_t heads,
                   std::size_t first, std::size_t count, std::size_t value_dim, float* out,
                   std::size_t v_stride, std::size_t v_block) noexcept {
  for (std::size_t b = 0; b < batch; ++b)
    for (std::size_t h = 0; h < heads; ++h) {
      float* block = out + (b * heads + h) * v_block;
      for (std::size_t j = first; j < first + count; ++j) {
        float* row = std::copy_n(v + b * s.batch + h * s.head + (j - first) * s.row, value_dim,
                                 block + j * v_stride);
        std::fill(row, block + (j + 1) * v_stride, 0.0f);
      }
    }
}

}  // namespace typeformer::kernels
