#pragma once
// residual<Branch>: y = x + Branch(x). With a normalisation layer, the two transformer forms:
//   residual<Branch, post_norm<layer_norm<"norm1">>>   y = norm(x + Branch(x))   (PyTorch default)
//   residual<Branch, pre_norm<layer_norm<"norm1">>>    y = x + Branch(norm(x))   (norm_first)
// The branch must keep the width (diagnostics::residual_branch_changes_width). The norm layer
// is named in the enclosing scope, like PyTorch's `norm1` beside `self_attn`. In the post-norm
// form the sum is formed inside the normalisation kernel, not in a separate pass.

#include <cstddef>
#include <string>
#include <type_traits>
#include <vector>

#include <typeformer/core/diagnostics.hpp>
#include <typeformer/model/binding.hpp>
#include <typeformer/model/block.hpp>
#include <typeformer/model/finite_check.hpp>

namespace typeformer {

/// Normalise the residual block's input before the branch (PyTorch `norm_first=True`).
template <class Norm>
struct pre_norm {
  using layer = Norm;
};
/// Normalise the residual sum (PyTorch's default, the original transformer).
template <class Norm>
struct post_norm {
  using layer = Norm;
};

namespace detail {
template <class T>
struct is_pre_norm : std::false_type {};
template <class N>
struct is_pre_norm<pre_norm<N>> : std::true_type {};
template <class T>
struct is_post_norm : std::false_type {};
template <class N>
struct is_post_norm<post_norm<N>> : std::true_type {};
}  // namespace detail

namespace detail {
/// The normalisation of a residual block: its layer's block and which names and widths the
/// block starts and ends with. Without one, a stand-in with no parameters.
template <class Branch, class... Norm>
struct residual_norm {
  struct none {
    struct parameters {};
  };
  using layer = none;
  using first_name = typename Branch::first_name;
  using last_name = typename Branch::last_name;
  static constexpr extent_t input_width = Branch::input_width;
  static constexpr extent_t parameter_count = 0;
  using problem = diagnostics::passed;
};
template <class Branch, class Norm>
struct residual_norm<Branch, pre_norm<Norm>> {
  using layer = Norm;
  using first_name = typename block_of<Norm>::first_name;
  using last_name = typename Branch::last_name;
  static constexpr extent_t input_width = block_of<Norm>::input_width;
  static constexpr extent_t parameter_count = block_of<Norm>::parameter_count;
  using problem = chain_problem<first_name, input_width, part_list<Norm, typename Branch::part>>;
};
template <class Branch, class Norm>
struct residual_norm<Branch, post_norm<Norm>> {
  using layer = Norm;
  using first_name = typename Branch::first_name;
  using last_name = typename block_of<Norm>::last_name;
  static constexpr extent_t input_width = Branch::input_width;
  static constexpr extent_t parameter_count = block_of<Norm>::parameter_count;
  using problem = chain_problem<first_name, input_width, part_list<typename Branch::part, Norm>>;
};
/// A branch's block with the part it was made from (chain_problem takes parts).
template <class Part>
struct residual_branch : block_of<Part> {
  using part = Part;
  using block_type = block_of<Part>;
};
}  // namespace detail

template <class Branch, class... Norm>
struct residual {
  static_assert(sizeof...(Norm) <= 1, "residual takes at most one pre_norm<...> or post_norm<...>");
  static_assert(((detail::is_pre_norm<Norm>::value || detail::is_post_norm<Norm>::value) && ...),
                "the second argument of residual is pre_norm<layer_norm<...>> or "
                "post_norm<layer_norm<...>>");
  static constexpr bool is_composite_block = true;
  static constexpr std::string_view kind = "residual";
  static constexpr bool has_pre_norm = (detail::is_pre_norm<Norm>::value || ...);
  static constexpr bool has_post_norm = (detail::is_post_norm<Norm>::value || ...);

 private:
  using branch = detail::residual_branch<Branch>;
  using norm = detail::residual_norm<branch, Norm...>;
  using norm_layer = typename norm::layer;

 public:
  using first_name = typename norm::first_name;
  using last_name = typename norm::last_name;
  static constexpr extent_t input_width = norm::input_width;
  static constexpr extent_t output_width = norm::input_width;
  static constexpr extent_t parameter_count = branch::parameter_count + norm::parameter_count;
  /// A link inside the block whose widths disagree, a problem inside the branch, or a branch
  /// that does not give back the width it was given.
  using composition_problem = detail::first_problem<
      typename norm::problem, detail::problem_of<typename branch::block_type>,
      detail::rule_problem<
          branch::output_width == norm::input_width,
          diagnostics::residual_branch_changes_width<typename branch::first_name, norm::input_width,
                                                     branch::output_width>>,
      detail::rule_problem<
          detail::keeps_sequence_shape<branch>(),
          diagnostics::branch_must_keep_the_sequence_shape<typename branch::first_name, 0, 0>>>;
  template <extent_t MemoryWidth>
  using memory_problem = detail::memory_problem_of<typename branch::block_type, MemoryWidth>;
  template <class Naming>
  using naming_problem = detail::naming_problem_of<typename branch::block_type, Naming>;
  static constexpr bool decodable = detail::is_decodable<typename branch::block_type>();
  static constexpr bool needs_decode_operands =
      detail::needs_decode_operands<typename branch::block_type>();

  struct parameters {
    typename branch::parameters branch_parameters;
    typename norm_layer::parameters norm_parameters;
  };

  template <class Naming>
  static void expected(Naming naming, const std::string& scope, std::vector<weight_spec>& out) {
    if constexpr (has_pre_norm) detail::block_of<norm_layer>::expected(naming, scope, out);
    branch::expected(naming, scope, out);
    if constexpr (has_post_norm) detail::block_of<norm_layer>::expected(naming, scope, out);
  }

  template <class Naming, class Get>
  static parameters load(Naming naming, Get& get, const std::string& scope) {
    parameters p;
    p.branch_parameters = branch::load(naming, get, scope);
    if constexpr (sizeof...(Norm) > 0)
      p.norm_parameters = detail::block_of<norm_layer>::load(naming, get, scope);
    return p;
  }

  static constexpr std::size_t scratch_floats(const call_plan& plan) noexcept {
    return branch::scratch_floats(plan);
  }

  static constexpr std::size_t cache_floats(const call_plan& plan) noexcept {
    return branch::cache_floats(plan);
  }

  /// Pre-norm keeps norm(x) for the branch; the others need no buffer of their own.
  static constexpr std::size_t stack_floats(std::size_t batch, std::size_t length) noexcept {
    return (has_pre_norm ? batch * length * static_cast<std::size_t>(input_width) : 0) +
           branch::stack_floats(batch, length);
  }

  template <class Description>
  static std::size_t describe(Description& d, const std::string& scope, std::size_t from) {
    std::size_t at = from;
    if constexpr (has_pre_norm) at = detail::block_of<norm_layer>::describe(d, scope, at);
    at = d.add_sum(from, branch::describe(d, scope, at));
    if constexpr (has_post_norm) at = detail::block_of<norm_layer>::describe(d, scope, at);
    return at;
  }

  template <class Arch, class Context>
  static void forward(const parameters& p, const float* x, float* y, std::size_t batch,
                      std::size_t length, Context& ctx, float* stack, float* cache) {
    const std::size_t rows = batch * length;
    const std::size_t n = rows * static_cast<std::size_t>(input_width);
    if constexpr (has_pre_norm) {
      norm_layer::template forward_rows<Arch>(p.norm_parameters, x, nullptr, stack, rows, ctx.ws);
      if (ctx.check_finite) check_norm_output(stack, batch, length);
      branch::template forward<Arch>(p.branch_parameters, stack, y, batch, length, ctx, stack + n,
                                     cache);
      detail::add_in_place(y, x, n);
    } else if constexpr (has_post_norm) {
      branch::template forward<Arch>(p.branch_parameters, x, y, batch, length, ctx, stack, cache);
      norm_layer::template forward_rows<Arch>(p.norm_parameters, y, x, y, rows, ctx.ws);
      if (ctx.check_finite) check_norm_output(y, batch, length);
    } else {
      branch::template forward<Arch>(p.branch_parameters, x, y, batch, length, ctx, stack, cache);
      detail::add_in_place(y, x, n);
    }
  }

 private:
  // The norm runs here rather than as a block of its own, so check mode scans it here.
  static void check_norm_output(const float* y, std::size_t batch, std::size_t length) {
    detail::require_finite(y, batch, length, static_cast<std::size_t>(input_width),
                           norm_layer::kind, norm_layer::name, "its output");
  }
};

namespace detail {
// Bound as the chain the block runs: norm then branch, or branch then norm.
template <class Branch, extent_t Width>
struct bind_part<residual<Branch>, Width> {
  using type = residual<bind_part_t<Branch, Width>>;
};

template <class List>
struct pre_norm_residual;
template <class Norm, class Branch>
struct pre_norm_residual<part_list<Norm, Branch>> {
  using type = residual<Branch, pre_norm<Norm>>;
};
template <class Branch, class Norm, extent_t Width>
struct bind_part<residual<Branch, pre_norm<Norm>>, Width> {
  using type = typename pre_norm_residual<bind_chain<Width, Norm, Branch>>::type;
};

template <class List>
struct post_norm_residual;
template <class Branch, class Norm>
struct post_norm_residual<part_list<Branch, Norm>> {
  using type = residual<Branch, post_norm<Norm>>;
};
template <class Branch, class Norm, extent_t Width>
struct bind_part<residual<Branch, post_norm<Norm>>, Width> {
  using type = typename post_norm_residual<bind_chain<Width, Branch, Norm>>::type;
};
}  // namespace detail

}  // namespace typeformer
