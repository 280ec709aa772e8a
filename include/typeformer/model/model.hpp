#pragma once
// model<input<batch<B>, seq<S>, d_model<W>>, Parts...>: a whole network as one type.
//
// The parts form a chain (as in `sequential`); each takes its input width from its predecessor
// and the first from the input. Everything about the model that does not depend on data is a
// compile-time constant: output_shape, parameter_count, workspace_bytes.
//
//   using encoder = model<input<batch<dynamic>, seq<128>, d_model<512>, max_batch<8>>,
//                         repeat<"layers", 6, encoder_layer>>;
//   static_assert(encoder::parameter_count == 18'914'304);

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <typeformer/core/diagnostics.hpp>
#include <typeformer/core/dims.hpp>
#include <typeformer/core/naming.hpp>
#include <typeformer/model/binding.hpp>
#include <typeformer/model/block.hpp>
#include <typeformer/model/branches.hpp>
#include <typeformer/model/cross_attention.hpp>
#include <typeformer/model/multi_head.hpp>
#include <typeformer/model/padding.hpp>
#include <typeformer/model/repeat.hpp>
#include <typeformer/model/residual.hpp>
#include <typeformer/model/scope.hpp>
#include <typeformer/model/sequential.hpp>
#include <typeformer/model/wrapper_attention_block.hpp>

namespace typeformer {

/// Declares a model's inputs and outputs (seq, batch, width), PyTorch's default
/// batch_first=False layout: `input<batch<dynamic>, seq<dynamic>, d_model<512>,
/// sequence_first>`. The runner transposes at entry and exit (one pass over the data each).
struct sequence_first {};

/// The model's input: (batch, seq, d_model), batch and seq static or `dynamic`. A dynamic one
/// may declare its largest value (max_batch<N>, max_seq<N>) so that the workspace is planned
/// at compile time; otherwise the runner is told at construction.
template <class... Dims>
struct input {
  static constexpr extent_t batch = extent_of_v<dims::batch, dynamic, Dims...>;
  static constexpr extent_t seq = extent_of_v<dims::seq, dynamic, Dims...>;
  static constexpr extent_t width = extent_of_v<dims::d_model, 0, Dims...>;
  static constexpr extent_t max_batch = extent_of_v<dims::max_batch, batch, Dims...>;
  static constexpr extent_t max_seq = extent_of_v<dims::max_seq, seq, Dims...>;
  static constexpr bool is_sequence_first = (std::is_same_v<Dims, sequence_first> || ...);
  static constexpr bool is_tokens = false;
  static_assert(
      diagnostics::require<
          (width > 0), diagnostics::d_model_must_be_positive<input_name, width, 0>>::rule_holds);
};

/// The model's input as token ids, (batch, seq) integers of any type, which the model's first
/// part, an embedding<...>, turns into vectors: `model<tokens<batch<dynamic>, seq<dynamic>,
/// max_batch<8>, max_seq<64>>, embedding<"embed", 1000, 64>, ...>`.
template <class... Dims>
struct tokens {
  static constexpr extent_t batch = extent_of_v<dims::batch, dynamic, Dims...>;
  static constexpr extent_t seq = extent_of_v<dims::seq, dynamic, Dims...>;
  static constexpr extent_t max_batch = extent_of_v<dims::max_batch, batch, Dims...>;
  static constexpr extent_t max_seq = extent_of_v<dims::max_seq, seq, Dims...>;
  static constexpr bool is_sequence_first = false;
  static constexpr bool is_tokens = true;
  static constexpr extent_t width = 0;
};

/// A second input that cross-attention layers read (an encoder's output for a decoder):
/// (batch, seq, d_model), its batch that of the main input. Declared right after the input:
/// `model<input<...>, memory<seq<dynamic>, d_model<512>, max_seq<128>>, parts...>`.
template <class... Dims>
struct memory {
  static constexpr extent_t seq = extent_of_v<dims::seq, dynamic, Dims...>;
  static constexpr extent_t width = extent_of_v<dims::d_model, 0, Dims...>;
  static constexpr extent_t max_seq = extent_of_v<dims::max_seq, seq, Dims...>;
  static_assert(
      diagnostics::require<
          (width > 0), diagnostics::d_model_must_be_positive<memory_name, width, 0>>::rule_holds);
};

namespace detail {
struct no_memory {
  static constexpr extent_t seq = 0, width = 0, max_seq = 0;
};
/// A model whose input is a vector sequence has no embedding in front of its body.
/// What stands where a tokens<...> input's embedding should be: nothing, when the input is not
/// tokens, and, when the first part is not an embedding (the model's one error), an embedding
/// of nothing, so that loading, describing and running the broken model fail no further.
struct no_embedding {
  static constexpr std::string_view kind = "(no embedding)";
  static constexpr std::string_view name = "";
  using name_type = layer_name<>;
  static constexpr extent_t output_width = 0, parameter_count = 0;
  static constexpr bool masks_zero = false;
  struct parameters {};
  template <class Naming>
  static std::vector<weight_spec> expected_weights(Naming, const std::string&) {
    return {};
  }
  template <class Naming, class Get>
  static parameters from_weights(Naming, Get&&, const std::string&) {
    return {};
  }
  template <class Id>
  static void lookup_rows(const parameters&, const Id*, std::size_t, std::size_t, float*) noexcept {
  }
};

template <class T>
concept token_embedding = requires {
  requires T::is_token_embedding;
};

/// Splits a model's declaration into its memory input (or no_memory), the embedding that reads
/// a tokens<...> input (or no_embedding) and the parts of its body.
template <bool Tokens, class... Parts>
struct model_front {
  using memory_type = no_memory;
  using embedding_type = no_embedding;
  using problem = diagnostics::passed;
  template <extent_t Width, extent_t Length>
  using bound = bind_chain_of_length<Width, Length, Parts...>;
};
template <class... MemoryDims, class... Parts>
struct model_front<false, memory<MemoryDims...>, Parts...> : model_front<false, Parts...> {
  using memory_type = memory<MemoryDims...>;
};
/// The body's parts: those after the embedding, or, where the first part is not an embedding
/// (an error the model reports), all of them, so that the model stays well-formed.
template <bool ReadsTokens, extent_t Width, extent_t Length, class First, class... Parts>
struct token_body {
  using type = bind_chain_of_length<Width, Length, Parts...>;
};
template <extent_t Width, extent_t Length, class First, class... Parts>
struct token_body<false, Width, Length, First, Parts...> {
  using type = bind_chain_of_length<Width, Length, First, Parts...>;
};

template <class First, class... Parts>
struct model_front<true, First, Parts...> {
  using memory_type = no_memory;
  static constexpr bool reads_tokens = token_embedding<First>;
  using embedding_type = std::conditional_t<reads_tokens, First, no_embedding>;
  /// A tokens<...> input is read by an embedding: anything else first breaks this rule.
  using problem =
      rule_problem<reads_tokens, diagnostics::tokens_need_an_embedding_first<input_name, 0, 0>>;
  template <extent_t Width, extent_t Length>
  using bound = typename token_body<reads_tokens, Width, Length, First, Parts...>::type;
};
template <class... MemoryDims, class First, class... Parts>
struct model_front<true, memory<MemoryDims...>, First, Parts...>
    : model_front<true, First, Parts...> {
  using memory_type = memory<MemoryDims...>;
};

/// The first part of a chain that declares another width than the model's memory<...> gives
/// (a cross-attention's key or value features); nothing for a model without one.
template <class List, class Memory>
struct memory_problem_in {
  using type = diagnostics::passed;
};
template <class... Bound, class... MemoryDims>
struct memory_problem_in<part_list<Bound...>, memory<MemoryDims...>> {
  using type = first_problem<memory_problem_of<block_of<Bound>, memory<MemoryDims...>::width>...>;
};

/// The name the body's first part sees as its predecessor in diagnostics.
template <class Embedding>
struct embedding_name {
  using type = typename Embedding::name_type;
};
template <>
struct embedding_name<no_embedding> {
  using type = input_name;
};

/// A token model's weights: its embedding's and its body's.
template <class Embedding, class Body>
struct embedded_parameters {
  typename Embedding::parameters embedding;
  Body body;
};
}  // namespace detail

template <class Input, class... Parts>
struct model {
  static constexpr std::string_view kind = "model";
  static constexpr std::string_view name = "";
  using input_type = Input;

 private:
  using front = detail::model_front<Input::is_tokens, Parts...>;

 public:
  using memory_type = typename front::memory_type;
  static constexpr bool has_memory = !std::is_same_v<memory_type, detail::no_memory>;
  /// The embedding that reads a tokens<...> input, or detail::no_embedding.
  using embedding_type = typename front::embedding_type;
  static constexpr bool has_tokens = Input::is_tokens;
  /// The width of the vectors the body reads: the input's, or the embedding's.
  static constexpr extent_t body_input_width =
      has_tokens ? embedding_type::output_width : Input::width;

 private:
  using bound_parts = typename front::template bound<body_input_width, Input::seq>;
  using body_predecessor = typename detail::embedding_name<embedding_type>::type;
  // Every composition rule of the model, and every layer's declaration rule, checked here once
  // (see model/binding.hpp).
  using problem =
      detail::first_problem<typename front::problem,
                            detail::chain_problem<body_predecessor, body_input_width, bound_parts>,
                            typename detail::memory_problem_in<bound_parts, memory_type>::type>;
  static_assert(problem::rule_holds);

 public:
  /// Whether the model's declaration holds: after its one error, the runner checks no call
  /// against the shapes of a broken model (a second error for one mistake).
  static constexpr bool declaration_holds = std::is_same_v<problem, diagnostics::passed>;
  /// The parts after the embedding (if any), bound to their widths, as one sequential block.
  using body = typename detail::rebuild<sequential, bound_parts>::type;
  /// The first layer whose weights `Naming` cannot name (load_weights asserts it first).
  template <class Naming>
  using naming_problem = detail::naming_problem_of<body, Naming>;

  /// (batch, seq) token ids, or (batch, seq, width) vectors.
  static constexpr auto input_shape = [] {
    if constexpr (has_tokens)
      return std::array<extent_t, 2>{Input::batch, Input::seq};
    else
      return std::array<extent_t, 3>{Input::batch, Input::seq, Input::width};
  }();
  /// (batch, seq, width) for a model that keeps the sequence; otherwise the last part's shape:
  /// (batch, width) after an LSTM's last state or flatten, (batch, [seq,] units, heads) after
  /// stacked heads, with the output length of strided or valid convolutions.
  static constexpr bool output_has_sequence_axis = body::output_has_sequence_axis;
  static constexpr detail::feature_axes output_features = body::output_feature_axes;
  static constexpr std::size_t output_rank =
      1 + (output_has_sequence_axis ? 1 : 0) + output_features.count;
  static constexpr extent_t output_width = body::output_width;
  /// The output's length for an input of `seq` positions.
  static constexpr extent_t output_length(extent_t seq) noexcept {
    return body::output_length(seq);
  }
  static constexpr auto output_shape = [] {
    std::array<extent_t, output_rank> shape{};
    shape[0] = Input::batch;
    std::size_t axis = 1;
    if (output_has_sequence_axis) shape[axis++] = output_length(Input::seq);
    for (std::size_t i = 0; i < output_features.count; ++i)
      shape[axis++] = output_features.extents[i];
    return shape;
  }();
  /// Whether runner::decode may run it one position at a time: no part reads other positions
  /// except through attention.
  static constexpr bool decodable = body::decodable && body::keeps_sequence_shape;
  /// Whether decode must be given operands (expr::call_operands) that a layer's score or mask
  /// function needs at each call.
  static constexpr bool needs_decode_operands = detail::needs_decode_operands<body>();
  static constexpr extent_t parameter_count =
      body::parameter_count + (has_tokens ? embedding_type::parameter_count : 0);

  using parameters =
      std::conditional_t<has_tokens,
                         detail::embedded_parameters<embedding_type, typename body::parameters>,
                         typename body::parameters>;

  /// The body's share of the parameters.
  static const typename body::parameters& body_parameters(const parameters& p) noexcept {
    if constexpr (has_tokens)
      return p.body;
    else
      return p;
  }

  /// Every tensor the model's weights consist of, in declaration order.
  template <class Naming>
  static std::vector<weight_spec> expected_weights(Naming naming, const std::string& prefix = "") {
    std::vector<weight_spec> out;
    if constexpr (has_tokens)
      out = embedding_type::expected_weights(
          naming, prefix + std::string(embedding_type::name) + Naming::separator);
    body::expected(naming, prefix, out);
    return out;
  }

  /// Builds the parameters from tensors already checked against `expected_weights`.
  template <class Naming, class Get>
  static parameters from_weights(Naming naming, Get&& get, const std::string& prefix = "") {
    if constexpr (has_tokens)
      return {embedding_type::from_weights(
                  naming, get, prefix + std::string(embedding_type::name) + Naming::separator),
              body::load(naming, get, prefix)};
    else
      return body::load(naming, get, prefix);
  }

  /// Scratch floats of one call: the largest layer request plus the activations between parts.
  static constexpr std::size_t workspace_floats(std::size_t batch, std::size_t seq,
                                                std::size_t threads = 1,
                                                std::size_t memory_length = 0) noexcept {
    return body::scratch_floats({batch, seq, memory_length, threads}) +
           body::stack_floats(batch, seq) + embedded_floats(batch * seq);
  }
  /// The looked-up vectors of `rows` tokens (0 for a model without tokens).
  static constexpr std::size_t embedded_floats(std::size_t rows) noexcept {
    return rows * static_cast<std::size_t>(embedding_type::output_width);
  }
  static constexpr std::size_t workspace_bytes_for(std::size_t batch, std::size_t seq,
                                                   std::size_t threads = 1,
                                                   std::size_t memory_length = 0) noexcept {
    return sizeof(float) * workspace_floats(batch, seq, threads, memory_length);
  }
  /// The workspace of one call at the declared (maximum) batch and sequence, on one thread
  /// (each further thread adds a few kilobytes of attention scratch). An undeclared dynamic
  /// extent counts as 1, so a model with neither declared gives the bytes for one token.
  static constexpr std::size_t workspace_bytes =
      workspace_bytes_for(Input::max_batch > 0 ? std::size_t(Input::max_batch) : 1,
                          Input::max_seq > 0 ? std::size_t(Input::max_seq) : 1, 1);
};

/// True for a model<...>: what runners, summaries and the self-test take (a bare layer has no
/// input shape to run or to describe).
template <class T>
inline constexpr bool is_model_v = false;
template <class Input, class... Parts>
inline constexpr bool is_model_v<model<Input, Parts...>> = true;

}  // namespace typeformer
