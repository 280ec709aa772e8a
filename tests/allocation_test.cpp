// A warm forward call allocates nothing, on 1 thread or 2: this executable replaces the
// global operator new with a counting one and counts over repeated calls.

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include <typeformer/typeformer.hpp>

#include "synthetic_parameters.hpp"

namespace {
std::atomic<long> allocations{0};
}  // namespace

// The replacements pair malloc with free; g++ 12 at -O3 inlines both into a caller and then
// takes `new` + `free` for a mismatch (-Wmismatched-new-delete), which it is not here.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

void* operator new(std::size_t size) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace tfm = typeformer;
using namespace tfm::dims;

TEST_CASE(
    "a warm multi_head_attention call allocates nothing, on 1 and 2 threads, with and without "
    "head-averaged weights") {
  using layer = tfm::multi_head_attention<"self_attn", heads<4>, d_model<36>>;
  auto params = layer::from_weights(tfm::naming::pytorch, [](const std::string& name) {
    const std::size_t n = name == "in_proj_weight"    ? 3 * 36 * 36
                          : name == "out_proj.weight" ? 36 * 36
                          : name == "in_proj_bias"    ? 3 * 36
                                                      : 36;
    std::vector<float> w(n);
    for (std::size_t i = 0; i < n; ++i) w[i] = float((i * 37) % 101) / 101.0f - 0.5f;
    return w;
  });
  std::vector<float> x(3 * 11 * 36, 0.25f), y(x.size());
  std::vector<tfm::extent_t> lengths = {11, 7, 2};
  tfm::tensor_view<const float, tfm::dynamic, 11, 36> in(x.data(), {3, 11, 36});
  tfm::tensor_view<float, tfm::dynamic, 11, 36> out(y.data(), {3, 11, 36});
  for (std::size_t threads : {1u, 2u}) {
    tfm::workspace ws(threads);
    const auto mask = tfm::masks::all(tfm::masks::causal{}, tfm::masks::key_lengths{lengths});
    std::vector<float> averaged_storage(3 * 11 * 11);
    tfm::tensor_view<float, tfm::dynamic, 11, 11> averaged(averaged_storage.data(), {3, 11, 11});
    auto call_both = [&] {
      layer::forward(params, in, in, in, out, ws, mask);
      layer::forward(params, in, in, in, out, ws, mask, tfm::attention_weights_averaged{averaged});
    };
    call_both();  // grows the workspace
    const long before = allocations.load();
    for (int call = 0; call < 5; ++call) call_both();
    const long during = allocations.load() - before;
    INFO("threads: " << threads);
    REQUIRE(during == 0);
  }
}

TEST_CASE(
    "a warm runner<Model> call allocates nothing, on 1 and 2 threads, for any batch and "
    "length within the declared maxima") {
  using encoder_layer =
      tfm::sequential<tfm::residual<tfm::multi_head_attention<"self_attn", heads<4>>,
                                    tfm::post_norm<tfm::layer_norm<"norm1">>>,
                      tfm::residual<tfm::feed_forward<"ff", 52, tfm::activations::gelu>,
                                    tfm::pre_norm<tfm::layer_norm<"norm2">>>>;
  using model = tfm::model<
      tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<36>, max_batch<3>, max_seq<11>>,
      tfm::repeat<"layers", 2, encoder_layer>, tfm::zero_padded_positions, tfm::layer_norm<"norm">>;
  const auto weights = synthetic_parameters<model>(
      [](std::size_t i, std::size_t t) { return float((i * 37 + t) % 101) / 404.0f; });
  std::vector<float> x(3 * 11 * 36, 0.25f), y(x.size());
  for (std::size_t threads : {1u, 2u}) {
    tfm::runner<model> run(weights, {.threads = threads});
    for (tfm::extent_t b : {3, 1, 2})
      for (tfm::extent_t n : {11, 1, 6}) {
        std::vector<tfm::extent_t> lengths(static_cast<std::size_t>(b), n);
        lengths[0] = (n + 1) / 2;
        const std::span<const tfm::extent_t> view(lengths);
        tfm::tensor_view<const float, tfm::dynamic, tfm::dynamic, 36> in(x.data(), {b, n, 36});
        tfm::tensor_view<float, tfm::dynamic, tfm::dynamic, 36> out(y.data(), {b, n, 36});
        INFO("threads " << threads << " batch " << b << " length " << n);
        const long call_before = allocations.load();
        run(in, out, tfm::masks::key_lengths{view});
        const long during = allocations.load() - call_before;
        REQUIRE(during == 0);
      }
  }
}

TEST_CASE("decode steps with the key/value cache allocate nothing, on 1 and 2 threads") {
  using decoder = tfm::model<
      tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<36>, max_batch<2>, max_seq<9>>,
      tfm::memory<seq<tfm::dynamic>, d_model<36>, max_seq<5>>,
      tfm::repeat<"layers", 2, tfm::transformer_decoder_layer<heads<4>, dim_feedforward<40>>>,
      tfm::layer_norm<"norm">>;
  const auto weights = synthetic_parameters<decoder>(
      [](std::size_t i, std::size_t) { return float((i * 13) % 71) / 284.0f; });
  std::vector<float> memory(2 * 5 * 36, 0.1f), x(2 * 36, 0.3f), y(x.size());
  const std::vector<tfm::extent_t> memory_lengths = {5, 2};
  const tfm::masks::key_lengths memory_mask{memory_lengths};
  for (std::size_t threads : {1u, 2u}) {
    tfm::runner<decoder> run(weights, {.threads = threads});
    tfm::tensor_view<const float, 2, 5, 36> mem(memory.data());
    run.start_decoding(mem, memory_mask);  // allocates the cache, once
    tfm::tensor_view<const float, 2, 1, 36> in(x.data());
    tfm::tensor_view<float, 2, 1, 36> out(y.data());
    for (int step = 0; step < 9; ++step) {
      INFO("threads " << threads << " step " << step);
      const long before = allocations.load();
      run.decode(in, out, memory_mask);
      const long during = allocations.load() - before;
      REQUIRE(during == 0);
    }
    const long before = allocations.load();
    run.start_decoding(mem, memory_mask);  // a new source reuses the cache
    const long during = allocations.load() - before;
    REQUIRE(during == 0);
  }
}
