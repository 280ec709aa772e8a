// multi_head_attention against goldens produced by PyTorch 1.13 (nn.MultiheadAttention,
// float64) and TensorFlow.js 4.22's port of Keras MultiHeadAttention (float32), written by
// tools/make_mha_goldens_pytorch.py and tools/keras_goldens/. Each file states its shapes,
// tolerance and provenance in its metadata; the layer types below restate the shapes, so a
// mismatch between a declaration and a file is a weight_error, not a silent pass. Each case
// runs on this build's instruction set and on the scalar path.

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <typeformer/typeformer.hpp>

#include "golden_files.hpp"

namespace tfm = typeformer;
using namespace tfm::dims;

namespace {

const std::string data_dir = std::string(TYPEFORMER_TEST_DATA) + "/mha/";

struct golden : golden_data::golden_file {
  explicit golden(const std::string& name) : golden_file(data_dir + name + ".safetensors") {}

  xt::xtensor<float, 3> tensor3(const std::string& name) const {
    return golden_data::floats3(file, name);
  }
  std::vector<std::uint8_t> bytes(const std::string& name) const {
    const auto values = file.read_integers(name);
    return {values.begin(), values.end()};
  }
  std::vector<tfm::extent_t> lengths(const std::string& name) const {
    const auto values = file.read_integers(name);
    return {values.begin(), values.end()};
  }
};

// |ours - reference| <= atol + rtol·|reference|, NaN exactly where the reference has NaN.
void require_close(const float* ours, const std::vector<float>& reference, double atol,
                   double rtol) {
  std::size_t worst = 0;
  double worst_excess = -1;
  for (std::size_t i = 0; i < reference.size(); ++i) {
    if (std::isnan(reference[i])) {
      INFO("element " << i << ": the reference is NaN");
      REQUIRE(std::isnan(ours[i]));
      continue;
    }
    const double excess =
        std::fabs(double(ours[i]) - reference[i]) - (atol + rtol * std::fabs(double(reference[i])));
    if (excess > worst_excess) worst_excess = excess, worst = i;
  }
  INFO("worst element " << worst << ": ours " << ours[worst] << ", reference " << reference[worst]
                        << ", atol " << atol << ", rtol " << rtol);
  REQUIRE(worst_excess <= 0.0);
}

template <class Layer, class Arch, class Naming, class Mask>
void run_case(const golden& g, const typename Layer::parameters& params, Naming, const Mask& mask,
              const char* weights_name, std::size_t threads) {
  const auto q = g.tensor3("golden.query");
  const auto k = g.tensor3("golden.key");
  const auto v = g.tensor3("golden.value");
  xt::xtensor<float, 3> y =
      xt::zeros<float>({q.shape()[0], q.shape()[1], std::size_t(Layer::output_features)});
  tfm::workspace ws(threads);
  if (weights_name && g.file.contains(weights_name)) {
    const auto reference_weights = g.file.read_floats(weights_name);
    xt::xtensor<float, 4> w =
        xt::zeros<float>({q.shape()[0], std::size_t(Layer::heads), q.shape()[1], k.shape()[1]});
    Layer::template forward<Arch>(params, q, k, v, y, ws, mask, tfm::attention_weights_per_head{w});
    require_close(w.data(), reference_weights, g.atol, g.rtol);
  } else {
    Layer::template forward<Arch>(params, q, k, v, y, ws, mask);
  }
  require_close(y.data(), g.file.read_floats("golden.output"), g.atol, g.rtol);
}

template <class Layer, class Naming, class MakeMask>
void check(const std::string& name, Naming naming, MakeMask make_mask) {
  const golden g(name);
  const auto params =
      tfm::load_weights<Layer>(g.file, naming, {.prefix = "", .ignore_prefixes = {"golden."}});
  const char* weights_name = std::is_same_v<Naming, tfm::naming::pytorch_t>
                                 ? "golden.attention_weights"
                                 : "golden.attention_scores";
  const auto mask_storage = make_mask(g);
  {
    INFO(name << " on " << tfm::simd::best_arch::name() << ", 2 threads");
    run_case<Layer, tfm::simd::best_available>(g, params, naming, mask_storage.mask(), weights_name,
                                               2);
  }
  {
    INFO(name << " on the scalar path, 1 thread");
    run_case<Layer, tfm::simd::scalar>(g, params, naming, mask_storage.mask(), weights_name, 1);
  }
}

// Masks are views: their storage lives beside them for the duration of a case.
struct no_mask {
  tfm::masks::none mask() const { return {}; }
};
template <class M>
struct fixed_mask {
  M m;
  M mask() const { return m; }
};
struct lengths_mask {
  std::vector<tfm::extent_t> lengths;
  tfm::masks::key_lengths mask() const { return {lengths}; }
};
struct pytorch_padding_mask {
  std::vector<std::uint8_t> bytes;
  tfm::extent_t batch, keys;
  tfm::masks::pytorch_key_padding<> mask() const { return {{bytes.data(), {batch, keys}}}; }
};
struct additive_mask {
  std::vector<float> bias;
  tfm::extent_t rows, cols;
  tfm::masks::additive<> mask() const { return {{bias.data(), {rows, cols}}}; }
};
template <bool Causal>
struct keep_mask {
  std::vector<std::uint8_t> bytes;
  tfm::extent_t b, lq, lk;
  auto mask() const {
    tfm::masks::keep<> keep{{bytes.data(), {b, lq, lk}}};
    if constexpr (Causal)
      return tfm::masks::all(tfm::masks::causal{}, keep);
    else
      return keep;
  }
};

auto none = [](const golden&) { return no_mask{}; };
template <class M>
auto typed(M m) {
  return [m](const golden&) { return fixed_mask<M>{m}; };
}

}  // namespace

TEST_CASE("PyTorch nn.MultiheadAttention goldens") {
  using tfm::naming::pytorch;
  using mha30x3 = tfm::multi_head_attention<"mha", heads<3>, d_model<30>>;
  using mha30x6 = tfm::multi_head_attention<"mha", heads<6>, d_model<30>>;
  using mha36x6 = tfm::multi_head_attention<"mha", heads<6>, d_model<36>>;
  using mha36x3 = tfm::multi_head_attention<"mha", heads<3>, d_model<36>>;
  check<mha30x3>("pytorch_no_mask", pytorch, none);
  check<mha36x6>("pytorch_cross_attention", pytorch, none);
  check<mha36x6>("pytorch_causal_top_left_square", pytorch, typed(tfm::masks::causal{}));
  check<mha30x6>("pytorch_causal_top_left_lq7_lk11", pytorch, typed(tfm::masks::causal{}));
  check<mha30x3>("pytorch_causal_top_left_lq11_lk7", pytorch, typed(tfm::masks::causal{}));
  check<mha30x6>("pytorch_causal_bottom_right_lq7_lk11", pytorch,
                 typed(tfm::masks::causal_bottom_right{}));
  // The same causal cases through the float mask PyTorch was given (0 / -inf).
  auto stored_float_mask = [](const golden& g) {
    const auto* info = g.file.find("golden.attn_mask");
    return additive_mask{g.file.read_floats("golden.attn_mask"), info->shape[0], info->shape[1]};
  };
  check<mha30x6>("pytorch_causal_bottom_right_lq7_lk11", pytorch, stored_float_mask);
  check<mha30x3>("pytorch_additive_bias", pytorch, stored_float_mask);
  check<mha36x3>("pytorch_key_padding", pytorch,
                 [](const golden& g) { return lengths_mask{g.lengths("golden.key_lengths")}; });
  check<mha36x3>("pytorch_key_padding", pytorch, [](const golden& g) {
    const auto* info = g.file.find("golden.key_padding_mask");
    return pytorch_padding_mask{g.bytes("golden.key_padding_mask"), info->shape[0], info->shape[1]};
  });
  check<tfm::multi_head_attention<"mha", heads<3>, d_model<30>, key_features<17>,
                                  value_features<23>>>("pytorch_kdim_vdim", pytorch, none);
  check<tfm::multi_head_attention<"mha", heads<6>, d_model<30>, tfm::use_bias<false>>>(
      "pytorch_no_bias", pytorch, none);
  // PyTorch 1.13 gives NaN for a query row that sees no key; declared, we do the same.
  check<tfm::multi_head_attention<"mha", heads<3>, d_model<30>,
                                  tfm::on_fully_masked_rows<tfm::fully_masked_rows::nan>>>(
      "pytorch_fully_masked_row", pytorch,
      [](const golden& g) { return lengths_mask{g.lengths("golden.key_lengths")}; });
}

TEST_CASE("PyTorch fully masked row: typeformer's default gives zeros, not NaN") {
  using layer = tfm::multi_head_attention<"mha", heads<3>, d_model<30>>;
  const golden g("pytorch_fully_masked_row");
  const auto params = tfm::load_weights<layer>(g.file, tfm::naming::pytorch,
                                               {.prefix = "", .ignore_prefixes = {"golden."}});
  const auto q = g.tensor3("golden.query"), k = g.tensor3("golden.key"),
             v = g.tensor3("golden.value");
  xt::xtensor<float, 3> y = xt::zeros<float>(q.shape());
  tfm::workspace ws;
  const auto lengths = g.lengths("golden.key_lengths");
  REQUIRE(lengths[1] == 0);
  layer::forward(params, q, k, v, y, ws, tfm::masks::key_lengths{lengths});
  // Batch entry 1 sees no key: its context is zero, so its output is the output bias.
  const auto out_bias = g.file.read_floats("out_proj.bias");
  for (std::size_t i = 0; i < q.shape()[1]; ++i)
    for (std::size_t c = 0; c < 30; ++c) REQUIRE(y(1, i, c) == out_bias[c]);
  // The other entries still match PyTorch.
  const auto reference = g.file.read_floats("golden.output");
  for (std::size_t b : {0u, 2u})
    for (std::size_t i = 0; i < q.shape()[1]; ++i)
      for (std::size_t c = 0; c < 30; ++c) {
        const double r = reference[(b * q.shape()[1] + i) * 30 + c];
        REQUIRE(std::fabs(y(b, i, c) - r) <= g.atol + g.rtol * std::fabs(r));
      }
}

TEST_CASE("Keras MultiHeadAttention goldens (TensorFlow.js 4.22)") {
  using tfm::naming::keras;
  auto keep = [](const golden& g) {
    const auto* info = g.file.find("golden.keep_mask");
    return keep_mask<false>{g.bytes("golden.keep_mask"), info->shape[0], info->shape[1],
                            info->shape[2]};
  };
  auto causal_and_keep = [](const golden& g) {
    const auto* info = g.file.find("golden.keep_mask");
    return keep_mask<true>{g.bytes("golden.keep_mask"), info->shape[0], info->shape[1],
                           info->shape[2]};
  };
  check<tfm::multi_head_attention<"mha", heads<3>, d_model<30>, key_dim_per_head<7>,
                                  value_dim_per_head<5>, output_features<13>>>(
      "keras_projection_dims", keras, none);
  check<tfm::multi_head_attention<"mha", heads<6>, d_model<36>, key_dim_per_head<9>,
                                  tfm::use_bias<false>>>("keras_no_bias", keras, none);
  check<tfm::multi_head_attention<"mha", heads<3>, d_model<30>, key_dim_per_head<8>,
                                  value_dim_per_head<6>, key_features<17>, value_features<30>>>(
      "keras_cross_keep_mask", keras, keep);
  check<tfm::multi_head_attention<"mha", heads<3>, d_model<30>, key_dim_per_head<10>>>(
      "keras_causal_self", keras, typed(tfm::masks::causal{}));
  // 1024-float rows of queries and attention output: the padded row stride (gemm_input_stride).
  check<tfm::multi_head_attention<"mha", heads<2>, d_model<8>, key_dim_per_head<512>>>(
      "keras_wide_heads", keras, none);
  check<tfm::multi_head_attention<"mha", heads<6>, d_model<30>, key_dim_per_head<5>,
                                  value_dim_per_head<7>>>("keras_causal_lq7_lk11", keras,
                                                          causal_and_keep);
  // TensorFlow.js (like tf.keras 2 and Keras 3.0-3.9) adds -1e9 to masked scores: a row with
  // every key masked becomes the average of the values. Declared, we reproduce it.
  check<tfm::multi_head_attention<
      "mha", heads<3>, d_model<30>, key_dim_per_head<6>,
      tfm::on_fully_masked_rows<tfm::fully_masked_rows::minus_1e9_added>>>("keras_fully_masked_row",
                                                                           keras, keep);
}

TEST_CASE("the key/value cache path matches Keras with 1024-float query and context rows") {
  using layer = tfm::multi_head_attention<"mha", heads<2>, d_model<8>, key_dim_per_head<512>>;
  const golden g("keras_wide_heads");
  const auto params = tfm::load_weights<layer>(g.file, tfm::naming::keras,
                                               {.prefix = "", .ignore_prefixes = {"golden."}});
  const auto x = g.tensor3("golden.query");
  const std::size_t batch = x.shape()[0], length = x.shape()[1], capacity = 8;
  std::vector<float> cache(layer::cache_floats(batch, capacity));
  xt::xtensor<float, 3> y = xt::zeros<float>(x.shape());
  for (std::size_t threads : {1, 2}) {
    INFO(threads << " threads");
    tfm::workspace ws(threads);
    layer::append_to_cache(params, x.data(), x.data(), batch, length, cache.data(), capacity, 0,
                           ws);
    layer::attend_to_cache(params, x.data(), batch, length, cache.data(), capacity, length,
                           y.data(), ws);
    require_close(y.data(), g.file.read_floats("golden.output"), g.atol, g.rtol);
  }
}

TEST_CASE("load_weights is strict and says which tensor is wrong") {
  using layer = tfm::multi_head_attention<"self_attn", heads<3>, d_model<30>>;
  const golden g("pytorch_no_mask");
  // Rebuild the file's weights with one change at a time.
  auto rebuild = [&](const std::string& skip, const std::string& reshape, bool as_integer,
                     bool add_extra) {
    tfm::io::safetensors_writer w;
    for (const auto& t : g.file.tensors()) {
      if (t.name.rfind("golden.", 0) == 0 || t.name == skip) continue;
      auto values = g.file.read_floats(t.name);
      auto shape = t.shape;
      if (t.name == reshape) {
        shape.back() -= 1;
        values.resize(values.size() / std::size_t(t.shape.back()) * std::size_t(shape.back()));
      }
      if (as_integer && t.name == "out_proj.bias") {
        std::vector<std::int64_t> ints(values.size(), 1);
        w.add_integers(t.name, shape, ints, tfm::io::dtype::i32);
      } else {
        w.add_floats(t.name, shape, values);
      }
    }
    if (add_extra) w.add_floats("bias_k", {1, 1, 30}, std::vector<float>(30, 0.0f));
    return tfm::io::safetensors_file::from_bytes(w.to_bytes(), "edited.safetensors");
  };
  auto message_of = [](const tfm::io::safetensors_file& f) {
    try {
      (void)tfm::load_weights<layer>(f, tfm::naming::pytorch);
    } catch (const tfm::weight_error& e) {
      return std::string(e.what());
    }
    return std::string("no weight_error");
  };
  const std::string where =
      "multi_head_attention \"self_attn\" (pytorch names) in edited.safetensors: ";
  REQUIRE(message_of(rebuild("", "", false, false)) == "no weight_error");
  REQUIRE(message_of(rebuild("in_proj_bias", "", false, false)) ==
          where + "missing tensor \"in_proj_bias\", expected shape [90]");
  REQUIRE(message_of(rebuild("", "out_proj.weight", false, false)) ==
          where + "tensor \"out_proj.weight\" has shape [30, 29], expected [30, 30]");
  REQUIRE(message_of(rebuild("", "", true, false)) ==
          where +
              "tensor \"out_proj.bias\" has dtype I32, expected a floating dtype (F32, F16, BF16, "
              "F64)");
  REQUIRE(message_of(rebuild("", "", false, true)) ==
          where +
              "tensor \"bias_k\" comes from nn.MultiheadAttention(add_bias_kv=True), which "
              "typeformer does not support (a learned key and value appended to every "
              "sequence); export the model with add_bias_kv=False");
  // Keras names are not PyTorch names: every expected tensor is missing (a lone Keras layer's
  // weights are under its name).
  using keras_layer = tfm::multi_head_attention<"mha", heads<3>, d_model<30>>;
  const auto pytorch_file = rebuild("", "", false, false);
  REQUIRE_THROWS_WITH(
      tfm::load_weights<keras_layer>(pytorch_file, tfm::naming::keras),
      Catch::Contains("missing tensor \"mha/query/kernel\", expected shape [30, 3, 10]") &&
          Catch::Contains("tensors are named as PyTorch names them") &&
          Catch::Contains(": load it with naming::pytorch)"));
}

TEST_CASE("attention weights averaged over heads are the mean of PyTorch's per-head weights") {
  using layer = tfm::multi_head_attention<"mha", heads<3>, d_model<36>>;
  const golden g("pytorch_key_padding");
  const auto params = tfm::load_weights<layer>(g.file, tfm::naming::pytorch,
                                               {.prefix = "", .ignore_prefixes = {"golden."}});
  const auto q = g.tensor3("golden.query"), k = g.tensor3("golden.key"),
             v = g.tensor3("golden.value");
  const std::size_t B = q.shape()[0], Lq = q.shape()[1], Lk = k.shape()[1];
  xt::xtensor<float, 3> y = xt::zeros<float>(q.shape());
  xt::xtensor<float, 3> averaged = xt::zeros<float>({B, Lq, Lk});
  tfm::workspace ws(2);
  const auto lengths = g.lengths("golden.key_lengths");
  layer::forward(params, q, k, v, y, ws, tfm::masks::key_lengths{lengths},
                 tfm::attention_weights_averaged{averaged});
  const auto per_head = g.file.read_floats("golden.attention_weights");
  std::vector<float> mean(B * Lq * Lk, 0.0f);
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t h = 0; h < 3; ++h)
      for (std::size_t e = 0; e < Lq * Lk; ++e)
        mean[b * Lq * Lk + e] += per_head[(b * 3 + h) * Lq * Lk + e] / 3.0f;
  require_close(averaged.data(), mean, g.atol, g.rtol);
  require_close(y.data(), g.file.read_floats("golden.output"), g.atol, g.rtol);
}
