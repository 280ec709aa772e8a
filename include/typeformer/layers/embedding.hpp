#pragma once
// embedding<"name", vocabulary, dim>: token ids → vectors, Keras Embedding(vocabulary, dim) and
// PyTorch nn.Embedding(vocabulary, dim). It is the first part of a model whose input is
// tokens<...> (model.hpp): a model's runner takes the ids and looks them up.
//
// Weights: Keras `name/embeddings`, PyTorch `name.weight`, both (vocabulary, dim).
// Option `scale_by_sqrt_dim` multiplies each vector by √dim, as "Attention Is All You Need"
// §3.4, PyTorch's translation tutorial and TensorFlow's transformer tutorial do before adding
// positional encodings.
// An id outside [0, vocabulary) throws shape_error naming the layer, the batch and the
// position, before anything is written.

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <typeformer/core/diagnostics.hpp>
#include <typeformer/core/fixed_string.hpp>
#include <typeformer/core/naming.hpp>
#include <typeformer/core/text.hpp>
#include <typeformer/core/weight_source.hpp>
#include <typeformer/layers/options.hpp>
#include <typeformer/tensor/view.hpp>

namespace typeformer {

namespace option_kinds {
struct scale_by_sqrt_dim {};
struct mask_zero {};
}  // namespace option_kinds

/// Embedding option: id 0 is padding, Keras's mask_zero=True. Inside a model the mask
/// (id != 0) reaches the layers after the embedding that read it, as Keras propagates it: an
/// lstm skips the padded steps (model/block.hpp); see docs/multi_head.md.
struct mask_zero {
  using kind = option_kinds::mask_zero;
  static constexpr bool value = true;
};

/// Embedding option: multiply looked-up vectors by √dim.
struct scale_by_sqrt_dim {
  using kind = option_kinds::scale_by_sqrt_dim;
  static constexpr bool value = true;
};

template <fixed_string Name, extent_t Vocabulary, extent_t Dim, class... Options>
struct embedding {
  using name_type = layer_name_of<Name>;
  static constexpr std::string_view kind = "embedding";
  static constexpr std::string_view name = Name.view();
  static constexpr extent_t vocabulary = Vocabulary;
  static constexpr extent_t dim = Dim;
  static constexpr bool scaled = option_value<option_kinds::scale_by_sqrt_dim, Options...>(false);
  static constexpr bool masks_zero = option_value<option_kinds::mask_zero, Options...>(false);
  static_assert(diagnostics::require<(Vocabulary > 0 && Dim > 0),
                                     diagnostics::vocabulary_and_dim_must_be_positive<
                                         name_type, Vocabulary, Dim>>::rule_holds);
  /// Marks the layer that turns a tokens<...> input into vectors (model.hpp).
  static constexpr bool is_token_embedding = true;
  static constexpr extent_t output_width = dim;
  static constexpr extent_t parameter_count = vocabulary * dim;

  struct parameters {
    std::vector<float> table;  // (vocabulary, dim), scaled at load when scale_by_sqrt_dim
  };

  template <class Naming>
  static std::vector<weight_spec> expected_weights(
      Naming, const std::string& prefix = standalone_prefix<Naming>(name)) {
    constexpr bool torch = std::is_same_v<Naming, naming::pytorch_t>;
    return {{prefix + (torch ? "weight" : "embeddings"), {vocabulary, dim}}};
  }

  template <class Naming, class Get>
  static parameters from_weights(Naming, Get&& get,
                                 const std::string& prefix = standalone_prefix<Naming>(name)) {
    const auto read = checked_weights<embedding>(Naming{}, get, prefix);
    constexpr bool torch = std::is_same_v<Naming, naming::pytorch_t>;
    parameters p{read(prefix + (torch ? "weight" : "embeddings"))};
    // Scaling the table once equals scaling each looked-up vector: both round x·√dim once.
    if constexpr (scaled) {
      const float s = static_cast<float>(std::sqrt(static_cast<double>(dim)));
      for (float& v : p.table) v *= s;
    }
    return p;
  }

  /// out(b, l, :) = table[ids(b, l)] for ids (batch, length) of any integer type and out
  /// (batch, length, dim). Every id is checked before anything is written.
  template <class Ids, class Out>
  static void lookup(const parameters& p, const Ids& ids_in, Out&& out_in) {
    using namespace diagnostics;
    const auto ids = as_view<2>(ids_in);
    const auto out = as_view<3>(out_in);
    constexpr auto os = decltype(out)::static_extents;
    static_assert(require<extents_may_agree(os[2], dim),
                          output_shape_does_not_match<name_type, os[2], dim>>::rule_holds);
    for (std::size_t axis = 0; axis < 2; ++axis)
      check<output_shape_does_not_match>(out.extent(axis) == ids.extent(axis), kind, name,
                                         out.extent(axis), ids.extent(axis));
    check<output_shape_does_not_match>(out.extent(2) == dim, kind, name, out.extent(2), dim);
    lookup_rows(p, ids.data(), static_cast<std::size_t>(ids.extent(0)),
                static_cast<std::size_t>(ids.extent(1)), out.data());
  }

  /// The same over contiguous (batch, length) ids and (batch, length, dim) floats.
  template <std::integral Id>
  static void lookup_rows(const parameters& p, const Id* ids, std::size_t batch, std::size_t length,
                          float* out) {
    check_ids(ids, batch, length);
    const auto d = static_cast<std::size_t>(dim);
    for (std::size_t i = 0; i < batch * length; ++i)
      std::copy_n(p.table.data() + static_cast<std::size_t>(ids[i]) * d, d, out + i * d);
  }

  /// Throws shape_error for the first id outside [0, vocabulary), naming where it is.
  template <std::integral Id>
  static void check_ids(const Id* ids, std::size_t batch, std::size_t length) {
    for (std::size_t i = 0; i < batch * length; ++i) {
      const Id id = ids[i];
      bool negative = false;
      if constexpr (std::is_signed_v<Id>) negative = id < 0;
      if (negative || static_cast<std::uintmax_t>(id) >= static_cast<std::uintmax_t>(vocabulary))
        throw shape_error(detail::concat(kind, " \"", name, "\": token id (", std::to_string(id),
                                         ") is out of range [0, ", std::to_string(vocabulary),
                                         ") at batch ", std::to_string(i / length), ", position ",
                                         std::to_string(i % length)));
    }
  }
};

}  // namespace typeformer
