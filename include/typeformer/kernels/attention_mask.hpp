#pragma once
// What the attention kernels need to know about masking, as raw pointers and strides.
// The typed masks users write (expr/masks.hpp) lower to this.

#include <cstddef>
#include <cstdint>

#include <typeformer/core/extent.hpp>

namespace typeformer {

/// Where the causal diagonal sits when the query length Lq differs from the key length Lk.
enum class causal_alignment {
  none,
  top_left,     ///< key j is visible from query i iff j <= i (PyTorch, Keras)
  bottom_right  ///< j <= i + (Lk - Lq): the last query sees every key (KV-cache decoding)
};

/// What a query row whose every key is masked yields.
enum class fully_masked_rows {
  zeros,           ///< typeformer's default: a zero context vector
  nan,             ///< PyTorch 1.13: NaN (softmax over an all -inf row)
  minus_1e9_added  ///< tf.keras 2, tfjs, Keras 3.0-3.9: masked scores get -1e9 added in float32,
                   ///< so a fully masked row is a near-uniform average of the values
};

namespace kernels {

/// A lowered mask: every part is optional and they combine (a key is visible only if every
/// part lets it through). Element strides are in elements; the key index is contiguous.
struct mask_spec {
  causal_alignment causal = causal_alignment::none;
  const extent_t* key_lengths = nullptr;  // [batch]: keys j >= key_lengths[b] are masked
  const std::uint8_t* keep = nullptr;     // keep[b*keep_batch + i*keep_query + j] != 0: visible
  std::ptrdiff_t keep_batch = 0;
  std::ptrdiff_t keep_query = 0;
  bool keep_means_masked = false;  // PyTorch polarity: a nonzero byte hides the key
  const float* bias = nullptr;     // added to the scaled score; -inf masks
  std::ptrdiff_t bias_batch = 0;
  std::ptrdiff_t bias_head = 0;
  std::ptrdiff_t bias_query = 0;
  // attending_queries[b*attending_queries_batch + i] == 0: query row i sees no key at all, so
  // it is a fully masked row (Keras's MultiHeadAttention ANDs its query's mask in this way).
  const std::uint8_t* attending_queries = nullptr;
  std::ptrdiff_t attending_queries_batch = 0;
  fully_masked_rows policy = fully_masked_rows::zeros;
};

}  // namespace kernels
}  // namespace typeformer
