#pragma once
// zero_padded_positions: sets the rows beyond each sequence's length to zero, the lengths
// being those of the call's masks::key_lengths.
//
// PyTorch 1.13's nn.TransformerEncoder does this on its inference fast path only
// (batch_first=True, norm_first=False, no src_mask, gradients off, a key padding mask): it
// packs the sequences into a nested tensor, drops the padded rows, and pads them back with
// zeros after the last layer, before the final norm (so with a final norm those rows equal
// norm.bias). Its general path keeps real values there. Declare the part to match the fast
// path; leave it out to match the general path:
//   model<input<...>, repeat<"layers", 6, encoder_layer>, zero_padded_positions,
//         layer_norm<"norm">>

#include <algorithm>
#include <cstddef>
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

template <class Mask>
constexpr bool has_key_lengths() {
  if constexpr (std::is_same_v<Mask, masks::key_lengths>)
    return true;
  else if constexpr (requires { std::tuple_size<decltype(Mask::parts)>::value; })
    return []<class... P>(std::tuple<P...>*) {
      return (std::is_same_v<P, masks::key_lengths> || ...);
    }(static_cast<decltype(Mask::parts)*>(nullptr));
  else
    return false;
}

template <class Mask>
std::span<const extent_t> key_lengths_of(const Mask& mask) {
  if constexpr (std::is_same_v<Mask, masks::key_lengths>)
    return mask.lengths;
  else
    return std::get<masks::key_lengths>(mask.parts).lengths;
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
    using Mask = std::remove_cvref_t<decltype(ctx.self_attention_mask)>;
    static_assert(has_key_lengths<Mask>(),
                  "zero_padded_positions needs the call's mask to hold masks::key_lengths");
    const std::span<const extent_t> lengths = key_lengths_of(ctx.self_attention_mask);
    if (lengths.size() != batch)
      throw shape_error(detail::concat("zero_padded_positions: ", std::to_string(lengths.size()),
                                       " key lengths for a batch of ", std::to_string(batch)));
    const auto w = static_cast<std::size_t>(Width);
    for (std::size_t b = 0; b < batch; ++b) {
      const extent_t n = lengths[b];
      if (n < 0 || static_cast<std::size_t>(n) > length)
        throw shape_error(detail::concat("zero_padded_positions: key length (", std::to_string(n),
                                         ") of batch entry ", std::to_string(b), " is outside [0, ",
                                         std::to_string(length), "]"));
      const std::size_t kept = static_cast<std::size_t>(n) * w;
      std::memcpy(y + b * length * w, x + b * length * w, kept * sizeof(float));
      std::fill(y + b * length * w + kept, y + (b + 1) * length * w, 0.0f);
    }
  }
};

template <extent_t Width>
struct bind_part<zero_padded_positions, Width> {
  using type = zero_padded_positions_block<Width>;
};

}  // namespace detail
}  // namespace typeformer
