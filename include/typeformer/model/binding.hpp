#pragma once
// Binding a declared chain to the widths that flow through it. Each part takes its input width
// from its predecessor (layers/input_width.hpp); a part that declared a different width is the
// composition error
//   diagnostics::input_width_does_not_match_predecessor<layer, predecessor, expects, receives>
// The chain is bound by a fold over `>>` on an accumulator type, so the instantiation depth
// stays the same however many parts there are.

#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>

#include <typeformer/core/diagnostics.hpp>
#include <typeformer/core/extent.hpp>
#include <typeformer/core/fixed_string.hpp>
#include <typeformer/layers/input_width.hpp>
#include <typeformer/model/block.hpp>

namespace typeformer {

/// The name the model's input carries in diagnostics, as a layer's predecessor.
using input_name = layer_name<'i', 'n', 'p', 'u', 't'>;

namespace detail {

/// `Part` bound to inputs `Width` wide, coming from `Predecessor` (a layer_name). Layers are
/// bound by bind_input_width; composites specialise this to bind their parts in turn.
template <class Part, extent_t Width, class Predecessor>
struct bind_part {
  using type = bind_input_width_t<Part, Width>;
};
template <class Part, extent_t Width, class Predecessor>
using bind_part_t = typename bind_part<Part, Width, Predecessor>::type;

template <class... Parts>
struct part_list {};

template <std::size_t I, class Parts>
struct part_at;
template <std::size_t I, class... Parts>
struct part_at<I, part_list<Parts...>> {
  using type = std::tuple_element_t<I, std::tuple<Parts...>>;
};

/// The fold's accumulator: the parts bound so far and what the next one receives. The declared
/// parts ride as a value (`Parts`, a part_list) rather than as type arguments: argument-
/// dependent lookup for `>>` would otherwise instantiate them, and a layer still waiting for
/// its width must not be instantiated.
template <auto Parts, class Predecessor, extent_t Width, class... Bound>
struct chain_state {
  using last_name = Predecessor;
  static constexpr extent_t width = Width;
};
template <std::size_t I>
struct chain_step {};

template <auto Parts, class Predecessor, extent_t Width, class... Bound, std::size_t I>
constexpr auto operator>>(chain_state<Parts, Predecessor, Width, Bound...>, chain_step<I>) {
  using part = typename part_at<I, std::remove_cvref_t<decltype(Parts)>>::type;
  using bound = bind_part_t<part, Width, Predecessor>;
  using block = block_of<bound>;
  static_assert(sizeof(diagnostics::require<
                       block::input_width == Width,
                       diagnostics::input_width_does_not_match_predecessor<
                           typename block::first_name, Predecessor, block::input_width, Width>>));
  return chain_state<Parts, typename block::last_name, block::output_width, Bound..., bound>{};
}

template <class Predecessor, extent_t Width, class... Parts, std::size_t... I>
auto fold_chain(std::index_sequence<I...>)
    -> decltype((chain_state<part_list<Parts...>{}, Predecessor, Width>{} >> ... >>
                 chain_step<I>{}));

/// The chain of `Parts...` bound from inputs `Width` wide coming from `Predecessor`.
template <class Predecessor, extent_t Width, class... Parts>
using bind_chain =
    decltype(detail::fold_chain<Predecessor, Width, Parts...>(std::index_sequence_for<Parts...>{}));

/// `Template<Bound...>` of a chain_state.
template <template <class...> class Template, class State>
struct rebuild_from_chain;
template <template <class...> class Template, auto Parts, class Predecessor, extent_t Width,
          class... Bound>
struct rebuild_from_chain<Template, chain_state<Parts, Predecessor, Width, Bound...>> {
  using type = Template<Bound...>;
};

template <class State>
struct only_bound;
template <auto Parts, class Predecessor, extent_t Width, class Bound>
struct only_bound<chain_state<Parts, Predecessor, Width, Bound>> {
  using type = Bound;
};

/// One part bound and checked like a one-link chain.
template <class Part, extent_t Width, class Predecessor>
using bind_checked_t = typename only_bound<bind_chain<Predecessor, Width, Part>>::type;

}  // namespace detail
}  // namespace typeformer
