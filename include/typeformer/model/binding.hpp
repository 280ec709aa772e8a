#pragma once
// Binding a declared chain to the widths that flow through it, and checking the links.
//
// Each part takes its input width from its predecessor (layers/input_width.hpp). The chain is
// bound by a fold over `>>` on an accumulator type, so the instantiation depth stays the same
// however many parts there are. Binding never fails: a part that declared a width other than
// the one it receives is recorded as the chain's `composition_problem`,
//   diagnostics::input_width_does_not_match_predecessor<layer, predecessor, expects, receives>
// and problems travel up to the model, which asserts once, in its own body. So a broken link
// deep inside a repeated block gives the same short message as one at the top: one error whose
// context is the user's line, not a chain of binding internals.

#include <array>
#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>

#include <typeformer/core/diagnostics.hpp>
#include <typeformer/core/extent.hpp>
#include <typeformer/core/fixed_string.hpp>
#include <typeformer/layers/flatten.hpp>
#include <typeformer/layers/input_width.hpp>
#include <typeformer/model/block.hpp>

namespace typeformer {

/// The name the model's input carries in diagnostics, as a layer's predecessor.
using input_name = layer_name<'i', 'n', 'p', 'u', 't'>;
/// The name of a model's memory input (model.hpp) in diagnostics.
using memory_name = layer_name<'m', 'e', 'm', 'o', 'r', 'y'>;

namespace detail {

/// `Part` bound to inputs `Width` wide. Layers are bound by bind_input_width; composites
/// specialise this to bind their parts in turn.
template <class Part, extent_t Width>
struct bind_part {
  using type = bind_input_width_t<Part, Width>;
};
template <class Part, extent_t Width>
using bind_part_t = typename bind_part<Part, Width>::type;

/// `Part` bound to inputs `Width` wide and `Length` long (dynamic where the length is not
/// static): the form the chain fold uses. Only parts whose binding needs the length (flatten,
/// and the chains that may contain one) specialise it.
template <class Part, extent_t Width, extent_t Length>
struct bind_part_of_length {
  using type = bind_part_t<Part, Width>;
};
template <fixed_string Name, class... Options, extent_t Width, extent_t Length>
struct bind_part_of_length<flatten<Name, Options...>, Width, Length> {
  using type = typename bind_input_shape<flatten<Name, Options...>, Width, Length>::type;
};

// ---- Problems: `diagnostics::passed`, or the first broken rule (diagnostics.hpp) -------------

template <class B>
struct problem_of_impl {
  using type = diagnostics::passed;
};
template <class B>
requires requires { typename B::composition_problem; }
struct problem_of_impl<B> {
  using type = typename B::composition_problem;
};
template <class B>
requires requires { typename B::layer::composition_problem; }
struct problem_of_impl<B> {
  using type = typename B::layer::composition_problem;
};
/// The composition problem inside a bound part: a composite's, or the rule a layer reports
/// about the width it was given (most layers have none).
template <class B>
using problem_of = typename problem_of_impl<B>::type;

/// A bound part's first conflict with a model memory `Width` wide: a cross_attention layer
/// inside it whose key or value features are declared otherwise. Composite blocks fold it over
/// their parts as `memory_problem<Width>`; other parts have none.
template <class B, extent_t Width>
struct memory_problem_impl {
  using type = diagnostics::passed;
};
template <class B, extent_t Width>
requires requires { typename B::template memory_problem<Width>; }
struct memory_problem_impl<B, Width> {
  using type = typename B::template memory_problem<Width>;
};
template <class B, extent_t Width>
using memory_problem_of = typename memory_problem_impl<B, Width>::type;

/// The first rule a bound part's weight names break under `Naming` (a layer's
/// `naming_problem<Naming>`: a Keras-style multi_head_attention has no PyTorch names), folded by
/// composite blocks as `naming_problem<Naming>`; `passed` for parts without one. load_weights
/// asserts it before any name is read.
template <class B, class Naming>
struct naming_problem_impl {
  using type = diagnostics::passed;
};
template <class B, class Naming>
requires requires { typename B::template naming_problem<Naming>; }
struct naming_problem_impl<B, Naming> {
  using type = typename B::template naming_problem<Naming>;
};
template <class B, class Naming>
requires requires { typename B::layer::template naming_problem<Naming>; }
struct naming_problem_impl<B, Naming> {
  using type = typename B::layer::template naming_problem<Naming>;
};
template <class B, class Naming>
using naming_problem_of = typename naming_problem_impl<B, Naming>::type;

/// `Name` under `Path`, joined as PyTorch joins module names: `layers.0` + `self_attn` is
/// `layers.0.self_attn`; an unnamed layer is known by the path alone.
template <class Path, class Name>
struct name_under;
template <char... P, char... N>
struct name_under<layer_name<P...>, layer_name<N...>> {
  using type = std::conditional_t<sizeof...(N) == 0, layer_name<P...>, layer_name<P..., '.', N...>>;
};

/// A problem found inside a named part (a scope, a repeated block), with the layers it names
/// given by their path from that part, as the weights are named: `encoder.layers.0.self_attn`.
/// Rules whose first argument is not a layer name, and `passed`, are left as they are.
template <class Path, class Problem>
struct at_path_impl {
  using type = Problem;
};
template <class Path, template <class, extent_t, extent_t> class Rule, char... N, extent_t A,
          extent_t B>
struct at_path_impl<Path, Rule<layer_name<N...>, A, B>> {
  using type = Rule<typename name_under<Path, layer_name<N...>>::type, A, B>;
};
template <class Path, template <class, class, extent_t, extent_t> class Rule, char... N, char... M,
          extent_t A, extent_t B>
struct at_path_impl<Path, Rule<layer_name<N...>, layer_name<M...>, A, B>> {
  using type = Rule<typename name_under<Path, layer_name<N...>>::type,
                    typename name_under<Path, layer_name<M...>>::type, A, B>;
};
template <class Path, class Problem>
using at_path = typename at_path_impl<Path, Problem>::type;

/// The path of a repeated block's first copy, `layers.0`: a problem in the block is in every
/// copy, and the first is the one whose weights come first.
template <class Name>
struct first_copy_path;
template <char... N>
struct first_copy_path<layer_name<N...>> {
  using type = layer_name<N..., '.', '0'>;
};

/// `Rule` if `holds` is false, else `passed`: a rule as a value of a problem slot.
template <bool Holds, class Rule>
using rule_problem = std::conditional_t<Holds, diagnostics::passed, Rule>;

// ---- The fold -----------------------------------------------------------------------------

template <class... Parts>
struct part_list {};

template <std::size_t I, class Parts>
struct part_at;
template <std::size_t I, class... Parts>
struct part_at<I, part_list<Parts...>> {
  using type = std::tuple_element_t<I, std::tuple<Parts...>>;
};

/// The fold's accumulator: the parts bound so far and the width and length the next one
/// receives. Both lists ride as values (part_list objects) rather than as type arguments:
/// argument-dependent lookup for `>>` would otherwise instantiate them, and a layer still
/// waiting for its width must not be instantiated, nor a bound one whose declaration breaks a
/// rule (the model reports the rule; the layer's body would assert it again).
template <auto Parts, extent_t Width, extent_t Length, auto Bound>
struct chain_state {};
template <std::size_t I>
struct chain_step {};

template <class List, class Part>
struct append_part;
template <class... Bound, class Part>
struct append_part<part_list<Bound...>, Part> {
  using type = part_list<Bound..., Part>;
};

template <auto Parts, extent_t Width, extent_t Length, auto Bound, std::size_t I>
constexpr auto operator>>(chain_state<Parts, Width, Length, Bound>, chain_step<I>) {
  using part = typename part_at<I, std::remove_cvref_t<decltype(Parts)>>::type;
  using bound = typename bind_part_of_length<part, Width, Length>::type;
  using bound_so_far = typename append_part<std::remove_cvref_t<decltype(Bound)>, bound>::type;
  return chain_state<Parts, block_of<bound>::output_width,
                     output_length_of<block_of<bound>>(Length), bound_so_far{}>{};
}

template <extent_t Width, extent_t Length, class... Parts, std::size_t... I>
auto fold_chain(std::index_sequence<I...>)
    -> decltype((chain_state<part_list<Parts...>{}, Width, Length, part_list<>{}>{} >> ... >>
                 chain_step<I>{}));

template <class State>
struct bound_parts;
template <auto Parts, extent_t Width, extent_t Length, auto Bound>
struct bound_parts<chain_state<Parts, Width, Length, Bound>> {
  using type = std::remove_cvref_t<decltype(Bound)>;
};

/// The parts of a chain bound from inputs `Width` wide and `Length` long, as a part_list.
template <extent_t Width, extent_t Length, class... Parts>
using bind_chain_of_length =
    typename bound_parts<decltype(detail::fold_chain<Width, Length, Parts...>(
        std::index_sequence_for<Parts...>{}))>::type;

/// The same where the length is not known (dynamic).
template <extent_t Width, class... Parts>
using bind_chain = bind_chain_of_length<Width, dynamic, Parts...>;

/// `Template<Bound...>` from a part_list.
template <template <class...> class Template, class List>
struct rebuild;
template <template <class...> class Template, class... Bound>
struct rebuild<Template, part_list<Bound...>> {
  using type = Template<Bound...>;
};

// ---- Checking a bound chain ---------------------------------------------------------------

/// The first problem of the chain `Bound...` entered from `Predecessor` with width `Width`: a
/// link whose part expects another width, or a problem inside a part. Computed with a loop over
/// arrays, not by recursion over the parts.
template <class Predecessor, extent_t Width, class... Bound>
struct chain_problem_impl {
  static constexpr std::size_t count = sizeof...(Bound);
  static constexpr std::array<extent_t, count> expects = {block_of<Bound>::input_width...};
  static constexpr std::array<extent_t, count> gives = {block_of<Bound>::output_width...};
  static constexpr std::size_t broken = [] {
    for (std::size_t i = 0; i < count; ++i)
      if (expects[i] != (i == 0 ? Width : gives[i - 1])) return i;
    return count;
  }();
  template <std::size_t I>
  using part = block_of<std::tuple_element_t<I, std::tuple<Bound...>>>;
  template <std::size_t I>
  struct link_problem {
    using type = diagnostics::input_width_does_not_match_predecessor<
        typename part<I>::first_name, typename part<I - 1>::last_name, expects[I], gives[I - 1]>;
  };
  struct entry_problem {
    using type =
        diagnostics::input_width_does_not_match_predecessor<typename part<0>::first_name,
                                                            Predecessor, expects[0], Width>;
  };
  struct no_problem {
    using type = diagnostics::passed;
  };
  // Stacked heads ((units, heads) features) are read only by a part that takes several
  // feature axes (flatten): any other would read the heads' axis as its features.
  static constexpr std::array<feature_axes, count> axes = {output_axes<block_of<Bound>>()...};
  static constexpr std::array<bool, count> reads_axes = {reads_feature_axes<block_of<Bound>>()...};
  static constexpr std::size_t unflattened = [] {
    for (std::size_t i = 1; i < count; ++i)
      if (axes[i - 1].count > 1 && !reads_axes[i]) return i;
    return count;
  }();
  template <std::size_t I>
  struct axes_problem {
    static constexpr feature_axes given = axes[I - 1];
    using type = diagnostics::stacked_heads_need_flatten_first<typename part<I>::first_name,
                                                               given.extents[0], given.extents[1]>;
  };
  using link = typename std::conditional_t<
      broken == count, no_problem,
      std::conditional_t<broken == 0, entry_problem,
                         link_problem<(broken == 0 || broken == count ? 1 : broken)>>>::type;
  using type = first_problem<
      link,
      typename std::conditional_t<unflattened == count, no_problem,
                                  axes_problem<(unflattened == count ? 1 : unflattened)>>::type,
      problem_of<block_of<Bound>>...>;
};

template <class Predecessor, extent_t Width, class List>
struct chain_problem_of;
template <class Predecessor, extent_t Width, class... Bound>
struct chain_problem_of<Predecessor, Width, part_list<Bound...>> {
  using type = typename chain_problem_impl<Predecessor, Width, Bound...>::type;
};
/// The first problem of a bound chain given as a part_list.
template <class Predecessor, extent_t Width, class List>
using chain_problem = typename chain_problem_of<Predecessor, Width, List>::type;

}  // namespace detail
}  // namespace typeformer
