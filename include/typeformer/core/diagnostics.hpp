#pragma once
// The sentence builder behind every shape rule.
//
// A rule has one wording. When both extents are static the rule is checked by the compiler:
// the layer asserts `require<holds, rule<Layer, a, b>>::rule_holds`. Only `passed` has that
// member, so a broken rule makes g++ and clang print its name with the layer's name and both
// numbers in the first `error:` line, e.g.
//   no member named 'rule_holds' in 'typeformer::diagnostics::heads_do_not_divide_d_model<
//                                      typeformer::layer_name<'s','e','l','f'>, 500, 8>'
// When an extent is dynamic the same rule is checked at run time and throws `shape_error`
// with the rule's sentence: `multi_head_attention "self": d_model (500) is not divisible by heads
// (8)`. (C++20's static_assert takes only a literal message, hence the device.) The rules are
// complete types: a `sizeof` of an undefined one (the device before) made clang add a
// three-line "template is declared here" note to every such error.

#include <string>
#include <string_view>
#include <type_traits>

#include <typeformer/core/errors.hpp>
#include <typeformer/core/extent.hpp>

namespace typeformer::diagnostics {

/// What a satisfied rule resolves to: the one result with the member an assertion reads.
struct passed {
  static constexpr bool rule_holds = true;
};

/// `passed` when `Holds`, otherwise the diagnostic, whose `rule_holds` does not exist.
template <bool Holds, class Diagnostic>
using require = std::conditional_t<Holds, passed, Diagnostic>;

// ---- The rules. Each: an empty type; a sentence with up to two `{}` for its numbers. ----

template <class Layer, extent_t DModel, extent_t Heads>
struct heads_do_not_divide_d_model {};
template <class Layer, extent_t Heads, extent_t Unused>
struct heads_must_be_positive {};
template <class Layer, extent_t DModel, extent_t Unused>
struct d_model_must_be_positive {};
template <class Layer, extent_t HeadWidth, extent_t DModelOverHeads>
struct pytorch_names_need_head_width_d_model_over_heads {};
template <class Layer, extent_t Found, extent_t Declared>
struct query_features_do_not_match_d_model {};
template <class Layer, extent_t Found, extent_t Declared>
struct input_features_do_not_match_d_model {};
template <class Layer, extent_t Found, extent_t Declared>
struct key_features_do_not_match_declaration {};
template <class Layer, extent_t Found, extent_t Declared>
struct value_features_do_not_match_declaration {};
template <class Layer, extent_t KeyLength, extent_t ValueLength>
struct key_and_value_lengths_differ {};
template <class Layer, extent_t Found, extent_t Expected>
struct batch_sizes_differ {};
template <class Layer, extent_t Found, extent_t Expected>
struct output_shape_does_not_match {};
template <class Layer, extent_t MaskQueryLength, extent_t QueryLength>
struct mask_query_length_does_not_match {};
template <class Layer, extent_t MaskKeyLength, extent_t KeyLength>
struct mask_key_length_does_not_match {};
template <class Layer, extent_t MaskBatch, extent_t Batch>
struct mask_batch_does_not_match {};
template <class Layer, extent_t MaskHeads, extent_t Heads>
struct mask_heads_do_not_match {};
template <class Layer, extent_t QueryLength, extent_t KeyLength>
struct bottom_right_causal_needs_query_not_longer_than_keys {};
template <class Layer, extent_t Found, extent_t Expected>
struct weights_shape_does_not_match {};
template <class Layer, extent_t QueryWidth, extent_t KeyWidth>
struct query_and_key_widths_differ {};
template <class Layer, extent_t Found, extent_t Expected>
struct heads_differ {};
template <class Layer, extent_t KeyHeads, extent_t QueryHeads>
struct key_heads_do_not_divide_query_heads {};
template <class Layer, extent_t ValueHeads, extent_t KeyHeads>
struct value_heads_differ_from_key_heads {};
/// Grouped key/value heads have no nn.MultiheadAttention or Keras weights: only separately
/// named projections (dense_projection_names) hold them.
template <class Layer, extent_t KeyHeads, extent_t QueryHeads>
struct grouped_heads_need_named_projections {};
template <class Layer, extent_t RotaryDims, extent_t KeyDimPerHead>
struct rotary_dims_must_be_even_and_fit_a_head {};
/// A layer's score and mask functions (with_score_function, with_mask_function): what each
/// must yield and read, and one of each per layer.
template <class Layer, extent_t Unused1, extent_t Unused2>
struct score_function_must_yield_a_number {};
template <class Layer, extent_t Unused1, extent_t Unused2>
struct score_function_takes_no_query_dot {};
template <class Layer, extent_t Unused1, extent_t Unused2>
struct mask_function_must_yield_a_condition {};
template <class Layer, extent_t Unused1, extent_t Unused2>
struct mask_function_cannot_read_score {};
template <class Layer, extent_t ScoreFunctions, extent_t MaskFunctions>
struct one_score_and_one_mask_function_per_layer {};
/// Softmax (the one activation that is not element-wise) where an element-wise one is applied:
/// a convolution's, a feed-forward block's or an attention layer's projections.
template <class Layer, extent_t Unused1, extent_t Unused2>
struct activation_must_be_element_wise {};

template <class Layer, extent_t Units, extent_t Unused>
struct units_must_be_positive {};
/// A layer declared without its name, a number first (`dense<64, relu>`). `LayerKind` is the
/// layer's kind (`dense`), as it has no name to give.
template <class LayerKind, extent_t Unused1, extent_t Unused2>
struct a_layer_name_comes_first {};
/// `dense<"out", relu>`: an activation where the units belong.
template <class Layer, extent_t Unused1, extent_t Unused2>
struct units_come_before_the_activation {};
template <class Layer, extent_t Vocabulary, extent_t Dim>
struct vocabulary_and_dim_must_be_positive {};
template <class Layer, extent_t Position, extent_t Positions>
struct position_out_of_range {};
template <class Layer, extent_t Positions, extent_t Unused>
struct positions_must_be_positive {};
template <class Layer, extent_t Width, extent_t Unused>
struct sinusoidal_encoding_needs_even_width {};
template <class Layer, extent_t Found, extent_t Expected>
struct state_shape_does_not_match {};
template <class Layer, extent_t KernelSize, extent_t SmallerStep>
struct convolution_steps_must_be_positive {};
template <class Layer, extent_t Units, extent_t Heads>
struct stacked_heads_need_flatten_first {};
template <class Layer, extent_t MaxDistance, extent_t Unused>
struct max_relative_position_must_be_positive {};
template <class Layer, extent_t Unused1, extent_t Unused2>
struct branch_must_keep_the_sequence_shape {};
template <class Layer, extent_t Unused1, extent_t Unused2>
struct flatten_needs_a_static_length {};
/// Compile time only: names both heads (layer names) and their output widths; heads whose
/// widths agree but whose lengths differ give their output lengths at the input's length.
template <class Head, class OtherHead, extent_t Extent, extent_t OtherExtent>
struct heads_give_different_shapes {};

// Composition rules (model/): the layer is the block concerned.
template <class Layer, extent_t InputWidth, extent_t BranchOutputWidth>
struct residual_branch_changes_width {};
template <class Layer, extent_t InputWidth, extent_t BlockOutputWidth>
struct repeated_block_changes_width {};
template <class Layer, extent_t Count, extent_t Unused>
struct repeat_count_must_be_positive {};
template <class Layer, extent_t FirstWidth, extent_t OtherWidth>
struct added_branches_differ_in_width {};
template <class Layer, extent_t Found, extent_t Maximum>
struct batch_exceeds_maximum {};
template <class Layer, extent_t Found, extent_t Maximum>
struct sequence_exceeds_maximum {};
template <class Layer, extent_t Found, extent_t Expected>
struct input_batch_does_not_match {};
template <class Layer, extent_t Found, extent_t Expected>
struct input_length_does_not_match {};
template <class Layer, extent_t Found, extent_t Expected>
struct input_width_does_not_match {};

template <class Layer, extent_t Unused1, extent_t Unused2>
struct tokens_need_an_embedding_first {};

/// The composition rule that names two layers: `Layer` expects inputs `Expects` wide, but its
/// predecessor in the model (`Predecessor`, or `input` for the model's input) gives `Receives`.
template <class Layer, class Predecessor, extent_t Expects, extent_t Receives>
struct input_width_does_not_match_predecessor {};

/// The sentence of each rule, shared by the compile-time and run-time forms.
template <template <class, extent_t, extent_t> class Rule>
inline constexpr std::string_view sentence = "shape rule broken ({}, {})";

template <>
inline constexpr std::string_view sentence<heads_do_not_divide_d_model> =
    "d_model ({}) is not divisible by heads ({})";
template <>
inline constexpr std::string_view sentence<heads_must_be_positive> = "heads ({}) must be positive";
template <>
inline constexpr std::string_view sentence<d_model_must_be_positive> =
    "d_model ({}) must be declared and positive";
template <>
inline constexpr std::string_view sentence<pytorch_names_need_head_width_d_model_over_heads> =
    "PyTorch names need key_dim_per_head = value_dim_per_head = d_model / heads and "
    "output_features = d_model (head width {}, d_model / heads {})";
template <>
inline constexpr std::string_view sentence<input_features_do_not_match_d_model> =
    "input feature dim ({}) does not match d_model ({})";
template <>
inline constexpr std::string_view sentence<query_features_do_not_match_d_model> =
    "query feature dim ({}) does not match d_model ({})";
template <>
inline constexpr std::string_view sentence<key_features_do_not_match_declaration> =
    "key feature dim ({}) does not match the declared key_features ({})";
template <>
inline constexpr std::string_view sentence<value_features_do_not_match_declaration> =
    "value feature dim ({}) does not match the declared value_features ({})";
template <>
inline constexpr std::string_view sentence<key_and_value_lengths_differ> =
    "key length ({}) differs from value length ({})";
template <>
inline constexpr std::string_view sentence<batch_sizes_differ> =
    "batch size ({}) differs from the query's batch size ({})";
template <>
inline constexpr std::string_view sentence<output_shape_does_not_match> =
    "output extent ({}) does not match the layer's output ({})";
template <>
inline constexpr std::string_view sentence<mask_query_length_does_not_match> =
    "mask query length ({}) does not match the query length ({})";
template <>
inline constexpr std::string_view sentence<mask_key_length_does_not_match> =
    "mask key length ({}) does not match the key length ({})";
template <>
inline constexpr std::string_view sentence<mask_batch_does_not_match> =
    "mask batch size ({}) does not match the batch size ({})";
template <>
inline constexpr std::string_view sentence<mask_heads_do_not_match> =
    "mask head count ({}) does not match heads ({})";
template <>
inline constexpr std::string_view sentence<bottom_right_causal_needs_query_not_longer_than_keys> =
    "bottom-right causal mask needs query length ({}) <= key length ({})";
template <>
inline constexpr std::string_view sentence<weights_shape_does_not_match> =
    "attention weights extent ({}) does not match the expected extent ({})";

template <>
inline constexpr std::string_view sentence<query_and_key_widths_differ> =
    "query width ({}) differs from key width ({})";
template <>
inline constexpr std::string_view sentence<heads_differ> =
    "head count ({}) differs from the query's head count ({})";

template <>
inline constexpr std::string_view sentence<key_heads_do_not_divide_query_heads> =
    "key and value heads ({}) do not divide the query's heads ({})";
template <>
inline constexpr std::string_view sentence<value_heads_differ_from_key_heads> =
    "value heads ({}) differ from key heads ({})";
template <>
inline constexpr std::string_view sentence<grouped_heads_need_named_projections> =
    "grouped key/value heads ({} for {} query heads) need their projections named with "
    "dense_projection_names<\"q_proj\", \"k_proj\", \"v_proj\", \"o_proj\">: "
    "nn.MultiheadAttention and Keras have no such heads";
template <>
inline constexpr std::string_view sentence<rotary_dims_must_be_even_and_fit_a_head> =
    "rotary embedding turns pairs of features: its dims ({}) must be even and at most the key "
    "width per head ({})";
template <>
inline constexpr std::string_view sentence<score_function_must_yield_a_number> =
    "with_score_function<E> takes an expression that yields a number (the new score); a "
    "condition hides keys: declare it with with_mask_function<E>";
template <>
inline constexpr std::string_view sentence<score_function_takes_no_query_dot> =
    "a layer's score function takes no query_dot: Shaw's relative attention is "
    "relative_position_attention, or the expression form's score_function";
template <>
inline constexpr std::string_view sentence<mask_function_must_yield_a_condition> =
    "with_mask_function<E> takes a condition (true: the key is seen), such as kv_idx <= q_idx; "
    "an expression that yields a number is a with_score_function";
template <>
inline constexpr std::string_view sentence<mask_function_cannot_read_score> =
    "a mask function cannot read `score` or query_dot: it says which keys are seen, before any "
    "score exists; change scores with a score function";
template <>
inline constexpr std::string_view sentence<one_score_and_one_mask_function_per_layer> =
    "a layer takes one with_score_function ({} given) and one with_mask_function ({} given): "
    "compose the changes, or join the conditions with &&, in one expression";
template <>
inline constexpr std::string_view sentence<activation_must_be_element_wise> =
    "the activation must be element-wise: softmax normalises over features, so it goes in a "
    "dense<name, units, softmax> layer of its own";
template <>
inline constexpr std::string_view sentence<units_must_be_positive> = "units ({}) must be positive";
template <>
inline constexpr std::string_view sentence<a_layer_name_comes_first> =
    "a layer's name comes first, as its weights are named: dense<\"out\", 64, relu>";
template <>
inline constexpr std::string_view sentence<units_come_before_the_activation> =
    "the units come before the activation: dense<\"out\", 64, relu>";
template <>
inline constexpr std::string_view sentence<vocabulary_and_dim_must_be_positive> =
    "vocabulary size ({}) and dim ({}) must be positive";
template <>
inline constexpr std::string_view sentence<position_out_of_range> =
    "position ({}) is out of range: the table holds {} positions";
template <>
inline constexpr std::string_view sentence<positions_must_be_positive> =
    "the number of positions ({}) must be positive";
template <>
inline constexpr std::string_view sentence<sinusoidal_encoding_needs_even_width> =
    "a sinusoidal encoding pairs sines and cosines: its width ({}) must be even";

template <>
inline constexpr std::string_view sentence<convolution_steps_must_be_positive> =
    "the kernel size ({}), strides and dilation rate (the smaller: {}) must be positive";
template <>
inline constexpr std::string_view sentence<max_relative_position_must_be_positive> =
    "max_relative_position ({}) must be declared and positive";
template <>
inline constexpr std::string_view sentence<stacked_heads_need_flatten_first> =
    "reads the stacked heads' output, whose features have two axes ({} units, {} heads): "
    "put a flatten<> before it";
template <>
inline constexpr std::string_view sentence<branch_must_keep_the_sequence_shape> =
    "a residual, merged or repeated block must keep the sequence's length and its one feature "
    "axis (an LSTM with return_sequences<true>, a same or causal convolution with stride 1)";
template <>
inline constexpr std::string_view sentence<flatten_needs_a_static_length> =
    "flatten needs a static sequence length: declare seq<N> in the model's input, or flatten "
    "the output of a layer that gives one (an LSTM without return_sequences)";
template <>
inline constexpr std::string_view sentence<state_shape_does_not_match> =
    "a recurrent state extent ({}) does not match the expected extent ({})";

template <>
inline constexpr std::string_view sentence<residual_branch_changes_width> =
    "a residual branch must keep the width: input {}, branch output {}";
template <>
inline constexpr std::string_view sentence<repeated_block_changes_width> =
    "a repeated block must keep the width: input {}, block output {}";
template <>
inline constexpr std::string_view sentence<repeat_count_must_be_positive> =
    "the repeat count ({}) must be positive";
template <>
inline constexpr std::string_view sentence<added_branches_differ_in_width> =
    "added branches must give one width: {} and {}";
template <>
inline constexpr std::string_view sentence<tokens_need_an_embedding_first> =
    "a tokens<...> input is read by an embedding<...>, which must be the model's first part";
template <>
inline constexpr std::string_view sentence<batch_exceeds_maximum> =
    "batch size ({}) exceeds the declared maximum ({})";
template <>
inline constexpr std::string_view sentence<sequence_exceeds_maximum> =
    "sequence length ({}) exceeds the declared maximum ({})";
template <>
inline constexpr std::string_view sentence<input_batch_does_not_match> =
    "batch size ({}) does not match the declared batch ({})";
template <>
inline constexpr std::string_view sentence<input_length_does_not_match> =
    "sequence length ({}) does not match the declared seq ({})";
template <>
inline constexpr std::string_view sentence<input_width_does_not_match> =
    "width ({}) does not match the declared d_model ({})";

/// `kind "name": sentence` with the numbers put in place of the `{}`s.
inline std::string format_rule(std::string_view kind, std::string_view name, std::string_view text,
                               extent_t first, extent_t second) {
  std::string out;
  out.reserve(kind.size() + name.size() + text.size() + 32);
  out.append(kind).append(" \"").append(name).append("\": ");
  const extent_t numbers[2] = {first, second};
  int used = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '{' && i + 1 < text.size() && text[i + 1] == '}' && used < 2) {
      out += std::to_string(numbers[used++]);
      ++i;
    } else {
      out += text[i];
    }
  }
  return out;
}

/// The run-time form of a rule: throws `shape_error` with the rule's sentence unless `holds`.
template <template <class, extent_t, extent_t> class Rule>
void check(bool holds, std::string_view kind, std::string_view name, extent_t first,
           extent_t second = 0) {
  if (!holds) throw shape_error(format_rule(kind, name, sentence<Rule>, first, second));
}

}  // namespace typeformer::diagnostics

namespace typeformer::detail {
/// The first of several problems (each `passed` or a broken rule) that is not `passed`; the
/// error points at the assertion that reads its `rule_holds`.
template <class... Problems>
struct first_problem_impl {
  using type = diagnostics::passed;
};
template <class First, class... Rest>
struct first_problem_impl<First, Rest...> {
  using type = std::conditional_t<std::is_same_v<First, diagnostics::passed>,
                                  typename first_problem_impl<Rest...>::type, First>;
};
template <class... Problems>
using first_problem = typename first_problem_impl<Problems...>::type;
}  // namespace typeformer::detail
