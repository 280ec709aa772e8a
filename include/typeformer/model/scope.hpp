#pragma once
// scope<"name", Parts...>: the parts applied in turn (as sequential), with their weights under
// a name of their own: `scope<"transformer.encoder", repeat<"layers", 6, ...>, layer_norm<"norm">>`
// reads `transformer.encoder.layers.0.self_attn.in_proj_weight` … `transformer.encoder.norm.bias`
// under PyTorch names (a submodule's state_dict keys) and `transformer.encoder/layers_0/…` under
// Keras names (a nested model or layer). The name may itself hold separators, as a path does.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <typeformer/core/fixed_string.hpp>
#include <typeformer/model/binding.hpp>
#include <typeformer/model/error_path.hpp>
#include <typeformer/model/sequential.hpp>

namespace typeformer {

template <fixed_string Name, class... Parts>
struct scope : sequential<Parts...> {
 private:
  using base = sequential<Parts...>;

 public:
  static constexpr std::string_view kind = "scope";
  static constexpr std::string_view name = Name.view();
  using name_type = layer_name_of<Name>;
  /// The parts' problems, naming the layers by their paths under the scope.
  using composition_problem = detail::at_path<name_type, typename base::composition_problem>;
  template <extent_t MemoryWidth>
  using memory_problem =
      detail::at_path<name_type, typename base::template memory_problem<MemoryWidth>>;
  template <class Naming>
  using naming_problem = detail::at_path<name_type, typename base::template naming_problem<Naming>>;

  template <class Naming>
  static std::string inner(Naming, const std::string& outer) {
    return outer + std::string(name) + Naming::separator;
  }

  template <class Naming>
  static void expected(Naming naming, const std::string& outer, std::vector<weight_spec>& out) {
    base::expected(naming, inner(naming, outer), out);
  }

  template <class Naming, class Get>
  static typename base::parameters load(Naming naming, Get& get, const std::string& outer) {
    return base::load(naming, get, inner(naming, outer));
  }

  template <class Description>
  static std::size_t describe(Description& d, const std::string& outer, std::size_t from) {
    return base::describe(d, inner(detail::naming_of_description<Description>(), outer), from);
  }

  template <class Arch, class Context>
  static void forward(const typename base::parameters& p, const float* x, float* y,
                      std::size_t batch, std::size_t length, Context& ctx, float* stack,
                      float* cache) {
    detail::run_under_path(
        [] { return detail::concat(name, "."); },
        [&] { base::template forward<Arch>(p, x, y, batch, length, ctx, stack, cache); });
  }
};

namespace detail {
template <fixed_string Name, class List>
struct rebuild_scope;
template <fixed_string Name, class... Bound>
struct rebuild_scope<Name, part_list<Bound...>> {
  using type = scope<Name, Bound...>;
};
template <fixed_string Name, class... Parts, extent_t Width>
struct bind_part<scope<Name, Parts...>, Width> {
  using type = typename rebuild_scope<Name, bind_chain<Width, Parts...>>::type;
};
template <fixed_string Name, class... Parts, extent_t Width, extent_t Length>
struct bind_part_of_length<scope<Name, Parts...>, Width, Length> {
  using type = typename rebuild_scope<Name, bind_chain_of_length<Width, Length, Parts...>>::type;
};
}  // namespace detail

}  // namespace typeformer
