#pragma once
// zero_padded_positions: sets the rows at padded positions to zero, the padding being what the
// call's mask says: masks::key_lengths, or a key padding mask in either polarity
// (masks::pytorch_key_padding, masks::keep_keys). A call without one has no padded position,
// and the part passes its input through.
//
// PyTorch 1.13's nn.TransformerEncoder does this on its inference fast path only
// (batch_first=True, norm_first=False, no src_mask, gradients off, a key padding mask): it
// packs the sequences into a nested tensor, drops the padded rows, and pads them back with
// zeros after the last layer, before the final norm (so with a final norm those rows equal
// norm.bias). Its general path keeps real values there. Declare the part to match the fast
// path; leave it out to match the general path. Whatever follows the encoder sees the zeros: a
// final norm gives norm.bias there, a Linear head its bias.
//   model<input<...>, repeat<"layers", 6, encoder_layer>, zero_padded_positions,
//         layer_norm<"norm">>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include <typeformer/core/errors.hpp>
#include <typeformer/core/fixed_string.hpp>
#include <typeformer/core/text.hpp>
#include <typeformer/expr/masks.hpp>
#include <typeformer/model/binding.hpp>

namespace typeformer {

/// A model part: zero the positions beyond each sequence's key length (see above).
struct zero_padded_positions {};

namespace detail {

// +1: a (batch, key) mask whose nonzero entries are padding (PyTorch's key_padding_mask);
// -1: one whose zero entries are (Keras's polarity); 0: not a padding mask.
template <class Part>
inline constexpr int padding_polarity = 0;
// (A float key_padding_mask too: PyTorch's fast path takes its nonzero entries as padding.)
template <extent_t B, extent_t Lk, class T>
inline constexpr int padding_polarity<masks::pytorch_key_padding<B, Lk, T>> = 1;
template <extent_t B, extent_t Lk>
inline constexpr int padding_polarity<masks::keep_keys<B, Lk>> = -1;

// Calls f on each part of the call's mask that says which positions are padding: key lengths,
// or a padding mask in either polarity, also inside masks::all.
template <class Mask, class F>
void for_each_padding_part(const Mask& mask, F& f) {
  if constexpr (requires { std::tuple_size<decltype(Mask::parts)>::value; })
    std::apply([&](const auto&... p) { (for_each_padding_part(p, f), ...); }, mask.parts);
  else if constexpr (std::is_same_v<Mask, masks::key_lengths> || padding_polarity<Mask> != 0)
    f(mask);
}

template <extent_t Width>
struct zero_padded_positions_block {
  static constexpr bool is_composite_block = true;
  static constexpr std::string_view kind = "zero_padded_positions";
  static constexpr std::string_view name = "zero_padded_positions";
  using name_type = layer_name_of<"zero_padded_positions">;
  using first_name = name_type;
  using last_name = name_type;
  static constexpr extent_t input_width = Width;
  static constexpr extent_t output_width = Width;
  static constexpr extent_t parameter_count = 0;
  struct parameters {};

  template <class Naming>
  static void expected(Naming, const std::string&, std::vector<weight_spec>&) {}
  template <class Naming, class Get>
  static parameters load(Naming, Get&, const std::string&) {
    return {};
  }
  static constexpr std::size_t scratch_floats(const call_plan&) noexcept { return 0; }
  static constexpr std::size_t stack_floats(std::size_t, std::size_t) noexcept { return 0; }
  static constexpr std::size_t cache_floats(const call_plan&) noexcept { return 0; }

  template <class Description>
  static std::size_t describe(Description& d, const std::string& scope, std::size_t from) {
    return d.add_layer(scope + std::string(name), std::string(kind), Width, 0, from);
  }

  template <class Arch, class Context>
  static void forward(const parameters&, const float* x, float* y, std::size_t batch,
                      std::size_t length, Context& ctx, float*, float*) {
    const auto w = static_cast<std::size_t>(Width);
    if (x != y) std::memcpy(y, x, batch * length * w * sizeof(float));
    const auto zero_rows = [&](std::size_t b, std::size_t from, std::size_t to) {
      std::fill(y + (b * length + from) * w, y + (b * length + to) * w, 0.0f);
    };
    // A call without a padding part has no padded position: PyTorch's fast path does not run
    // without a key padding mask either.
    auto zero_padding = [&](const auto& part) {
      using Part = std::remove_cvref_t<decltype(part)>;
      if constexpr (std::is_same_v<Part, masks::key_lengths>) {
        if (part.lengths.size() != batch)
          throw shape_error(
              detail::concat("zero_padded_positions: ", std::to_string(part.lengths.size()),
                             " key lengths for a batch of ", std::to_string(batch)));
        for (std::size_t b = 0; b < batch; ++b) {
          const extent_t n = part.lengths[b];
          if (n < 0 || static_cast<std::size_t>(n) > length)
            throw shape_error(detail::concat(
                "zero_padded_positions: key length (", std::to_string(n), ") of batch entry ",
                std::to_string(b), " is outside [0, ", std::to_string(length), "]"));
          zero_rows(b, static_cast<std::size_t>(n), length);
        }
      } else {
        if (static_cast<std::size_t>(part.mask.extent(0)) != batch ||
            static_cast<std::size_t>(part.mask.extent(1)) != length)
          throw shape_error(detail::concat("zero_padded_positions: the key padding mask is (",
                                           std::to_string(part.mask.extent(0)), ", ",
                                           std::to_string(part.mask.extent(1)),
                                           "), the input (batch ", std::to_string(batch), ", seq ",
                                           std::to_string(length), ")"));
        constexpr bool nonzero_is_padding = padding_polarity<Part> == 1;
        const auto* padded = part.mask.data();
        for (std::size_t b = 0; b < batch; ++b)
          for (std::size_t r = 0; r < length; ++r)
            if ((padded[b * length + r] != 0) == nonzero_is_padding) zero_rows(b, r, r + 1);
      }
    };
    for_each_padding_part(ctx.self_attention_mask, zero_padding);
  }
};

template <extent_t Width>
struct bind_part<zero_padded_positions, Width> {
  using type = zero_padded_positions_block<Width>;
};

}  // namespace detail
}  // namespace typeformer
