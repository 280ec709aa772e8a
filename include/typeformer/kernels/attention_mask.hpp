#pragma once
// What the attention kernels need to know about masking, as raw pointers and strides.
// The typed masks users write (expr/masks.hpp) lower to this.

#include <array>
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

/// Where an element-wise mask part sits in memory: element (b, h, i, j) at
/// data[b·batch + h·head + i·query + j·key]. A stride of 0 broadcasts the axis (PyTorch's
/// broadcasting of a (L, S) or (B, 1, 1, S) mask to (B, H, L, S)).
struct element_strides {
  std::ptrdiff_t batch = 0, head = 0, query = 0, key = 1;
  std::ptrdiff_t offset(std::size_t b, std::size_t h, std::size_t i, std::size_t j) const noexcept {
    return static_cast<std::ptrdiff_t>(b) * batch + static_cast<std::ptrdiff_t>(h) * head +
           static_cast<std::ptrdiff_t>(i) * query + static_cast<std::ptrdiff_t>(j) * key;
  }
};

/// Bytes saying which keys are visible. `means_masked`: PyTorch's polarity for
/// nn.MultiheadAttention, where a nonzero byte (True) hides the key.
struct visibility_part {
  const std::uint8_t* data = nullptr;
  element_strides at;
  bool means_masked = false;
  bool hides(std::size_t b, std::size_t h, std::size_t i, std::size_t j) const noexcept {
    return data && (data[at.offset(b, h, i, j)] != 0) == means_masked;
  }
};

/// Floats added to the scaled scores; -inf hides the key.
struct bias_part {
  const float* data = nullptr;
  element_strides at;
  float of(std::size_t b, std::size_t h, std::size_t i, std::size_t j) const noexcept {
    return data ? data[at.offset(b, h, i, j)] : 0.0f;
  }
};

/// A lowered mask: every part is optional and they combine (a key is visible only if every
/// part lets it through; biases add). Two element-wise parts of each kind, because PyTorch's
/// nn.MultiheadAttention takes an attn_mask and a key_padding_mask at once.
struct mask_spec {
  static constexpr std::size_t element_parts = 2;
  causal_alignment causal = causal_alignment::none;
  const extent_t* key_lengths = nullptr;  // [batch]: keys j >= key_lengths[b] are masked
  std::array<visibility_part, element_parts> keep{};
  std::array<bias_part, element_parts> bias{};
  // attending_queries[b*attending_queries_batch + i] == 0: query row i sees no key at all, so
  // it is a fully masked row (Keras's MultiHeadAttention ANDs its query's mask in this way).
  const std::uint8_t* attending_queries = nullptr;
  std::ptrdiff_t attending_queries_batch = 0;
  fully_masked_rows policy = fully_masked_rows::zeros;

  /// Whether any part is read element by element (a keep or bias part).
  bool has_element_parts() const noexcept { return keep[0].data || bias[0].data; }
  /// Adds a part in the first free place; false when both are taken.
  bool add(const visibility_part& p) noexcept { return add_to(keep, p); }
  bool add(const bias_part& p) noexcept { return add_to(bias, p); }
  /// For a layer that lowers a mask for one head and runs it for all.
  void same_for_every_head() noexcept {
    for (auto& p : keep) p.at.head = 0;
    for (auto& p : bias) p.at.head = 0;
  }

 private:
  template <class Part>
  static bool add_to(std::array<Part, element_parts>& parts, const Part& p) noexcept {
    for (auto& slot : parts)
      if (!slot.data) {
        slot = p;
        return true;
      }
    return false;
  }
};

}  // namespace kernels
}  // namespace typeformer
