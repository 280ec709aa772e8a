// The model as a type: compile-time properties, names, loading errors, run-time checks,
// summary and Graphviz output.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <typeformer/typeformer.hpp>

#include "synthetic_parameters.hpp"

namespace tfm = typeformer;
using namespace tfm::dims;

namespace {

using encoder_layer =
    tfm::sequential<tfm::residual<tfm::multi_head_attention<"self_attn", heads<4>>,
                                  tfm::post_norm<tfm::layer_norm<"norm1">>>,
                    tfm::residual<tfm::feed_forward<"ff", 52, tfm::activations::relu>,
                                  tfm::pre_norm<tfm::layer_norm<"norm2">>>>;
using small_model = tfm::model<tfm::input<batch<tfm::dynamic>, seq<7>, d_model<36>, max_batch<4>>,
                               tfm::repeat<"layers", 2, encoder_layer>, tfm::layer_norm<"norm">>;

// Deterministic weights for every tensor the model expects.
template <class Model, class Naming>
std::vector<std::byte> synthetic_weights(Naming naming, const std::string& skip = "",
                                         const std::string& extra = "") {
  tfm::io::safetensors_writer w;
  int seed = 0;
  for (const auto& spec : Model::expected_weights(naming)) {
    if (spec.name == skip) continue;
    std::size_t n = 1;
    for (auto e : spec.shape) n *= static_cast<std::size_t>(e);
    std::vector<float> values(n);
    for (std::size_t i = 0; i < n; ++i) values[i] = float((i * 31 + seed) % 97) / 194.0f - 0.25f;
    ++seed;
    w.add_floats(spec.name, spec.shape, values);
  }
  if (!extra.empty()) {
    const float one = 1.0f;
    w.add_floats(extra, {1}, std::span<const float>(&one, 1));
  }
  return w.to_bytes();
}

}  // namespace

TEST_CASE("a model's shape, parameter count and workspace are compile-time constants") {
  STATIC_REQUIRE(small_model::output_shape == std::array<tfm::extent_t, 3>{tfm::dynamic, 7, 36});
  constexpr tfm::extent_t per_layer =
      (4 * 36 * 36 + 4 * 36) + 2 * 36 + (2 * 36 * 52 + 52 + 36) + 2 * 36;
  STATIC_REQUIRE(small_model::parameter_count == 2 * per_layer + 2 * 36);
  STATIC_REQUIRE(small_model::workspace_bytes > 0);
  STATIC_REQUIRE(small_model::workspace_bytes == small_model::workspace_bytes_for(4, 7, 1));
  STATIC_REQUIRE(small_model::workspace_bytes_for(1, 7) < small_model::workspace_bytes);

  // The example from DESIGN.md: 6 post-norm layers, d_model 512, 8 heads, FFN 2048.
  using big_layer =
      tfm::sequential<tfm::residual<tfm::multi_head_attention<"self_attn", heads<8>>,
                                    tfm::post_norm<tfm::layer_norm<"norm1">>>,
                      tfm::residual<tfm::feed_forward<"ff", 2048, tfm::activations::relu>,
                                    tfm::post_norm<tfm::layer_norm<"norm2">>>>;
  using encoder = tfm::model<tfm::input<batch<tfm::dynamic>, seq<128>, d_model<512>>,
                             tfm::repeat<"layers", 6, big_layer>>;
  STATIC_REQUIRE(encoder::parameter_count == 18'914'304);
  // docs/model.md and README: the named layer, and PyTorch's final norm.
  using documented = tfm::model<
      tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<512>, max_batch<8>, max_seq<256>>,
      tfm::repeat<"layers", 6, tfm::transformer_encoder_layer<heads<8>, dim_feedforward<2048>>>,
      tfm::layer_norm<"norm">>;
  STATIC_REQUIRE(documented::parameter_count == 18'915'328);
  STATIC_REQUIRE(documented::output_shape[2] == 512);
}

TEST_CASE("parameter names follow PyTorch's modules and Keras's scopes") {
  const auto torch = small_model::expected_weights(tfm::naming::pytorch);
  std::vector<std::string> names;
  for (const auto& w : torch) names.push_back(w.name);
  const std::vector<std::string> first_layer = {"layers.0.self_attn.in_proj_weight",
                                                "layers.0.self_attn.in_proj_bias",
                                                "layers.0.self_attn.out_proj.weight",
                                                "layers.0.self_attn.out_proj.bias",
                                                "layers.0.norm1.weight",
                                                "layers.0.norm1.bias",
                                                "layers.0.norm2.weight",
                                                "layers.0.norm2.bias",
                                                "layers.0.linear1.weight",
                                                "layers.0.linear1.bias",
                                                "layers.0.linear2.weight",
                                                "layers.0.linear2.bias"};
  REQUIRE(std::vector<std::string>(names.begin(), names.begin() + 12) == first_layer);
  REQUIRE(names.size() == 2 * 12 + 2);
  REQUIRE(names[12] == "layers.1.self_attn.in_proj_weight");
  REQUIRE(names.back() == "norm.bias");

  const auto keras = small_model::expected_weights(tfm::naming::keras);
  REQUIRE(keras.front().name == "layers_0/self_attn/query/kernel");
  REQUIRE(keras.front().shape == std::vector<std::int64_t>{36, 4, 9});
  REQUIRE(keras[8].name == "layers_0/norm1/gamma");
  REQUIRE(keras[12].name == "layers_0/ff/dense/kernel");
  REQUIRE(keras.back().name == "norm/beta");
}

TEST_CASE("load_weights<Model> is strict and names the tensor") {
  using Catch::Matchers::Contains;
  const auto good = synthetic_weights<small_model>(tfm::naming::pytorch);
  REQUIRE_NOTHROW(tfm::load_weights<small_model>(
      tfm::io::safetensors_file::from_bytes(good, "good.safetensors"), tfm::naming::pytorch));

  const auto missing = synthetic_weights<small_model>(tfm::naming::pytorch, "layers.1.norm2.bias");
  REQUIRE_THROWS_WITH(
      tfm::load_weights<small_model>(
          tfm::io::safetensors_file::from_bytes(missing, "m.safetensors"), tfm::naming::pytorch),
      "model (pytorch names) in m.safetensors: missing tensor \"layers.1.norm2.bias\", expected "
      "shape [36]");
  const auto extra =
      synthetic_weights<small_model>(tfm::naming::pytorch, "", "layers.2.norm1.weight");
  REQUIRE_THROWS_AS(
      tfm::load_weights<small_model>(tfm::io::safetensors_file::from_bytes(extra, "x.safetensors"),
                                     tfm::naming::pytorch),
      tfm::weight_error);
  REQUIRE_THROWS_WITH(
      tfm::load_weights<small_model>(tfm::io::safetensors_file::from_bytes(extra, "x.safetensors"),
                                     tfm::naming::pytorch),
      Contains("unexpected tensor \"layers.2.norm1.weight\" with shape [1]"));
  // One layer out of a whole model's file: the other layers' tensors are left alone only when
  // the file is declared to hold them, and a stray tensor under the layer's prefix still fails.
  using final_norm = tfm::layer_norm<"norm", d_model<36>>;
  const auto whole = tfm::io::safetensors_file::from_bytes(good, "whole.safetensors");
  REQUIRE_THROWS_WITH(
      tfm::load_weights<final_norm>(whole, tfm::naming::pytorch, {.prefix = "norm."}),
      Contains("unexpected tensor \"layers.0."));
  const auto norm = tfm::load_weights<final_norm>(
      whole, tfm::naming::pytorch, {.prefix = "norm.", .file_holds_other_layers = true});
  REQUIRE(norm.gamma.size() == 36);
  const auto stray = synthetic_weights<small_model>(tfm::naming::pytorch, "", "norm.scale");
  REQUIRE_THROWS_WITH(
      tfm::load_weights<final_norm>(tfm::io::safetensors_file::from_bytes(stray, "s.safetensors"),
                                    tfm::naming::pytorch,
                                    {.prefix = "norm.", .file_holds_other_layers = true}),
      Contains("unexpected tensor \"norm.scale\""));
  // PyTorch's add_bias_kv leaves bias_k / bias_v in the state_dict: rejected by name.
  const auto bias_kv =
      synthetic_weights<small_model>(tfm::naming::pytorch, "", "layers.0.self_attn.bias_k");
  REQUIRE_THROWS_WITH(
      tfm::load_weights<small_model>(
          tfm::io::safetensors_file::from_bytes(bias_kv, "kv.safetensors"), tfm::naming::pytorch),
      Contains("tensor \"layers.0.self_attn.bias_k\" comes from "
               "nn.MultiheadAttention(add_bias_kv=True), which typeformer does not support"));
  // Keras names are a different file: loading PyTorch names as Keras ones fails on the first.
  REQUIRE_THROWS_WITH(
      tfm::load_weights<small_model>(
          tfm::io::safetensors_file::from_bytes(good, "good.safetensors"), tfm::naming::keras),
      Contains("missing tensor \"layers_0/self_attn/query/kernel\""));
}

TEST_CASE("a runner checks every run-time extent against the model and its maxima") {
  using Catch::Matchers::Contains;
  const auto bytes = synthetic_weights<small_model>(tfm::naming::pytorch);
  const auto weights = tfm::load_weights<small_model>(tfm::io::safetensors_file::from_bytes(bytes),
                                                      tfm::naming::pytorch);
  tfm::runner<small_model> run(weights);
  REQUIRE(run.max_batch() == 4);
  REQUIRE(run.max_seq() == 7);
  std::vector<float> x(5 * 7 * 36, 0.5f), y(x.size());
  using view_in = tfm::tensor_view<const float, tfm::dynamic, tfm::dynamic, 36>;
  using view_out = tfm::tensor_view<float, tfm::dynamic, tfm::dynamic, 36>;
  REQUIRE_THROWS_WITH(run(view_in(x.data(), {5, 7, 36}), view_out(y.data(), {5, 7, 36})),
                      "model \"input\": batch size (5) exceeds the declared maximum (4)");
  REQUIRE_THROWS_WITH(run(view_in(x.data(), {2, 6, 36}), view_out(y.data(), {2, 6, 36})),
                      "model \"input\": sequence length (6) does not match the declared seq (7)");
  REQUIRE_THROWS_WITH(run(view_in(x.data(), {2, 7, 36}), view_out(y.data(), {1, 7, 36})),
                      "model \"output\": output extent (1) does not match the layer's output (2)");
  REQUIRE_THROWS_WITH(run(view_in(x.data(), {2, 7, 36}), view_out(x.data(), {2, 7, 36})),
                      "model: the output must not overlap the input");
  const std::vector<tfm::extent_t> lengths = {7, 8};
  REQUIRE_THROWS_WITH(run(view_in(x.data(), {2, 7, 36}), view_out(y.data(), {2, 7, 36}),
                          tfm::masks::key_lengths{lengths}),
                      Contains("key length (8) is outside [0, 7]"));
  // A batch of 0 is an empty output, not an error.
  REQUIRE_NOTHROW(run(view_in(x.data(), {0, 7, 36}), view_out(y.data(), {0, 7, 36})));
  // The value-returning form allocates its result.
  const auto result = run(view_in(x.data(), {2, 7, 36}));
  REQUIRE(result.shape()[0] == 2);
  REQUIRE(result.shape()[2] == 36);
  // A model whose batch is dynamic without a declared maximum needs one at construction.
  using unbounded =
      tfm::model<tfm::input<batch<tfm::dynamic>, seq<7>, d_model<36>>, tfm::layer_norm<"norm">>;
  const auto norm_bytes = synthetic_weights<unbounded>(tfm::naming::pytorch);
  const auto norm_weights = tfm::load_weights<unbounded>(
      tfm::io::safetensors_file::from_bytes(norm_bytes), tfm::naming::pytorch);
  REQUIRE_THROWS_WITH(tfm::runner<unbounded>(norm_weights),
                      Contains("batch is dynamic with no maximum: declare max_batch<N>"));
  REQUIRE_NOTHROW(tfm::runner<unbounded>(norm_weights, {.threads = 1, .max_batch = 2}));
}

TEST_CASE("summary prints a Keras-style table and to_dot a Graphviz graph") {
  using model = tfm::model<tfm::input<batch<tfm::dynamic>, seq<7>, d_model<36>>,
                           tfm::repeat<"layers", 2, encoder_layer>, tfm::layer_norm<"norm">>;
  const std::string expected =
      "__________________________________________________________________\n"
      " Layer (type)                               Output Shape   Param #\n"
      "==================================================================\n"
      " input (input)                              (None, 7, 36)        0\n"
      " layers.0.self_attn (multi_head_attention)  (None, 7, 36)    5,328\n"
      " layers.0.norm1 (layer_norm)                (None, 7, 36)       72\n"
      " layers.0.norm2 (layer_norm)                (None, 7, 36)       72\n"
      " layers.0.ff (feed_forward)                 (None, 7, 36)    3,832\n"
      " layers.1.self_attn (multi_head_attention)  (None, 7, 36)    5,328\n"
      " layers.1.norm1 (layer_norm)                (None, 7, 36)       72\n"
      " layers.1.norm2 (layer_norm)                (None, 7, 36)       72\n"
      " layers.1.ff (feed_forward)                 (None, 7, 36)    3,832\n"
      " norm (layer_norm)                          (None, 7, 36)       72\n"
      "==================================================================\n"
      "Total params: 18,680\n"
      "__________________________________________________________________\n";
  REQUIRE(tfm::summary<model>() == expected);

  using one_block = tfm::model<tfm::input<batch<2>, seq<tfm::dynamic>, d_model<36>>,
                               tfm::residual<tfm::feed_forward<"ff", 52, tfm::activations::gelu>,
                                             tfm::pre_norm<tfm::layer_norm<"norm">>>>;
  const std::string dot =
      "digraph model {\n"
      "  rankdir=TB;\n"
      "  node [shape=box, fontname=\"monospace\"];\n"
      "  n0 [label=\"input\\n(2, None, 36)\", shape=oval];\n"
      "  n1 [label=\"norm\\nlayer_norm\\n(2, None, 36)\"];\n"
      "  n2 [label=\"ff\\nfeed_forward\\n(2, None, 36)\"];\n"
      "  n3 [label=\"+\", shape=circle];\n"
      "  n0 -> n1;\n"
      "  n1 -> n2;\n"
      "  n0 -> n3;\n"
      "  n2 -> n3;\n"
      "}\n";
  REQUIRE(tfm::to_dot<one_block>() == dot);
}

TEST_CASE("scope puts its parts' weights under a name, like a PyTorch submodule or Keras layer") {
  using m = tfm::model<
      tfm::input<batch<2>, seq<3>, d_model<8>>,
      tfm::scope<
          "transformer.encoder",
          tfm::repeat<"layers", 2, tfm::transformer_encoder_layer<heads<2>, dim_feedforward<16>>>,
          tfm::layer_norm<"norm">>,
      tfm::dense<"generator", 5>>;
  const auto torch = m::expected_weights(tfm::naming::pytorch);
  REQUIRE(torch.front().name == "transformer.encoder.layers.0.self_attn.in_proj_weight");
  REQUIRE(torch[torch.size() - 3].name == "transformer.encoder.norm.bias");
  REQUIRE(torch.back().name == "generator.bias");
  const auto keras = m::expected_weights(tfm::naming::keras);
  REQUIRE(keras.front().name == "transformer.encoder/layers_0/self_attn/query/kernel");
  REQUIRE(keras[keras.size() - 2].name == "generator/kernel");
  CHECK_THAT(tfm::summary<m>(), Catch::Contains("transformer.encoder.norm (layer_norm)"));
}

TEST_CASE(
    "1 and 2 threads give bit-identical outputs: GEMM splits keep each sum's order, "
    "attention tasks are whole query blocks") {
  // 2 × 70 rows: GEMM row blocks split across threads; 70 queries: three query blocks per head,
  // causal, so the tasks are uneven. One row: the GEMMs split by output panels instead.
  using layer = tfm::multi_head_attention<"self_attn", heads<4>, d_model<64>>;
  const auto params = synthetic_parameters<layer>(
      [](std::size_t i, std::size_t t) { return float((i * 37 + t) % 101) / 101.0f - 0.5f; });
  for (tfm::extent_t length : {70, 1}) {
    std::vector<float> x(2 * static_cast<std::size_t>(length) * 64);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = float((i * 53) % 97) / 97.0f - 0.5f;
    std::vector<float> y1(x.size()), y2(x.size());
    tfm::tensor_view<const float, tfm::dynamic, tfm::dynamic, 64> in(x.data(), {2, length, 64});
    tfm::tensor_view<float, tfm::dynamic, tfm::dynamic, 64> out1(y1.data(), {2, length, 64}),
        out2(y2.data(), {2, length, 64});
    tfm::workspace one(1), two(2);
    layer::forward(params, in, in, in, out1, one, tfm::masks::causal{});
    layer::forward(params, in, in, in, out2, two, tfm::masks::causal{});
    INFO("length " << length);
    REQUIRE(y1 == y2);
  }
  // One query row of one sequence against 1100 keys: 4 (batch, head) pairs, so the keys are
  // split into ranges (kernels::attention_key_splits) and merged; still the same bits.
  std::vector<float> q(64), kv(1100 * 64), y1(64), y2(64);
  for (std::size_t i = 0; i < kv.size(); ++i) kv[i] = float((i * 29) % 89) / 89.0f - 0.5f;
  for (std::size_t i = 0; i < q.size(); ++i) q[i] = float((i * 31) % 83) / 83.0f - 0.5f;
  tfm::tensor_view<const float, 1, 1, 64> query(q.data(), {1, 1, 64});
  tfm::tensor_view<const float, 1, tfm::dynamic, 64> keys(kv.data(), {1, 1100, 64});
  tfm::tensor_view<float, 1, 1, 64> out1(y1.data(), {1, 1, 64}), out2(y2.data(), {1, 1, 64});
  tfm::workspace one(1), two(2);
  layer::forward(params, query, keys, keys, out1, one);
  layer::forward(params, query, keys, keys, out2, two);
  REQUIRE(y1 == y2);
}

TEST_CASE("random_parameters gives Glorot-bounded kernels, unit norm scales, zero biases") {
  using conv_model = tfm::model<tfm::input<batch<2>, seq<9>, d_model<6>>,
                                tfm::conv1d<"conv", 10, 3>, tfm::dense<"out", 4>>;
  for (const auto naming : {0, 1}) {
    INFO("naming " << (naming ? "keras" : "pytorch"));
    const auto check = [&](auto n) {
      const auto params = tfm::random_parameters<small_model>(7, n);
      // The values the model was built from, written to a file: each tensor has the right bound
      // or constant, and the file loads to the same outputs.
      tfm::io::safetensors_writer w;
      for (const auto& spec : small_model::expected_weights(n)) {
        const std::vector<float> values = tfm::detail::random_tensor(spec, 7);
        if (spec.shape.size() >= 2) {
          // The two largest axes summed, times the others (Keras names MHA kernels (d, heads, dk)).
          std::vector<std::int64_t> axes = spec.shape;
          std::sort(axes.rbegin(), axes.rend());
          double fans = double(axes[0] + axes[1]);
          for (std::size_t i = 2; i < axes.size(); ++i) fans *= double(axes[i]);
          const double bound = std::sqrt(6.0 / fans);
          float lo = 0, hi = 0;
          for (float v : values) lo = std::min(lo, v), hi = std::max(hi, v);
          CHECK(hi <= bound);
          CHECK(lo >= -bound);
          CHECK(hi > 0.8 * bound);  // spread over the range, not collapsed
          CHECK(lo < -0.8 * bound);
        } else {
          const bool scale = spec.name.ends_with("weight") || spec.name.ends_with("gamma");
          for (float v : values) REQUIRE(v == (scale ? 1.0f : 0.0f));
        }
        w.add_floats(spec.name, spec.shape, values);
      }
      const auto loaded = tfm::load_weights<small_model>(
          tfm::io::safetensors_file::from_bytes(w.to_bytes(), "random.safetensors"), n);
      xt::xtensor<float, 3> x = xt::zeros<float>({2, 7, 36});
      for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = float(std::sin(0.3 * double(i)));
      tfm::runner<small_model> a(params), b(loaded);
      const auto ya = a(x), yb = b(x);
      REQUIRE(std::equal(ya.begin(), ya.end(), yb.begin()));
    };
    if (naming)
      check(tfm::naming::keras);
    else
      check(tfm::naming::pytorch);
  }
  // Deterministic per seed, different across seeds; a convolution's kernel bound counts its
  // receptive field (PyTorch (out, in, k) = (10, 6, 3): sqrt(6 / ((10 + 6) × 3))).
  const tfm::weight_spec kernel{"conv.weight", {10, 6, 3}};
  const auto k1 = tfm::detail::random_tensor(kernel, 1),
             k1again = tfm::detail::random_tensor(kernel, 1);
  const auto k2 = tfm::detail::random_tensor(kernel, 2);
  CHECK(k1 == k1again);
  CHECK(k1 != k2);
  const double bound = std::sqrt(6.0 / 48.0);
  CHECK(std::all_of(k1.begin(), k1.end(), [&](float v) { return std::fabs(v) <= bound; }));
  const auto conv = tfm::random_parameters<conv_model>(3);
  tfm::runner<conv_model> run(conv);
  const auto y = run(xt::xtensor<float, 3>(xt::ones<float>({2, 9, 6})));
  CHECK(std::all_of(y.begin(), y.end(), [](float v) { return std::isfinite(v); }));
}

TEST_CASE("a lone layer's weights: under its name with Keras names, under none with PyTorch's") {
  using dense = tfm::dense<"dense", 4, tfm::activations::linear, d_model<3>>;
  using mha = tfm::multi_head_attention<"mha", heads<2>, d_model<4>>;
  using keras_multi_head =
      tfm::multi_head_attention<"self", heads<2>, d_model<4>, tfm::keras_multi_head_weights>;
  using norm = tfm::layer_norm<"norm", d_model<4>>;
  CHECK(dense::expected_weights(tfm::naming::keras).front().name == "dense/kernel");
  CHECK(dense::expected_weights(tfm::naming::pytorch).front().name == "weight");
  CHECK(mha::expected_weights(tfm::naming::keras).front().name == "mha/query/kernel");
  CHECK(mha::expected_weights(tfm::naming::pytorch).front().name == "in_proj_weight");
  CHECK(keras_multi_head::expected_weights(tfm::naming::keras).front().name == "self/self_Wq");
  CHECK(norm::expected_weights(tfm::naming::keras).front().name == "norm/gamma");
  // In a model, under the path, both ways.
  using m = tfm::model<tfm::input<batch<1>, seq<2>, d_model<3>>, dense>;
  CHECK(m::expected_weights(tfm::naming::keras).front().name == "dense/kernel");
  CHECK(m::expected_weights(tfm::naming::pytorch).front().name == "dense.weight");
  // load_weights, the manifest and random_parameters follow the same rule; an explicit prefix
  // (here none) reads a file that stores the lone layer's weights otherwise.
  tfm::io::safetensors_writer w;
  w.add_floats("dense/kernel", {3, 4}, std::vector<float>(12, 0.5f));
  w.add_floats("dense/bias", {4}, std::vector<float>(4, 0.0f));
  const auto named = tfm::io::safetensors_file::from_bytes(w.to_bytes(), "named.safetensors");
  CHECK_NOTHROW(tfm::load_weights<dense>(named, tfm::naming::keras));
  CHECK(tfm::manifest<dense>(tfm::naming::keras).tensors.front().name == "dense/kernel");
  tfm::io::safetensors_writer bare;
  bare.add_floats("kernel", {3, 4}, std::vector<float>(12, 0.5f));
  bare.add_floats("bias", {4}, std::vector<float>(4, 0.0f));
  const auto bare_file = tfm::io::safetensors_file::from_bytes(bare.to_bytes(), "bare.safetensors");
  CHECK_THROWS_WITH(tfm::load_weights<dense>(bare_file, tfm::naming::keras),
                    Catch::Contains("missing tensor \"dense/kernel\""));
  CHECK_NOTHROW(tfm::load_weights<dense>(bare_file, tfm::naming::keras, {.prefix = ""}));
  // A Keras-named file read with PyTorch names says which names it holds.
  CHECK_THROWS_WITH(tfm::load_weights<dense>(named, tfm::naming::pytorch),
                    Catch::Contains("missing tensor \"weight\"") &&
                        Catch::Contains("the file's 2 tensors are named as Keras names them, e.g. "
                                        "\"dense/kernel\": load it with naming::keras)"));
}

TEST_CASE("a run-time error inside a scope or a repeat names the layer by its path and copy") {
  using scoped_model =
      tfm::model<tfm::input<batch<tfm::dynamic>, seq<7>, d_model<36>, max_batch<4>>,
                 tfm::scope<"encoder", tfm::repeat<"layers", 2, encoder_layer>>,
                 tfm::layer_norm<"norm">>;
  // The second copy's feed-forward bias holds an infinity: check mode names that copy.
  tfm::io::safetensors_writer w;
  for (const auto& spec : scoped_model::expected_weights(tfm::naming::pytorch)) {
    std::size_t n = 1;
    for (auto e : spec.shape) n *= static_cast<std::size_t>(e);
    std::vector<float> values(n, 0.01f);
    if (spec.name == "encoder.layers.1.linear2.bias")
      values[5] = std::numeric_limits<float>::infinity();
    w.add_floats(spec.name, spec.shape, values);
  }
  const auto weights = tfm::load_weights<scoped_model>(
      tfm::io::safetensors_file::from_bytes(w.to_bytes()), tfm::naming::pytorch);
  std::vector<float> x(2 * 7 * 36, 0.5f), y(x.size());
  using view_in = tfm::tensor_view<const float, tfm::dynamic, 7, 36>;
  using view_out = tfm::tensor_view<float, tfm::dynamic, 7, 36>;
  tfm::runner<scoped_model> checked(weights, {.check_finite = true});
  REQUIRE_THROWS_AS(checked(view_in(x.data(), {2, 7, 36}), view_out(y.data(), {2, 7, 36})),
                    tfm::numeric_error);
  REQUIRE_THROWS_WITH(checked(view_in(x.data(), {2, 7, 36}), view_out(y.data(), {2, 7, 36})),
                      "feed_forward \"encoder.layers.1.ff\": its output holds inf at batch 0, "
                      "position 0, feature 5 (runner_options::check_finite)");
  // A mask the call passes down fails in the first copy's attention, named by its path.
  const std::vector<tfm::extent_t> lengths = {7, 8};
  tfm::runner<scoped_model> run(weights);
  REQUIRE_THROWS_AS(run(view_in(x.data(), {2, 7, 36}), view_out(y.data(), {2, 7, 36}),
                        tfm::masks::key_lengths{lengths}),
                    tfm::shape_error);
  REQUIRE_THROWS_WITH(run(view_in(x.data(), {2, 7, 36}), view_out(y.data(), {2, 7, 36}),
                          tfm::masks::key_lengths{lengths}),
                      "multi_head_attention \"encoder.layers.0.self_attn\": key length (8) is "
                      "outside [0, 7]");
  // Messages that name no layer pass through unchanged.
  CHECK(tfm::detail::with_path_prefix("model: the output must not overlap the input", "a.") ==
        "model: the output must not overlap the input");
  CHECK(tfm::detail::with_path_prefix("tensor_view: extent 2 is \"x\"", "a.") ==
        "tensor_view: extent 2 is \"x\"");
}
