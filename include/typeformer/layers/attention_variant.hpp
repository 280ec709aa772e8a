#pragma once
// A layer's attention variant as options: score and mask functions (expr/, docs/expressions.md)
// and where the operands they name come from.
//
//   constexpr expr::operand<"slopes", float, 8> slopes;
//   constexpr auto alibi = score + slopes[head_idx] * to_real(kv_idx - q_idx);
//   using layer = multi_head_attention<"attn", heads<8>, d_model<512>,
//                                      with_score_function<alibi>, with_mask_function<causal>,
//                                      alibi_slopes<slopes>>;
//
// An operand is computed by the layer (alibi_slopes: Press et al.'s slopes for its heads),
// loaded with its weights (weight_operand: T5's bucket table), or bound at each call
// (expr::call_operands(bind<"window">(256)) in the mask's place). The type carries the variant,
// so a model declared with such a layer runs it wherever the layer runs.

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <typeformer/core/extent.hpp>
#include <typeformer/core/fixed_string.hpp>
#include <typeformer/core/weight_source.hpp>
#include <typeformer/expr/function_attention.hpp>
#include <typeformer/functions/call.hpp>
#include <typeformer/functions/nodes.hpp>
#include <typeformer/functions/operands.hpp>
#include <typeformer/functions/static_checks.hpp>
#include <typeformer/kernels/attention_functions.hpp>
#include <typeformer/kernels/rotary_embedding.hpp>
#include <typeformer/layers/options.hpp>

namespace typeformer {

namespace option_kinds {
struct score_function {};
struct mask_function {};
struct function_operand {};
struct rotary_embedding {};
}  // namespace option_kinds

using kernels::rotary_pairs;

/// Option: rotary position embedding of the projected queries and keys (Su et al. 2021):
/// feature pair m of the head at position p turns by p·Base^(−2m/dims), pairs as `Pairs` says
/// (rotary_pairs::half_split: Hugging Face's rotate_half, LLaMA, GPT-NeoX; interleaved:
/// RoFormer, GPT-J), over the first `Dims` features of each head (0: all; GPT-NeoX's
/// rotary_pct takes fewer). Base is an integer (clang 14 has no floating-point template
/// arguments); every model so far uses one (10000, 500000, 1000000).
template <rotary_pairs Pairs, std::uint64_t Base = 10000, extent_t Dims = 0>
struct rotary_position_embedding {
  using kind = option_kinds::rotary_embedding;
  static_assert(Base > 1, "rotary_position_embedding: the base must be above 1");
  static constexpr rotary_pairs pairs = Pairs;
  static constexpr double base = static_cast<double>(Base);
  static constexpr extent_t dims = Dims;
};

namespace detail {
/// The index rules of an expression that has broken another rule already: none (one error).
struct no_index_check {
  using rule = diagnostics::passed;
};
/// A function option's rules: what it yields (KindRule), what it reads (ReadRule), then, where
/// both hold, the static ranges of E's operand indices.
template <auto E, bool KindHolds, class KindRule, bool ReadsHold, class ReadRule>
using function_option_problem =
    first_problem<diagnostics::require<KindHolds, KindRule>,
                  diagnostics::require<ReadsHold, ReadRule>,
                  typename std::conditional_t<KindHolds && ReadsHold, expr::static_index_check<E>,
                                              no_index_check>::rule>;
/// E where its option breaks no rule (Problem is passed), else no function: nothing of a broken
/// expression reaches the kernel.
template <auto E, class Problem>
constexpr auto function_if_it_holds() {
  if constexpr (std::is_same_v<Problem, diagnostics::passed>)
    return E;
  else
    return expr::no_function{};
}
}  // namespace detail

/// Option: the layer's scaled scores s become E at s (FlexAttention's score_mod), as
/// expr::score_function<E> does in the expression form.
template <auto E>
struct with_score_function {
  using kind = option_kinds::score_function;
  using T = std::remove_cvref_t<decltype(E)>;
  static constexpr bool yields_a_number =
      expr::function_value<T> && T::kind != expr::value_kind::condition;
  static constexpr bool without_query_dot = !yields_a_number || expr::query_dot_count<T>() == 0;
  /// The option's rules, for the layer `NameType` that declares it. The layer asserts them
  /// (a model checks them from the layer's options: one error, at the model).
  template <class NameType>
  using problem = detail::function_option_problem<
      E, yields_a_number, diagnostics::score_function_must_yield_a_number<NameType, 0, 0>,
      without_query_dot, diagnostics::score_function_takes_no_query_dot<NameType, 0, 0>>;
  static constexpr auto function = detail::function_if_it_holds<E, problem<layer_name<>>>();
};

/// Option: the layer hides the keys where the condition E is false (FlexAttention's mask_mod),
/// besides any mask given at the call.
template <auto E>
struct with_mask_function {
  using kind = option_kinds::mask_function;
  using T = std::remove_cvref_t<decltype(E)>;
  static constexpr bool yields_a_condition =
      expr::function_value<T> && T::kind == expr::value_kind::condition;
  static constexpr bool reads_no_score = !yields_a_condition || !expr::reads_score<T>::value;
  /// The option's rules, for the layer `NameType` that declares it (see with_score_function).
  template <class NameType>
  using problem = detail::function_option_problem<
      E, yields_a_condition, diagnostics::mask_function_must_yield_a_condition<NameType, 0, 0>,
      reads_no_score, diagnostics::mask_function_cannot_read_score<NameType, 0, 0>>;
  static constexpr auto function = detail::function_if_it_holds<E, problem<layer_name<>>>();
};

namespace detail {
template <class T>
struct is_float_table : std::false_type {};
template <fixed_string Name, extent_t... X>
struct is_float_table<expr::operand<Name, float, X...>> : std::bool_constant<sizeof...(X) >= 1> {};

/// The slopes of Press et al.'s `get_slopes(n)` (ALiBi, as BLOOM uses them), in double and
/// rounded once: for n a power of two, 2^(−8(h+1)/n); otherwise those of the power of two below
/// n, then every other slope of twice that power.
inline std::vector<double> alibi_slopes_of(std::size_t n) {
  const auto power_of_two = [](std::size_t m) {
    std::vector<double> s(m);
    const double start = std::exp2(-std::exp2(-(std::log2(double(m)) - 3)));
    for (std::size_t h = 0; h < m; ++h) s[h] = std::pow(start, double(h + 1));
    return s;
  };
  if (n == 0) return {};
  std::size_t p = 1;
  while (2 * p <= n) p *= 2;
  std::vector<double> slopes = power_of_two(p);
  if (p == n) return slopes;
  const std::vector<double> finer = alibi_slopes_of(2 * p);
  for (std::size_t h = 0; slopes.size() < n; h += 2) slopes.push_back(finer[h]);
  return slopes;
}
}  // namespace detail

/// Option: `Operand` (an expr::operand<"name", float, H> or <…, float, dynamic>, one per head)
/// holds ALiBi's slopes for the layer's heads (Press et al. 2022, the authors' get_slopes).
template <auto Operand>
struct alibi_slopes {
  using kind = option_kinds::function_operand;
  using operand_type = std::remove_cvref_t<decltype(Operand)>;
  static_assert(detail::is_float_table<operand_type>::value && operand_type::rank == 1,
                "alibi_slopes<operand> takes an operand<\"name\", float, heads> (or dynamic): one "
                "slope per head");
  static constexpr bool loaded = false;
  static constexpr std::size_t rank = 1;
  static std::array<extent_t, 1> extents(extent_t heads) noexcept { return {heads}; }
  static std::vector<float> compute(extent_t heads) {
    std::vector<float> out;
    for (double s : detail::alibi_slopes_of(static_cast<std::size_t>(heads)))
      out.push_back(static_cast<float>(s));
    return out;
  }
};

/// Option: `Operand` (an expr::operand of floats with static extents) is a table loaded with
/// the layer's weights from `Weight` under the layer's prefix: T5's bucket bias,
/// `weight_operand<table, "relative_attention_bias.weight">` for an operand<"table", float,
/// 32, heads>, as Hugging Face stores nn.Embedding(num_buckets, heads).
template <auto Operand, fixed_string Weight>
struct weight_operand {
  using kind = option_kinds::function_operand;
  using operand_type = std::remove_cvref_t<decltype(Operand)>;
  static constexpr bool all_static = [] {
    for (extent_t e : operand_type::extents)
      if (e == dynamic) return false;
    return true;
  }();
  static_assert(detail::is_float_table<operand_type>::value && all_static,
                "weight_operand<operand, \"weight\"> takes an operand<\"name\", float, extents...> "
                "whose extents are all numbers: they are the weight's shape");
  static constexpr bool loaded = true;
  static constexpr std::string_view weight = Weight.view();
  static constexpr std::size_t rank = operand_type::rank;
  static constexpr std::array<extent_t, rank> extents(extent_t) noexcept {
    return operand_type::extents;
  }
  static constexpr extent_t size = [] {
    extent_t n = 1;
    for (extent_t e : operand_type::extents) n *= e;
    return n;
  }();
};

namespace detail {

template <class... O>
struct function_operand_list {};

template <class List, class... Options>
struct collect_function_operands {
  using type = List;
};
template <class... Found, class First, class... Rest>
struct collect_function_operands<function_operand_list<Found...>, First, Rest...>
    : collect_function_operands<
          std::conditional_t<option_is<First, option_kinds::function_operand>::value,
                             function_operand_list<Found..., First>,
                             function_operand_list<Found...>>,
          Rest...> {};

template <class Kind, class... Options>
constexpr auto declared_function() {
  using option = typename option_type<Kind, void, Options...>::type;
  if constexpr (std::is_void_v<option>)
    return expr::no_function{};
  else
    return option::function;
}

template <class List>
struct layer_function_operands;
template <class... O>
struct layer_function_operands<function_operand_list<O...>> {
  static constexpr std::size_t count = sizeof...(O);
  /// The tables' values, in option order.
  using values = std::array<std::vector<float>, count>;
  using bindings_type =
      expr::bindings<expr::bound_operand<O::operand_type::name, float, O::rank>...>;

  static bindings_type bind(const values& v, extent_t heads) noexcept {
    return bind_each(v, heads, std::index_sequence_for<O...>{});
  }
  static constexpr extent_t loaded_size() noexcept {
    extent_t n = 0;
    ((n += O::loaded ? load_size<O>() : 0), ...);
    return n;
  }
  static void add_expected([[maybe_unused]] std::vector<weight_spec>& w,
                           [[maybe_unused]] const std::string& prefix) {
    (add_one<O>(w, prefix), ...);
  }
  template <class Read>
  static values load([[maybe_unused]] Read& read, [[maybe_unused]] const std::string& prefix,
                     [[maybe_unused]] extent_t heads) {
    values v;
    [[maybe_unused]] std::size_t i = 0;
    ((v[i++] = load_one<O>(read, prefix, heads)), ...);
    return v;
  }
  static bool fit([[maybe_unused]] const values& v, [[maybe_unused]] extent_t heads) noexcept {
    [[maybe_unused]] std::size_t i = 0;
    bool ok = true;
    ((ok = ok && v[i++].size() == elements(O::extents(heads))), ...);
    return ok;
  }

 private:
  template <class One>
  static constexpr extent_t load_size() noexcept {
    if constexpr (One::loaded)
      return One::size;
    else
      return 0;
  }
  template <std::size_t R>
  static std::size_t elements(const std::array<extent_t, R>& e) noexcept {
    std::size_t n = 1;
    for (extent_t x : e) n *= static_cast<std::size_t>(x);
    return n;
  }
  template <class One>
  static void add_one(std::vector<weight_spec>& w, const std::string& prefix) {
    if constexpr (One::loaded) {
      std::vector<std::int64_t> shape;
      for (extent_t e : One::operand_type::extents) shape.push_back(e);
      w.push_back({prefix + std::string(One::weight), shape});
    }
  }
  template <class One, class Read>
  static std::vector<float> load_one(Read& read, const std::string& prefix, extent_t heads) {
    if constexpr (One::loaded)
      return read(prefix + std::string(One::weight));
    else
      return One::compute(heads);
  }
  template <std::size_t... I>
  static bindings_type bind_each([[maybe_unused]] const values& v, [[maybe_unused]] extent_t heads,
                                 std::index_sequence<I...>) noexcept {
    return expr::bind_all(bind_one<O, I>(v, heads)...);
  }
  template <class One, std::size_t I>
  static auto bind_one(const values& v, extent_t heads) noexcept {
    expr::bound_operand<One::operand_type::name, float, One::rank> b{v[I].data(), 0.0f, {}};
    b.extents = One::extents(heads);
    return b;
  }
};

struct no_option_problem {
  template <class NameType>
  using problem = diagnostics::passed;
};
/// The rules of the option of kind Kind among Options (none: passed), for a layer NameType.
template <class Kind, class... Options>
struct option_problem {
  using option = typename option_type<Kind, void, Options...>::type;
  template <class NameType>
  using type = typename std::conditional_t<std::is_void_v<option>, no_option_problem,
                                           option>::template problem<NameType>;
};

/// The variant the options declare: its score and mask functions and their layer operands.
template <class... Options>
struct declared_attention_variant {
  static constexpr int score_options =
      (0 + ... + int(option_is<Options, option_kinds::score_function>::value));
  static constexpr int mask_options =
      (0 + ... + int(option_is<Options, option_kinds::mask_function>::value));
  /// The variant's rules, for the layer `NameType` that declares it: asserted by the layer,
  /// and by a model from the layer's options (multi_head_declaration).
  template <class NameType>
  using problem = detail::first_problem<
      diagnostics::require<(score_options <= 1 && mask_options <= 1),
                           diagnostics::one_score_and_one_mask_function_per_layer<
                               NameType, score_options, mask_options>>,
      typename option_problem<option_kinds::score_function, Options...>::template type<NameType>,
      typename option_problem<option_kinds::mask_function, Options...>::template type<NameType>>;
  static constexpr auto score = declared_function<option_kinds::score_function, Options...>();
  static constexpr auto mask = declared_function<option_kinds::mask_function, Options...>();
  using operands = layer_function_operands<
      typename collect_function_operands<function_operand_list<>, Options...>::type>;
  static constexpr bool has_score =
      !std::is_same_v<std::remove_cvref_t<decltype(score)>, expr::no_function>;
  static constexpr bool has_mask =
      !std::is_same_v<std::remove_cvref_t<decltype(mask)>, expr::no_function>;
};

template <auto F>
inline constexpr bool is_function =
    !std::is_same_v<std::remove_cvref_t<decltype(F)>, expr::no_function>;

/// The operands a call's mask argument binds: a mask function's, or call_operands', also as
/// parts of masks::all.
template <class Mask>
auto operands_of_call(const Mask& m) {
  return expr::carried<Mask>::operands(m);
}

/// The mask function of a call: the layer's, the call's (mask functions given as its mask or as
/// parts of masks::all), or both holding.
template <auto Declared, class Mask>
constexpr auto call_mask_function() {
  constexpr auto given = expr::carried<Mask>::function;
  if constexpr (is_function<given>) {
    if constexpr (is_function<Declared>)
      return Declared && given;
    else
      return given;
  } else {
    return Declared;
  }
}

/// One call of a layer with the variant `Variant` (declared_attention_variant) and the mask
/// argument `Mask`: the functions the kernel runs, the operands bound to them (the layer's, then
/// the call's) and the kernel's functions object.
template <class Variant, class Mask>
struct attention_call {
  static constexpr auto score = Variant::score;
  static constexpr auto mask = call_mask_function<Variant::mask, Mask>();
  using bindings =
      decltype(expr::joined(std::declval<const typename Variant::operands::bindings_type&>(),
                            operands_of_call(std::declval<const Mask&>())));
  using layer_bindings = typename Variant::operands::bindings_type;
  using call_bindings = decltype(operands_of_call(std::declval<const Mask&>()));
  static_assert(layer_bindings::distinct,
                "two operands of the layer's variant share a name: give each its own");
  /// No operand bound at the call has the name of one the layer binds (the layer's would be
  /// found first): checked in the layer's call, beside all_bound.
  static constexpr bool call_names_are_new =
      !call_bindings::template shares_a_name_with<layer_bindings>();
  static constexpr bool all_bound =
      expr::operands_bound<std::remove_cvref_t<decltype(score)>, bindings>::value &&
      expr::operands_bound<std::remove_cvref_t<decltype(mask)>, bindings>::value;
  // Nothing of the kernel's functions is instantiated after the layer's static_assert on
  // all_bound has failed: one error.
  static constexpr bool has_functions =
      (is_function<score> || is_function<mask>)&&all_bound && call_names_are_new;
  using functions =
      std::conditional_t<has_functions, kernels::attention_functions<score, mask, bindings>,
                         kernels::no_attention_functions>;

  static bindings bind(const typename Variant::operands::values& values, extent_t heads,
                       const Mask& m) {
    return expr::joined(Variant::operands::bind(values, heads), operands_of_call(m));
  }
  /// Checks the operands against the call's extents (shape_error naming the operand).
  static void check(const bindings& b, const expr::function_call_extents& call) {
    if constexpr (has_functions) {
      expr::check_function_call(score, b, call);
      expr::check_function_call(mask, b, call);
    }
  }
  static std::size_t block_map_floats(const bindings& b) noexcept {
    if constexpr (has_functions)
      return functions::block_map_floats(b);
    else
      return 0;
  }
  /// The kernel's functions, with their block map built in `block_map`; query row i is at
  /// position query_offset + i.
  static functions make(const bindings& b, float* block_map, std::size_t query_offset) {
    if constexpr (has_functions) {
      functions f(b, block_map);
      f.query_offset = query_offset;
      return f;
    } else {
      return {};
    }
  }
};

}  // namespace detail
}  // namespace typeformer
