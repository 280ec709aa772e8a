#pragma once
// runner<Model>: runs a model on loaded weights. It owns the workspace, sized once at
// construction for the largest batch and sequence it will serve, so a call allocates nothing
// (on any thread) except the value-returning form's result. Several runners, one per thread,
// may share one set of weights: a call only reads them.
//
//   auto weights = load_weights<encoder>("encoder.safetensors", naming::pytorch);
//   runner<encoder> run(weights, {.threads = 2});
//   run(x, y);                                       // x, y: (batch, seq, d_model)
//   run(x, y, masks::key_lengths{lengths});          // the mask every self-attention applies

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <typeformer/core/diagnostics.hpp>
#include <typeformer/core/errors.hpp>
#include <typeformer/core/text.hpp>
#include <typeformer/expr/function_attention.hpp>
#include <typeformer/expr/masks.hpp>
#include <typeformer/kernels/simd.hpp>
#include <typeformer/kernels/workspace.hpp>
#include <typeformer/model/model.hpp>
#include <typeformer/tensor/aligned_buffer.hpp>
#include <typeformer/tensor/view.hpp>
#include <typeformer/tensor/xtensor_adapt.hpp>

namespace typeformer {

struct runner_options {
  /// Participants in each call's loops: the calling thread and threads − 1 workers.
  std::size_t threads = 1;
  /// The largest batch / sequence length served; 0 takes the model's declaration (a static
  /// extent, or max_batch<N> / max_seq<N>). Needed where the model declares neither.
  extent_t max_batch = 0;
  extent_t max_seq = 0;
  /// The longest memory input served (a model with memory<...>); 0 takes the declaration.
  extent_t max_memory_seq = 0;
  /// Check mode: the input and every layer's output are scanned, and the first NaN or
  /// infinity throws numeric_error naming the layer and the position. Off, NaN and infinity
  /// propagate (IEEE arithmetic); the scan costs one read of each activation.
  bool check_finite = false;
};

template <class Model>
class runner {
 public:
  using model_type = Model;
  using parameters = typename Model::parameters;
  using input_type = typename Model::input_type;
  using memory_type = typename Model::memory_type;

  /// Keeps a reference to `weights`: they must outlive the runner.
  explicit runner(const parameters& weights, const runner_options& options = {})
      : weights_(&weights),
        max_batch_(resolve_maximum(options.max_batch, input_type::batch, input_type::max_batch,
                                   "batch", "max_batch")),
        max_seq_(resolve_maximum(options.max_seq, input_type::seq, input_type::max_seq, "seq",
                                 "max_seq")),
        max_memory_seq_(Model::has_memory
                            ? resolve_maximum(options.max_memory_seq, memory_type::seq,
                                              memory_type::max_seq, "memory seq", "max_memory_seq")
                            : 0),
        workspace_(options.threads == 0 ? 1 : options.threads),
        check_finite_(options.check_finite) {
    const auto b = static_cast<std::size_t>(max_batch_), s = static_cast<std::size_t>(max_seq_);
    workspace_.reserve(Model::body::scratch_floats(
        {b, s, static_cast<std::size_t>(max_memory_seq_), workspace_.threads()}));
    stack_ = aligned_buffer<float>(Model::body::stack_floats(b, s));
    if constexpr (input_type::is_sequence_first)
      layout_ = aligned_buffer<float>(
          b * s * static_cast<std::size_t>(Model::body_input_width + Model::output_width) +
          b * static_cast<std::size_t>(max_memory_seq_) *
              static_cast<std::size_t>(memory_type::width));
    embedded_ = aligned_buffer<float>(Model::embedded_floats(b * s));
    if constexpr (masks_tokens) sequence_keep_.resize(b * s);
  }

  /// A temporary's weights would dangle once the statement ends: keep them in a variable.
  explicit runner(const parameters&& weights, const runner_options& options = {}) = delete;

  /// Converts from anything: the parameter of the overloads that only say what is missing.
  struct any_argument {
    any_argument() = default;
    template <class T>
    any_argument(const T&) noexcept {}  // implicit: any call of the overloads matches
  };

  runner(const runner&) = delete;
  runner& operator=(const runner&) = delete;

 private:
  /// What the static extents of a call's input X, memory M and output Y break (void: not
  /// given): integer ids for a tokens<...> model, then the input's rules, the memory's width,
  /// the output's; `problem` is the first broken rule, or `passed`. Asserted in the function
  /// the user calls, so that its error has one note of context rather than the runner's call
  /// chain. A (seq, batch, width) model's input and output extents are checked at run time,
  /// after its transposition, in run_checked.
  template <class X, class Y = void, class M = void>
  struct static_call_check {
    using input_view = decltype(as_view<Model::input_shape.size()>(std::declval<const X&>()));
    static constexpr bool integer_ids =
        !Model::has_tokens || std::is_integral_v<std::remove_cv_t<typename input_view::value_type>>;
    static constexpr auto input_problem() {
      using namespace diagnostics;
      constexpr auto xs = input_view::static_extents;
      using batch_and_length = detail::first_problem<
          require<extents_may_agree(xs[0], input_type::batch),
                  input_batch_does_not_match<input_name, xs[0], input_type::batch>>,
          require<extents_may_agree(xs[1], input_type::seq),
                  input_length_does_not_match<input_name, xs[1], input_type::seq>>>;
      if constexpr (Model::has_tokens || input_type::is_sequence_first) {
        return std::type_identity<batch_and_length>{};
      } else {
        constexpr extent_t width = Model::body_input_width;
        return std::type_identity<detail::first_problem<
            batch_and_length, require<extents_may_agree(xs[2], width),
                                      input_width_does_not_match<input_name, xs[2], width>>>>{};
      }
    }
    static constexpr auto memory_problem() {
      if constexpr (std::is_void_v<M>) {
        return std::type_identity<diagnostics::passed>{};
      } else {
        constexpr auto ms = decltype(as_view<3>(std::declval<const M&>()))::static_extents;
        return std::type_identity<diagnostics::require<
            extents_may_agree(ms[2], memory_type::width),
            diagnostics::input_width_does_not_match<memory_name, ms[2], memory_type::width>>>{};
      }
    }
    static constexpr auto output_problem() {
      if constexpr (std::is_void_v<Y> || input_type::is_sequence_first ||
                    !Model::declaration_holds) {
        return std::type_identity<diagnostics::passed>{};
      } else {
        constexpr std::size_t rank = Model::output_rank;
        constexpr auto ys = decltype(as_view<rank>(std::declval<Y&>()))::static_extents;
        constexpr auto out = Model::output_shape;
        constexpr std::size_t bad_axis = [&] {
          for (std::size_t a = 1; a < rank; ++a)
            if (!extents_may_agree(ys[a], out[a])) return a;
          return rank;
        }();
        constexpr std::size_t shown = bad_axis == rank ? rank - 1 : bad_axis;
        return std::type_identity<diagnostics::require<
            bad_axis == rank,
            diagnostics::output_shape_does_not_match<input_name, ys[shown], out[shown]>>>{};
      }
    }
    // The output is checked after the input: an output sized like a wrong input would be a
    // second error for one mistake, and first_problem reports the first.
    using problem =
        std::conditional_t<integer_ids,
                           detail::first_problem<typename decltype(input_problem())::type,
                                                 typename decltype(memory_problem())::type,
                                                 typename decltype(output_problem())::type>,
                           diagnostics::passed>;
    static constexpr bool passes =
        Model::declaration_holds && integer_ids && std::is_same_v<problem, diagnostics::passed>;
  };

 public:
  /// y = model(x). x is (batch, seq, d_model) and y (batch, seq, output width), as tensor_views
  /// or xtensor containers (zero copy); y must not overlap x. `mask` is applied by every
  /// self-attention layer (masks::key_lengths for padding, masks::causal, ...).
  template <class Arch = simd::best_available, class X, class Y, class Mask = masks::none>
  requires(!Model::has_memory) void run(const X& x, Y&& y, const Mask& mask = {}) {
    constexpr bool integer_ids = static_call_check<X, Y>::integer_ids;
    static_assert(integer_ids, "a tokens<...> model reads integer token ids");
    using problem = typename static_call_check<X, Y>::problem;
    static_assert(problem::rule_holds);
    // After either error, nothing that reads the call is compiled (no second error).
    if constexpr (static_call_check<X, Y>::passes) run_call<Arch>(x, std::forward<Y>(y), mask);
  }

 private:
  /// A call whose static extents passed: its layout, then run_checked.
  template <class Arch, class X, class Y, class Mask>
  void run_call(const X& x, Y&& y, const Mask& mask) {
    const masks::none no_memory_mask;
    if constexpr (input_type::is_sequence_first) {
      static_assert(Model::body::keeps_sequence_shape,
                    "a sequence_first model must keep the (seq, batch, width) shape: declare it "
                    "batch-first to change the length or the rank");
      const auto [xb, yb] = to_batch_first(as_view<3>(x), as_view<3>(y));
      run_checked<Arch>(xb, yb, mask, static_cast<const std::nullptr_t*>(nullptr), no_memory_mask);
      from_batch_first(yb, as_view<3>(y));
    } else {
      run_checked<Arch>(model_input(x), y, mask, static_cast<const std::nullptr_t*>(nullptr),
                        no_memory_mask);
    }
  }

 public:
  /// y = model(x, memory) for a model with a memory input (a decoder): memory is (batch,
  /// memory seq, memory width); `memory_mask` is applied by every cross-attention layer.
  template <class Arch = simd::best_available, class X, class M, class Y, class Mask = masks::none,
            class MemoryMask = masks::none>
  requires(Model::has_memory &&
           !masks::is_mask_v<std::remove_cvref_t<Y>>) void run(const X& x, const M& memory_in,
                                                               Y&& y, const Mask& mask = {},
                                                               const MemoryMask& memory_mask = {}) {
    constexpr bool integer_ids = static_call_check<X, Y, M>::integer_ids;
    static_assert(integer_ids, "a tokens<...> model reads integer token ids");
    using problem = typename static_call_check<X, Y, M>::problem;
    static_assert(problem::rule_holds);
    if constexpr (static_call_check<X, Y, M>::passes)
      run_call<Arch>(x, memory_in, std::forward<Y>(y), mask, memory_mask);
  }

 private:
  /// The same with a memory input: its run-time checks, its layout, then run_checked.
  template <class Arch, class X, class M, class Y, class Mask, class MemoryMask>
  void run_call(const X& x, const M& memory_in, Y&& y, const Mask& mask,
                const MemoryMask& memory_mask) {
    using namespace diagnostics;
    const auto memory = as_view<3>(memory_in);
    check<input_width_does_not_match>(memory.extent(2) == memory_type::width, "model", "memory",
                                      memory.extent(2), memory_type::width);
    if (memory_type::seq != dynamic)
      check<input_length_does_not_match>(memory.extent(1) == memory_type::seq, "model", "memory",
                                         memory.extent(1), memory_type::seq);
    check<sequence_exceeds_maximum>(memory.extent(1) <= max_memory_seq_, "model", "memory",
                                    memory.extent(1), max_memory_seq_);
    if constexpr (input_type::is_sequence_first) {
      const auto [xb, yb] = to_batch_first(as_view<3>(x), as_view<3>(y));
      const auto mb = memory_to_batch_first(memory);
      run_checked<Arch>(xb, yb, mask, &mb, memory_mask);
      from_batch_first(yb, as_view<3>(y));
    } else {
      run_checked<Arch>(model_input(x), y, mask, &memory, memory_mask);
    }
  }

 public:
  /// A model with a memory input (a decoder) called without it: one error that says so, not
  /// the list of run's overloads. The arguments are taken as any_argument, so that the error's
  /// context names the model, not the argument types.
  void run(any_argument, any_argument = {}) requires(Model::has_memory) {
    decoder_needs_its_memory();
  }
  void operator()(any_argument, any_argument = {}) requires(Model::has_memory) {
    decoder_needs_its_memory();
  }

  /// The same as run(x, y, mask), for the spelling `run(x, y)` of a runner named `run`.
  template <class X, class Y, class Mask = masks::none>
  requires(!Model::has_memory && !masks::is_mask_v<std::remove_cvref_t<Y>>) void operator()(
      const X& x, Y&& y, const Mask& mask = {}) {
    constexpr bool integer_ids = static_call_check<X, Y>::integer_ids;
    static_assert(integer_ids, "a tokens<...> model reads integer token ids");
    using problem = typename static_call_check<X, Y>::problem;
    static_assert(problem::rule_holds);
    if constexpr (static_call_check<X, Y>::passes)
      run_call<simd::best_available>(x, std::forward<Y>(y), mask);
  }

  /// The same as run(x, memory, y, mask, memory_mask).
  template <class X, class M, class Y, class Mask = masks::none, class MemoryMask = masks::none>
  requires(Model::has_memory && !masks::is_mask_v<std::remove_cvref_t<Y>>) void operator()(
      const X& x, const M& memory, Y&& y, const Mask& mask = {},
      const MemoryMask& memory_mask = {}) {
    constexpr bool integer_ids = static_call_check<X, Y, M>::integer_ids;
    static_assert(integer_ids, "a tokens<...> model reads integer token ids");
    using problem = typename static_call_check<X, Y, M>::problem;
    static_assert(problem::rule_holds);
    if constexpr (static_call_check<X, Y, M>::passes)
      run_call<simd::best_available>(x, memory, std::forward<Y>(y), mask, memory_mask);
  }

  /// The value-returning form: allocates exactly its result, shaped as Model::output_shape
  /// with the call's batch and length.
  template <class Arch = simd::best_available, class X, class Mask = masks::none>
  requires(!Model::has_memory && masks::is_mask_v<Mask>) xt::xtensor<float, Model::output_rank>
  operator()(const X& x_in, const Mask& mask = {}) {
    constexpr bool integer_ids = static_call_check<X>::integer_ids;
    static_assert(integer_ids, "a tokens<...> model reads integer token ids");
    using problem = typename static_call_check<X>::problem;
    static_assert(problem::rule_holds);
    const auto x = as_view<Model::input_shape.size()>(x_in);
    const auto shape = output_shape_for(x.extent(0), x.extent(1));
    std::array<std::size_t, Model::output_rank> extents{};
    for (std::size_t a = 0; a < extents.size(); ++a)
      extents[a] = static_cast<std::size_t>(std::max<extent_t>(shape[a], 0));
    xt::xtensor<float, Model::output_rank> y(extents);
    if constexpr (static_call_check<X>::passes) run_call<Arch>(x, y, mask);
    return y;
  }

  /// The output's extents for a call on `batch` sequences of `seq` positions.
  static constexpr std::array<extent_t, Model::output_rank> output_shape_for(extent_t batch,
                                                                             extent_t seq) {
    auto shape = Model::output_shape;
    shape[0] = batch;
    if constexpr (Model::output_has_sequence_axis) shape[1] = Model::output_length(seq);
    return shape;
  }

  // ---- Incremental decoding ------------------------------------------------------------------
  // A decoder produces one position at a time; each step's self-attention keys and values are
  // kept in a cache (in the runner, up to max_seq positions per sequence), and the memory's
  // keys and values are projected once per source. Self-attention is causal while decoding.
  //
  //   run.start_decoding(memory, memory_mask);     // a new batch of sequences
  //   for (...) run.decode(x_next, y_next, memory_mask);   // (batch, n, d) new positions
  //
  // decode gives the same rows a full call on the whole prefix (with masks::causal) gives at
  // those positions. The first start_decoding allocates the cache; decode allocates nothing.

  /// Starts decoding `memory.extent(0)` sequences against `memory` (a model with memory<...>).
  /// The memory and its mask are read here; the mask is needed again at each decode.
  template <class Arch = simd::best_available, class M, class MemoryMask = masks::none>
  requires Model::has_memory void start_decoding(const M& memory_in,
                                                 const MemoryMask& memory_mask = {}) {
    using namespace diagnostics;
    const auto memory = as_view<3>(memory_in);
    check<input_width_does_not_match>(memory.extent(2) == memory_type::width, "model", "memory",
                                      memory.extent(2), memory_type::width);
    check<batch_exceeds_maximum>(memory.extent(0) <= max_batch_, "model", "memory",
                                 memory.extent(0), max_batch_);
    check<sequence_exceeds_maximum>(memory.extent(1) <= max_memory_seq_, "model", "memory",
                                    memory.extent(1), max_memory_seq_);
    begin_session(static_cast<std::size_t>(memory.extent(0)),
                  static_cast<std::size_t>(memory.extent(1)));
    run_context<masks::none, MemoryMask> ctx{workspace_, no_mask_};
    ctx.check_finite = check_finite_;
    ctx.memory = memory.data();
    ctx.memory_length = session_.memory_length;
    ctx.memory_width = memory.extent(2);
    ctx.memory_mask = &memory_mask;
    ctx.decoding = &session_;
    ctx.fill_memory_cache = true;
    if (check_finite_)
      detail::require_finite(memory.data(), session_.batch, session_.memory_length,
                             static_cast<std::size_t>(memory.extent(2)), "model", "memory",
                             "the memory input");
    // No new positions: only the cross-attention caches are filled.
    Model::body::template forward<simd::resolve_arch<Arch>>(
        Model::body_parameters(*weights_), stack_.data(), stack_.data(), session_.batch, 0, ctx,
        stack_.data(), cache_.data());
  }

  /// Starts decoding `batch` sequences (a model without memory).
  void start_decoding(extent_t batch) requires(!Model::has_memory) {
    diagnostics::check<diagnostics::batch_exceeds_maximum>(batch <= max_batch_, "model", "input",
                                                           batch, max_batch_);
    if (batch < 0) throw shape_error("model: a negative batch size");
    begin_session(static_cast<std::size_t>(batch), 0);
  }

  /// y_next = the model's output at the next positions given their inputs x_next, both
  /// (batch, n, width); pass the memory mask given to start_decoding, and, as the last argument,
  /// the operands a layer's score or mask function needs at each call
  /// (`run.decode(x, y, expr::call_operands(bind<"window">(256)))`).
  template <class Arch = simd::best_available, class X, class Y, class MemoryMask = masks::none,
            class Operands = masks::none>
  void decode(const X& x_in, Y&& y_in, const MemoryMask& memory_mask = {},
              const Operands& operands = {}) {
    constexpr bool operands_third = expr::is_operands_at_call_v<MemoryMask>;
    static_assert(!operands_third || std::is_same_v<Operands, masks::none>,
                  "decode(x, y, operands) or decode(x, y, memory_mask, operands): the call "
                  "operands come last");
    // Named: clang prints a static_assert's condition, here the model's whole type.
    constexpr bool operands_given =
        !Model::needs_decode_operands || operands_third || expr::is_operands_at_call_v<Operands>;
    static_assert(operands_given,
                  "a score or mask function of this model needs operands bound at each call: "
                  "pass them to decode as its last argument, "
                  "run.decode(x, y, expr::call_operands(bind<\"name\">(value)))");
    if constexpr (!operands_given)
      return;  // one error: nothing below is instantiated
    else if constexpr (operands_third)
      decode_positions<Arch>(x_in, std::forward<Y>(y_in), masks::none{}, memory_mask);
    else
      decode_positions<Arch>(x_in, std::forward<Y>(y_in), memory_mask, operands);
  }

 private:
  static constexpr void decoder_needs_its_memory() {
    // Named: clang prints a static_assert's condition.
    constexpr bool memory_given = !Model::has_memory;
    static_assert(memory_given,
                  "this model reads a memory input (memory<...>: a decoder's encoder output): "
                  "call it as run(x, memory, y), masks after y: run(x, memory, y, mask, "
                  "memory_mask)");
  }
  template <class Arch, class X, class Y, class MemoryMask, class Operands>
  void decode_positions(const X& x_in, Y&& y_in, const MemoryMask& memory_mask,
                        const Operands& operands) {
    using namespace diagnostics;
    static_assert(!input_type::is_sequence_first,
                  "decode takes (batch, n, width) positions: a sequence_first model decodes in "
                  "batch-first layout");
    static_assert(!masks_tokens,
                  "decode does not propagate an embedding's mask_zero mask: declare the "
                  "embedding without mask_zero to decode");
    static_assert(Model::decodable,
                  "decode runs a model one position at a time, caching only attention's keys "
                  "and values: a model with an LSTM, a convolution or flatten cannot decode");
    if (!decoding_) throw shape_error("model: decode() before start_decoding()");
    const auto x = model_input(x_in);
    const auto y = as_view<3>(y_in);
    const auto batch = static_cast<extent_t>(session_.batch);
    check<batch_sizes_differ>(x.extent(0) == batch, "model", "input", x.extent(0), batch);
    check<input_width_does_not_match>(x.extent(2) == Model::body_input_width, "model", "input",
                                      x.extent(2), Model::body_input_width);
    const auto n = static_cast<std::size_t>(x.extent(1));
    check<sequence_exceeds_maximum>(past_ + n <= session_.cache_capacity, "model", "input",
                                    static_cast<extent_t>(past_ + n),
                                    static_cast<extent_t>(session_.cache_capacity));
    for (std::size_t axis = 0; axis < 2; ++axis)
      check<output_shape_does_not_match>(y.extent(axis) == x.extent(axis), "model", "output",
                                         y.extent(axis), x.extent(axis));
    check<output_shape_does_not_match>(y.extent(2) == Model::output_width, "model", "output",
                                       y.extent(2), Model::output_width);
    if (n == 0 || batch == 0) return;
    run_context<Operands, MemoryMask> ctx{workspace_, operands};
    ctx.check_finite = check_finite_;
    ctx.memory_length = session_.memory_length;
    ctx.memory_mask = &memory_mask;
    ctx.decoding = &session_;
    ctx.past = past_;
    if (check_finite_)
      detail::require_finite(x.data(), session_.batch, n, static_cast<std::size_t>(x.extent(2)),
                             "model", "input", "the input");
    Model::body::template forward<simd::resolve_arch<Arch>>(Model::body_parameters(*weights_),
                                                            x.data(), y.data(), session_.batch, n,
                                                            ctx, stack_.data(), cache_.data());
    past_ += n;
    if (check_finite_)
      detail::require_finite(y.data(), session_.batch, n, static_cast<std::size_t>(y.extent(2)),
                             "model", "output", "the output");
  }

 public:
  /// Positions decoded since start_decoding.
  std::size_t decoded_length() const noexcept { return past_; }

  std::size_t threads() const noexcept { return workspace_.threads(); }
  extent_t max_batch() const noexcept { return max_batch_; }
  extent_t max_seq() const noexcept { return max_seq_; }
  /// Bytes of scratch this runner holds (workspace and activations).
  std::size_t workspace_bytes() const noexcept {
    return sizeof(float) * (workspace_.capacity() + stack_.size());
  }

 private:
  /// Whether the model's embedding makes a padding mask (mask_zero) that its parts read.
  static constexpr bool masks_tokens = [] {
    if constexpr (Model::has_tokens)
      return Model::embedding_type::masks_zero;
    else
      return false;
  }();

  template <class Arch, class X, class Y, class Mask, class MemoryView, class MemoryMask>
  void run_checked(const X& x_in, Y&& y_in, const Mask& mask, const MemoryView* memory,
                   const MemoryMask& memory_mask) {
    using namespace diagnostics;
    constexpr std::size_t rank = Model::output_rank;
    const auto x = as_view<3>(x_in);
    const auto y = as_view<rank>(y_in);
    // The static extents were checked where the user called (static_call_check); here the
    // run-time ones.
    constexpr std::array<extent_t, 3> in = {input_type::batch, input_type::seq,
                                            Model::body_input_width};
    static_assert(std::is_same_v<typename decltype(y)::value_type, float>,
                  "the output must be writable floats");
    if (in[0] != dynamic)
      check<input_batch_does_not_match>(x.extent(0) == in[0], "model", "input", x.extent(0), in[0]);
    if (in[1] != dynamic)
      check<input_length_does_not_match>(x.extent(1) == in[1], "model", "input", x.extent(1),
                                         in[1]);
    check<input_width_does_not_match>(x.extent(2) == in[2], "model", "input", x.extent(2), in[2]);
    check<batch_exceeds_maximum>(x.extent(0) <= max_batch_, "model", "input", x.extent(0),
                                 max_batch_);
    check<sequence_exceeds_maximum>(x.extent(1) <= max_seq_, "model", "input", x.extent(1),
                                    max_seq_);
    const auto expected = output_shape_for(x.extent(0), x.extent(1));
    for (std::size_t a = 0; a < rank; ++a)
      check<output_shape_does_not_match>(y.extent(a) == expected[a], "model", "output", y.extent(a),
                                         expected[a]);
    const auto batch = static_cast<std::size_t>(x.extent(0));
    const auto seq = static_cast<std::size_t>(x.extent(1));
    if (batch == 0 || seq == 0) return;
    const float* x_first = x.data();
    const float* x_last = x_first + x.size();
    const float* y_first = y.data();
    const float* y_last = y_first + y.size();
    if (x_first < y_last && y_first < x_last)
      throw shape_error("model: the output must not overlap the input");
    run_context<Mask, MemoryMask, masks_tokens> ctx{workspace_, mask};
    ctx.check_finite = check_finite_;
    if (check_finite_)
      detail::require_finite(x.data(), batch, seq, static_cast<std::size_t>(x.extent(2)), "model",
                             Model::has_tokens ? "embedding" : "input",
                             Model::has_tokens ? "the looked-up vectors" : "the input");
    if constexpr (masks_tokens) ctx.sequence_keep = sequence_keep_.data();
    if constexpr (!std::is_same_v<MemoryView, std::nullptr_t>) {
      check<batch_sizes_differ>(memory->extent(0) == x.extent(0), "model", "memory",
                                memory->extent(0), x.extent(0));
      ctx.memory = memory->data();
      ctx.memory_length = static_cast<std::size_t>(memory->extent(1));
      ctx.memory_width = memory->extent(2);
      ctx.memory_mask = &memory_mask;
      if (check_finite_)
        detail::require_finite(memory->data(), batch, ctx.memory_length,
                               static_cast<std::size_t>(memory->extent(2)), "model", "memory",
                               "the memory input");
    }
    Model::body::template forward<simd::resolve_arch<Arch>>(Model::body_parameters(*weights_),
                                                            x.data(), y.data(), batch, seq, ctx,
                                                            stack_.data(), nullptr);
    // Catches what no layer's own scan names, such as a residual sum overflowing to infinity.
    if (check_finite_) {
      const auto rows = rank == 3 ? static_cast<std::size_t>(y.extent(1)) : std::size_t{1};
      detail::require_finite(y.data(), batch, rows, static_cast<std::size_t>(y.extent(rank - 1)),
                             "model", "output", "the output");
    }
  }

  /// The vectors the body reads: a tokens<...> model's ids (batch, seq), checked and looked up
  /// into a buffer sized at construction; a vector input as it is.
  template <class X>
  auto model_input(const X& x_in) {
    if constexpr (Model::has_tokens) {
      using namespace diagnostics;
      using E = typename Model::embedding_type;
      const auto ids = as_view<2>(x_in);
      constexpr auto is = decltype(ids)::static_extents;
      constexpr bool integer_ids =
          std::is_integral_v<std::remove_cv_t<typename decltype(ids)::value_type>>;
      static_assert(integer_ids, "a tokens<...> model reads integer token ids");
      // After that error, nothing that reads the ids is compiled (no second error).
      if constexpr (integer_ids) {
        static_assert(
            require<extents_may_agree(is[0], input_type::batch),
                    input_batch_does_not_match<input_name, is[0], input_type::batch>>::rule_holds);
        static_assert(
            require<extents_may_agree(is[1], input_type::seq),
                    input_length_does_not_match<input_name, is[1], input_type::seq>>::rule_holds);
        if (input_type::batch != dynamic)
          check<input_batch_does_not_match>(ids.extent(0) == input_type::batch, "model", "input",
                                            ids.extent(0), input_type::batch);
        if (input_type::seq != dynamic)
          check<input_length_does_not_match>(ids.extent(1) == input_type::seq, "model", "input",
                                             ids.extent(1), input_type::seq);
        check<batch_exceeds_maximum>(ids.extent(0) <= max_batch_, "model", "input", ids.extent(0),
                                     max_batch_);
        check<sequence_exceeds_maximum>(ids.extent(1) <= max_seq_, "model", "input", ids.extent(1),
                                        max_seq_);
        E::lookup_rows(weights_->embedding, ids.data(), static_cast<std::size_t>(ids.extent(0)),
                       static_cast<std::size_t>(ids.extent(1)), embedded_.data());
        if constexpr (masks_tokens)
          for (std::size_t i = 0; i < static_cast<std::size_t>(ids.extent(0) * ids.extent(1)); ++i)
            sequence_keep_[i] = ids.data()[i] != 0;
      }
      return tensor_view<const float, dynamic, dynamic, E::output_width>(
          embedded_.data(), {ids.extent(0), ids.extent(1), E::output_width});
    } else {
      return as_view<3>(x_in);
    }
  }

  // ---- The (seq, batch, width) layout: transposed through buffers sized at construction ----
  static void transpose_rows(const float* from, std::size_t outer, std::size_t inner,
                             std::size_t width, float* to) noexcept {
    for (std::size_t o = 0; o < outer; ++o)
      for (std::size_t i = 0; i < inner; ++i)
        std::copy_n(from + (o * inner + i) * width, width, to + (i * outer + o) * width);
  }

  template <class XV, class YV>
  auto to_batch_first(const XV& x, const YV& y) {
    using namespace diagnostics;
    const extent_t L = x.extent(0), B = x.extent(1), W = x.extent(2);
    check<batch_exceeds_maximum>(B <= max_batch_, "model", "input", B, max_batch_);
    check<sequence_exceeds_maximum>(L <= max_seq_, "model", "input", L, max_seq_);
    check<input_width_does_not_match>(W == Model::body_input_width, "model", "input", W,
                                      Model::body_input_width);
    check<output_shape_does_not_match>(y.extent(0) == L, "model", "output", y.extent(0), L);
    check<output_shape_does_not_match>(y.extent(1) == B, "model", "output", y.extent(1), B);
    float* xb = layout_.data();
    float* yb = xb + static_cast<std::size_t>(max_batch_ * max_seq_ * Model::body_input_width);
    transpose_rows(x.data(), static_cast<std::size_t>(L), static_cast<std::size_t>(B),
                   static_cast<std::size_t>(W), xb);
    return std::pair{tensor_view<const float, dynamic, dynamic, dynamic>(xb, {B, L, W}),
                     tensor_view<float, dynamic, dynamic, dynamic>(yb, {B, L, y.extent(2)})};
  }

  template <class YB, class YV>
  static void from_batch_first(const YB& yb, const YV& y) noexcept {
    transpose_rows(yb.data(), static_cast<std::size_t>(yb.extent(0)),
                   static_cast<std::size_t>(yb.extent(1)), static_cast<std::size_t>(yb.extent(2)),
                   y.data());
  }

  template <class MV>
  auto memory_to_batch_first(const MV& m) {
    using namespace diagnostics;
    const extent_t S = m.extent(0), B = m.extent(1), W = m.extent(2);
    check<batch_exceeds_maximum>(B <= max_batch_, "model", "memory", B, max_batch_);
    check<sequence_exceeds_maximum>(S <= max_memory_seq_, "model", "memory", S, max_memory_seq_);
    float* mb =
        layout_.data() + static_cast<std::size_t>(max_batch_ * max_seq_ *
                                                  (Model::body_input_width + Model::output_width));
    transpose_rows(m.data(), static_cast<std::size_t>(S), static_cast<std::size_t>(B),
                   static_cast<std::size_t>(W), mb);
    return tensor_view<const float, dynamic, dynamic, dynamic>(mb, {B, S, W});
  }

  void begin_session(std::size_t batch, std::size_t memory_length) {
    session_ = call_plan{batch, static_cast<std::size_t>(max_seq_), memory_length,
                         workspace_.threads(), static_cast<std::size_t>(max_seq_)};
    // Sized for the largest session, so that only the first start allocates.
    call_plan largest = session_;
    largest.batch = static_cast<std::size_t>(max_batch_);
    largest.memory_length = static_cast<std::size_t>(max_memory_seq_);
    const std::size_t floats = Model::body::cache_floats(largest);
    if (cache_.size() < floats) cache_ = aligned_buffer<float>(floats);
    workspace_.reserve(Model::body::scratch_floats(largest));
    past_ = 0;
    decoding_ = true;
  }

  static extent_t resolve_maximum(extent_t given, extent_t fixed, extent_t declared,
                                  const char* what, const char* dim) {
    if (fixed != dynamic) {
      if (given != 0 && given != fixed)
        throw shape_error(detail::concat("runner: the model fixes ", what, " at ",
                                         std::to_string(fixed), ", but runner_options asks for ",
                                         std::to_string(given)));
      return fixed;
    }
    if (given > 0) return given;
    if (declared > 0) return declared;
    throw shape_error(detail::concat("runner: the model's ", what,
                                     " is dynamic with no maximum: declare ", dim,
                                     "<N> in its input<...> or set runner_options.", dim));
  }

  const parameters* weights_;
  extent_t max_batch_;
  extent_t max_seq_;
  extent_t max_memory_seq_;
  workspace workspace_;
  aligned_buffer<float> stack_;
  aligned_buffer<float> layout_;             // (seq, batch, width) inputs and outputs, batch-first
  aligned_buffer<float> embedded_;           // a tokens<...> model's looked-up vectors
  std::vector<std::uint8_t> sequence_keep_;  // id != 0, for an embedding with mask_zero
  // Incremental decoding.
  aligned_buffer<float> cache_;
  call_plan session_;
  std::size_t past_ = 0;
  bool decoding_ = false;
  masks::none no_mask_;
  bool check_finite_;
};

}  // namespace typeformer
