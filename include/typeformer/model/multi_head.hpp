#pragma once
// keras-multi-head's MultiHead wrapper: several layers read the same input and their outputs
// are stacked on a new last axis.
//
//   multi_head<lstm<"lstm", 64>, 3>           MultiHead(LSTM(64, name="lstm"), layer_num=3):
//                                             copies named lstm_1, lstm_2, lstm_3, each with its
//                                             own weights; output (batch, 64, 3)
//   multi_head_list<conv1d<"conv3", 32, 3, same>, conv1d<"conv5", 32, 5, same>, ...>
//                                             MultiHead([...]): each keeps its own name;
//                                             output (batch, length, 32, heads)
//   multi_head<Layer, N, head_merge::concatenate>
//                                             the copies joined on the feature axis instead;
//                                             concatenate<L1, L2, ...> is the list form
//
// Stacked outputs are (…, units, heads) with the heads' axis fastest, as Keras's
// `K.stack(outputs, axis=-1)`: a flatten<> must come before a layer that reads one feature
// axis (diagnostics::stacked_heads_need_flatten_first). All heads must give the same shape
// (diagnostics::heads_give_different_shapes names the first two that differ).
//
// Heads that are sequence layers (lstm, conv1d) run in parallel: the work is split into
// (head, batch rows) items over the workspace's threads, each run on one thread with its own
// scratch, so three LSTM heads of one sequence keep two cores busy. Other heads run one after
// another, each using every thread.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <typeformer/core/diagnostics.hpp>
#include <typeformer/core/fixed_string.hpp>
#include <typeformer/model/binding.hpp>
#include <typeformer/model/block.hpp>
#include <typeformer/model/finite_check.hpp>

namespace typeformer {

/// How multi_head joins its heads' outputs.
enum class head_merge {
  stack,       ///< on a new last axis: (…, units, heads), keras-multi-head's MultiHead
  concatenate  ///< along the features: (…, units · heads)
};

/// N copies of `Layer`, named `<name>_1` … `<name>_N`.
template <class Layer, std::size_t N, head_merge Merge = head_merge::stack>
struct multi_head {
  static_assert(N > 0, "multi_head needs at least one copy");
  static_assert(N < 100, "multi_head numbers its copies with at most two digits");
};

/// Different layers as the heads, each keeping its own name (MultiHead given a list).
template <class... Layers>
struct multi_head_list {
  static_assert(sizeof...(Layers) > 0, "multi_head_list needs at least one layer");
};

namespace detail {

template <class Name, std::size_t I>
struct numbered_name;
template <char... C, std::size_t I>
struct numbered_name<layer_name<C...>, I> {
  using type =
      std::conditional_t<(I < 10), layer_name<C..., '_', char('0' + I)>,
                         layer_name<C..., '_', char('0' + I / 10 % 10), char('0' + I % 10)>>;
};

/// Copy I (from 1) of a bound layer: the same layer under the name `<name>_I`.
template <class Layer, std::size_t I>
struct numbered_copy : Layer {
  static_assert(!composite_block<Layer>,
                "multi_head<Layer, N> copies a layer; give a list of blocks to multi_head_list");
  using name_type = typename numbered_name<typename Layer::name_type, I>::type;
  static constexpr std::string_view name = name_type::view();
};

/// The heads bound to inputs of `Length` positions (dynamic when the model's length is).
template <head_merge Merge, extent_t Length, class... Heads>
struct parallel_heads {
  static constexpr bool is_composite_block = true;
  static constexpr std::string_view kind =
      Merge == head_merge::stack ? std::string_view("stack") : std::string_view("concatenate");
  static constexpr std::size_t count = sizeof...(Heads);

 private:
  template <std::size_t I>
  using head = block_of<std::tuple_element_t<I, std::tuple<Heads...>>>;
  template <class F>
  static constexpr void each(F&& f) {
    [&]<std::size_t... I>(std::index_sequence<I...>) { (f.template operator()<I>(), ...); }
    (std::make_index_sequence<count>{});
  }
  static constexpr std::array<extent_t, count> widths = {block_of<Heads>::output_width...};
  static constexpr std::array<bool, count> sequence_axes = {
      has_sequence_axis<block_of<Heads>>()...};
  /// Whether heads a and b give the same shape from one input: width, rank and length (at
  /// the input's length when it is static, else at every length up to 256, which covers any
  /// stride or kernel difference that matters).
  static constexpr bool same_shape(std::size_t a, std::size_t b) noexcept {
    constexpr std::array<extent_t (*)(extent_t), count> lengths = {
        &output_length_of<block_of<Heads>>...};
    if (sequence_axes[a] != sequence_axes[b]) return false;
    if (Merge == head_merge::stack && widths[a] != widths[b]) return false;
    if constexpr (Length != dynamic) return lengths[a](Length) == lengths[b](Length);
    for (extent_t n = 0; n <= 256; ++n)
      if (lengths[a](n) != lengths[b](n)) return false;
    return true;
  }
  /// The input length at which differing output lengths are shown.
  static constexpr extent_t shown_length = Length != dynamic ? Length : 256;
  static constexpr std::size_t first_different = [] {
    for (std::size_t i = 1; i < count; ++i)
      if (!same_shape(0, i)) return i;
    return count;
  }();
  static constexpr std::size_t shown = first_different == count ? 0 : first_different;
  // Every head can run on a slice of the batch on one thread (see the header comment).
  template <class B>
  static constexpr bool sequence_leaf() noexcept {
    if constexpr (requires { typename B::layer; })
      return sequence_layer<typename B::layer>;
    else
      return false;
  }
  static constexpr bool runs_in_parallel = (sequence_leaf<block_of<Heads>>() && ...);

 public:
  using first_name = typename head<0>::first_name;
  using last_name = typename head<count - 1>::last_name;
  static constexpr extent_t input_width = head<0>::input_width;
  static constexpr extent_t output_width = (block_of<Heads>::output_width + ...);
  static constexpr extent_t parameter_count = (block_of<Heads>::parameter_count + ...);
  static constexpr extent_t output_length(extent_t length) noexcept {
    return output_length_of<head<0>>(length);
  }
  static constexpr bool output_has_sequence_axis = sequence_axes[0];
  static constexpr feature_axes output_feature_axes = [] {
    if constexpr (Merge == head_merge::concatenate) {
      return feature_axes{{output_width}, 1};
    } else {
      feature_axes axes = output_axes<head<0>>();
      axes.extents[axes.count++] = static_cast<extent_t>(count);
      return axes;
    }
  }();
  static constexpr bool keeps_sequence_shape =
      Merge == head_merge::concatenate && (detail::keeps_sequence_shape<block_of<Heads>>() && ...);
  template <extent_t MemoryWidth>
  using memory_problem = first_problem<memory_problem_of<block_of<Heads>, MemoryWidth>...>;
  template <class Naming>
  using naming_problem = first_problem<naming_problem_of<block_of<Heads>, Naming>...>;
  static constexpr bool decodable = (is_decodable<block_of<Heads>>() && ...);
  static constexpr bool needs_decode_operands =
      (detail::needs_decode_operands<block_of<Heads>>() || ...);
  /// The heads read the mask they receive; the merged output carries none (Keras's MultiHead
  /// of LSTMs gives one vector per sample).
  static constexpr bool propagates_mask = false;
  /// A problem inside a head, heads reading different widths, or heads whose outputs differ.
  using composition_problem = first_problem<
      problem_of<block_of<Heads>>...,
      rule_problem<block_of<Heads>::input_width == input_width,
                   diagnostics::input_width_does_not_match_predecessor<
                       typename block_of<Heads>::first_name, first_name,
                       block_of<Heads>::input_width, input_width>>...,
      rule_problem<
          first_different == count,
          diagnostics::heads_give_different_shapes<
              first_name, typename head<shown>::first_name,
              widths[0] != widths[shown] ? widths[0] : output_length_of<head<0>>(shown_length),
              widths[0] != widths[shown] ? widths[shown]
                                         : output_length_of<head<shown>>(shown_length)>>>;

  struct parameters {
    std::tuple<typename block_of<Heads>::parameters...> heads;
  };

  template <class Naming>
  static void expected(Naming naming, const std::string& scope, std::vector<weight_spec>& out) {
    (block_of<Heads>::expected(naming, scope, out), ...);
  }
  template <class Naming, class Get>
  static parameters load(Naming naming, Get& get, const std::string& scope) {
    return {{block_of<Heads>::load(naming, get, scope)...}};
  }

  static constexpr std::size_t scratch_floats(const call_plan& plan) noexcept {
    if constexpr (runs_in_parallel)
      return (block_of<Heads>::scratch_floats(plan) + ...);
    else
      return std::max({block_of<Heads>::scratch_floats(plan)...});
  }
  static constexpr std::size_t cache_floats(const call_plan& plan) noexcept {
    return (block_of<Heads>::cache_floats(plan) + ...);
  }
  /// Each head's output, then the heads' own stacks.
  static constexpr std::size_t stack_floats(std::size_t batch, std::size_t length) noexcept {
    const auto rows = batch * static_cast<std::size_t>(std::max<extent_t>(
                                  output_length(static_cast<extent_t>(length)), 0));
    return rows * static_cast<std::size_t>(output_width) +
           std::max({block_of<Heads>::stack_floats(batch, length)...});
  }

  template <class Description>
  static std::size_t describe(Description& d, const std::string& scope, std::size_t from) {
    const extent_t length = d.length;
    const bool sequence_axis = d.sequence_axis;
    std::array<std::size_t, count> ends{};
    each([&]<std::size_t I>() {
      d.length = length;
      d.sequence_axis = sequence_axis;
      ends[I] = head<I>::describe(d, scope, from);
    });
    const std::size_t merged = d.add_layer(scope + "multi_head", std::string(kind),
                                           output_feature_axes, d.sequence_axis, 0, ends[0]);
    for (std::size_t i = 1; i < count; ++i) d.add_edge(ends[i], merged);
    return merged;
  }

  template <class Arch, class Context>
  static void forward(const parameters& p, const float* x, float* y, std::size_t batch,
                      std::size_t length, Context& ctx, float* stack, float* cache) {
    const auto out_length = static_cast<std::size_t>(output_length(static_cast<extent_t>(length)));
    const std::size_t rows = batch * out_length;
    std::array<float*, count> outputs{};
    {
      float* at = stack;
      each([&]<std::size_t I>() {
        outputs[I] = at;
        at += rows * static_cast<std::size_t>(widths[I]);
      });
    }
    float* rest = stack + rows * static_cast<std::size_t>(output_width);
    if constexpr (runs_in_parallel) {
      run_parallel<Arch>(p, x, outputs, batch, length, ctx.ws, ctx.sequence_keep);
      // The parallel path runs the layers directly, past leaf_block's scan.
      if (ctx.check_finite)
        each([&]<std::size_t I>() {
          using layer = typename head<I>::layer;
          require_finite(outputs[I], batch, out_length, static_cast<std::size_t>(widths[I]),
                         layer::kind, layer::name, "its output");
        });
    } else {
      each([&]<std::size_t I>() {
        head<I>::template forward<Arch>(std::get<I>(p.heads), x, outputs[I], batch, length, ctx,
                                        rest, cache);
        if (ctx.decoding) cache += head<I>::cache_floats(*ctx.decoding);
      });
    }
    merge(outputs, rows, y);
  }

 private:
  /// (head, slice of the batch) items over the pool, each on one thread with its own scratch.
  template <class Arch>
  static void run_parallel(const parameters& p, const float* x,
                           const std::array<float*, count>& outputs, std::size_t batch,
                           std::size_t length, workspace& ws, const std::uint8_t* steps_keep) {
    using layers = std::tuple<typename block_of<Heads>::layer...>;
    const auto out_length = static_cast<std::size_t>(output_length(static_cast<extent_t>(length)));
    std::array<float*, count> scratch{};
    std::size_t total = 0;
    each([&]<std::size_t I>() {
      total += std::tuple_element_t<I, layers>::workspace_floats(batch, length);
    });
    float* at = ws.reserve(total);
    each([&]<std::size_t I>() {
      scratch[I] = at;
      at += std::tuple_element_t<I, layers>::workspace_floats(batch, length);
    });
    const std::size_t threads = ws.threads();
    // Slices per head so that the items divide evenly among the threads (3 heads on 2 threads:
    // 2 slices each, 6 items), as far as the batch allows.
    const std::size_t slices =
        std::max<std::size_t>(1, std::min(batch, threads / std::gcd(count, threads)));
    const auto item = [&](std::size_t begin, std::size_t end, std::size_t) {
      for (std::size_t i = begin; i < end; ++i) {
        const std::size_t h = i / slices, s = i % slices;
        const std::size_t b0 = batch * s / slices, b1 = batch * (s + 1) / slices;
        each([&]<std::size_t I>() {
          if (I != h || b0 == b1) return;
          using L = std::tuple_element_t<I, layers>;
          const auto in_width = static_cast<std::size_t>(L::input_width),
                     out_width = static_cast<std::size_t>(L::output_width);
          float* const out = outputs[I] + b0 * out_length * out_width;
          float* const rows = scratch[I] + L::workspace_floats(b0, length);
          const float* const in = x + b0 * length * in_width;
          if constexpr (requires { L::reads_sequence_mask; })
            L::template run<Arch>(std::get<I>(p.heads), in, out, b1 - b0, length, rows, nullptr,
                                  nullptr, nullptr, nullptr, nullptr,
                                  steps_keep ? steps_keep + b0 * length : nullptr);
          else
            L::template run<Arch>(std::get<I>(p.heads), in, out, b1 - b0, length, rows, nullptr);
        });
      }
    };
    const std::size_t items = count * slices;
    if (threads == 1 || items == 1)
      item(0, items, 0);
    else
      ws.pool().parallel_for(items, 1, item);
  }

  static void merge(const std::array<float*, count>& outputs, std::size_t rows, float* y) noexcept {
    const auto total = static_cast<std::size_t>(output_width);
    if constexpr (Merge == head_merge::stack) {
      // y[r, u, h] = head_h[r, u]: the heads' axis last.
      const auto units = static_cast<std::size_t>(widths[0]);
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t u = 0; u < units; ++u)
          for (std::size_t h = 0; h < count; ++h)
            y[r * total + u * count + h] = outputs[h][r * units + u];
    } else {
      std::size_t column = 0;
      for (std::size_t h = 0; h < count; ++h) {
        const auto w = static_cast<std::size_t>(widths[h]);
        for (std::size_t r = 0; r < rows; ++r)
          std::memcpy(y + r * total + column, outputs[h] + r * w, w * sizeof(float));
        column += w;
      }
    }
  }
};

template <class Bound, head_merge Merge, extent_t Length, class Indices>
struct numbered_heads;
template <class Bound, head_merge Merge, extent_t Length, std::size_t... I>
struct numbered_heads<Bound, Merge, Length, std::index_sequence<I...>> {
  using type = parallel_heads<Merge, Length, numbered_copy<Bound, I + 1>...>;
};

template <class Layer, std::size_t N, head_merge Merge, extent_t Width, extent_t Length>
struct bind_part_of_length<multi_head<Layer, N, Merge>, Width, Length> {
  using type = typename numbered_heads<typename bind_part_of_length<Layer, Width, Length>::type,
                                       Merge, Length, std::make_index_sequence<N>>::type;
};
template <class Layer, std::size_t N, head_merge Merge, extent_t Width>
struct bind_part<multi_head<Layer, N, Merge>, Width> {
  using type = typename bind_part_of_length<multi_head<Layer, N, Merge>, Width, dynamic>::type;
};
template <class... Layers, extent_t Width, extent_t Length>
struct bind_part_of_length<multi_head_list<Layers...>, Width, Length> {
  using type = parallel_heads<head_merge::stack, Length,
                              typename bind_part_of_length<Layers, Width, Length>::type...>;
};
template <class... Layers, extent_t Width>
struct bind_part<multi_head_list<Layers...>, Width> {
  using type = typename bind_part_of_length<multi_head_list<Layers...>, Width, dynamic>::type;
};

}  // namespace detail
}  // namespace typeformer
