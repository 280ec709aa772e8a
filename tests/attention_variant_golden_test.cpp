// multi_head_attention with its variant declared as options, against PyTorch modules
// (tools/make_variant_layer_goldens.py): ALiBi, T5's bucketed bias loaded by name, a sliding
// window whose size is bound at each call, grouped key/value heads with rotary embedding (LLaMA)
// and partial interleaved rotary embedding (GPT-J), also when decoding from the cache.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <typeformer/typeformer.hpp>

#include "golden_files.hpp"

namespace tfm = typeformer;
using namespace tfm::dims;

namespace {

const std::string data_dir = std::string(TYPEFORMER_TEST_DATA) + "/mha/";

namespace variants {
using namespace tfm::expr;
constexpr operand<"slopes", float, 12> slopes;
constexpr auto alibi = score + slopes[head_idx] * to_real(kv_idx - q_idx);
constexpr auto causal = kv_idx <= q_idx;

constexpr operand<"table", float, 32, 4> t5_table;
constexpr auto t5_bidirectional = score + t5_table(select(kv_idx - q_idx > 0, 16, 0) +
                                                       log_bucket(abs(kv_idx - q_idx), 8, 128, 16),
                                                   head_idx);

constexpr operand<"window", std::int32_t> window;
constexpr auto sliding_window = kv_idx <= q_idx && q_idx - kv_idx < window;
}  // namespace variants

using alibi_layer = tfm::multi_head_attention<
    "attn", heads<12>, d_model<48>, tfm::with_score_function<variants::alibi>,
    tfm::with_mask_function<variants::causal>, tfm::alibi_slopes<variants::slopes>>;

using t5_layer = tfm::multi_head_attention<
    "SelfAttention", heads<4>, d_model<32>, tfm::use_bias<false>,
    tfm::score_scale<tfm::score_scaling::none>, tfm::dense_projection_names<"q", "k", "v", "o">,
    tfm::with_score_function<variants::t5_bidirectional>,
    tfm::weight_operand<variants::t5_table, "relative_attention_bias.weight">>;

using window_layer = tfm::multi_head_attention<"attn", heads<4>, d_model<32>,
                                               tfm::with_mask_function<variants::sliding_window>>;

template <class Layer, class Arch = tfm::simd::best_available, class Mask = tfm::masks::none>
void check_self_attention(const tfm::io::safetensors_file& file,
                          const typename Layer::parameters& params, std::size_t threads,
                          const Mask& mask = {}) {
  INFO("threads " << threads);
  const auto x = golden_data::floats3(file, "golden.query");
  xt::xtensor<float, 3> y = xt::zeros<float>(x.shape());
  tfm::workspace ws(threads);
  Layer::template forward<Arch>(params, x, x, x, y, ws, mask);
  golden_data::require_close(file, y.data());
}

}  // namespace

TEST_CASE(
    "a layer with ALiBi and a causal mask function matches nn.MultiheadAttention with "
    "ALiBi's bias as its float mask") {
  const auto file = tfm::io::safetensors_file::open(data_dir + "variant_alibi_causal.safetensors");
  const auto params =
      tfm::load_weights<alibi_layer>(file, tfm::naming::pytorch, {.ignore_prefixes = {"golden."}});
  // The slopes the layer computes are the authors' get_slopes(12), rounded once.
  REQUIRE(params.function_operands[0] == file.read_floats("golden.slopes"));
  STATIC_REQUIRE(alibi_layer::parameter_count == 4 * 48 * 48 + 4 * 48);
  for (std::size_t threads : {1u, 2u}) check_self_attention<alibi_layer>(file, params, threads);
  check_self_attention<alibi_layer, tfm::simd::scalar>(file, params, 1);
}

TEST_CASE("a T5 self-attention layer loads its bucket table by name and matches T5Attention") {
  const auto names = t5_layer::expected_weights(tfm::naming::pytorch, "SelfAttention.");
  REQUIRE(names.back().name == "SelfAttention.relative_attention_bias.weight");
  REQUIRE(names.back().shape == std::vector<std::int64_t>{32, 4});
  STATIC_REQUIRE(t5_layer::parameter_count == 4 * 32 * 32 + 32 * 4);

  const auto file =
      tfm::io::safetensors_file::open(data_dir + "variant_t5_bidirectional.safetensors");
  const auto params = tfm::load_weights<t5_layer>(
      file, tfm::naming::pytorch, {.prefix = "SelfAttention.", .ignore_prefixes = {"golden."}});
  std::vector<tfm::extent_t> lengths;
  for (auto n : file.read_integers("golden.key_lengths")) lengths.push_back(n);
  // The score function and the call's key padding apply together.
  const tfm::masks::key_lengths padding{lengths};
  for (std::size_t threads : {1u, 2u})
    check_self_attention<t5_layer>(file, params, threads, padding);
  check_self_attention<t5_layer, tfm::simd::scalar>(file, params, 1, padding);

  // In a model, the layer's variant travels with its type; the weights keep their names.
  using model =
      tfm::model<tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<32>>, t5_layer>;
  const auto weights =
      tfm::load_weights<model>(file, tfm::naming::pytorch, {.ignore_prefixes = {"golden."}});
  const auto x = golden_data::floats3(file, "golden.query");
  tfm::runner<model> run(weights, {.threads = 2, .max_batch = 2, .max_seq = 150});
  xt::xtensor<float, 3> y = xt::zeros<float>(x.shape());
  run(x, y, padding);
  golden_data::require_close(file, y.data());

  // A table of another shape is refused when the weights load.
  CHECK_THROWS_WITH(
      (tfm::load_weights<
          tfm::multi_head_attention<"SelfAttention", heads<4>, d_model<32>, tfm::use_bias<false>,
                                    tfm::dense_projection_names<"q", "k", "v", "o">,
                                    tfm::weight_operand<tfm::expr::operand<"table", float, 16, 4>{},
                                                        "relative_attention_bias.weight">>>(
          file, tfm::naming::pytorch,
          {.prefix = "SelfAttention.", .ignore_prefixes = {"golden."}})),
      Catch::Contains("relative_attention_bias.weight") && Catch::Contains("16"));
}

TEST_CASE("a sliding-window layer takes its window at the call, also from the key/value cache") {
  const auto file =
      tfm::io::safetensors_file::open(data_dir + "variant_sliding_window.safetensors");
  const auto params =
      tfm::load_weights<window_layer>(file, tfm::naming::pytorch, {.ignore_prefixes = {"golden."}});
  const auto config = nlohmann::json::parse(file.metadata().at("config"));
  const auto window = tfm::expr::bind<"window">(config.at("window").get<std::int32_t>());
  for (std::size_t threads : {1u, 2u})
    check_self_attention<window_layer>(file, params, threads, tfm::expr::call_operands(window));
  check_self_attention<window_layer, tfm::simd::scalar>(file, params, 1,
                                                        tfm::expr::call_operands(window));

  const auto x = golden_data::floats3(file, "golden.query");
  const std::size_t B = x.shape(0), L = x.shape(1), E = x.shape(2), H = 4;
  tfm::workspace ws(2);

  SECTION("the window as a part of masks::all, beside a typed mask that hides nothing") {
    const std::vector<tfm::extent_t> lengths(B, tfm::extent_t(L));
    check_self_attention<window_layer>(
        file, params, 2,
        tfm::masks::all(tfm::masks::key_lengths{lengths}, tfm::expr::call_operands(window)));
  }

  SECTION("in a model, the runner passes the call's operands to the layer") {
    using model = tfm::model<
        tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<32>, max_batch<2>, max_seq<130>>,
        window_layer>;
    // The file names the layer's weights without the model's "attn." scope.
    const auto weights = model::from_weights(tfm::naming::pytorch, [&](const std::string& name) {
      return file.read_floats(name.substr(5));
    });
    STATIC_REQUIRE(model::decodable);
    STATIC_REQUIRE(model::needs_decode_operands);
    tfm::runner<model> run(weights, {.threads = 2});
    xt::xtensor<float, 3> y = xt::zeros<float>(x.shape());
    run(x, y, tfm::expr::call_operands(window));
    golden_data::require_close(file, y.data());
    // Decoding takes the operands at each call: a prefix, then one position at a time, each
    // attending over the cache through the window, against the same reference.
    xt::xtensor<float, 3> decoded = xt::zeros<float>(x.shape());
    run.start_decoding(static_cast<tfm::extent_t>(B));
    const std::size_t prefix = L - 4;
    xt::xtensor<float, 3> step_in = xt::zeros<float>({B, prefix, E}), step_out = step_in;
    for (std::size_t b = 0; b < B; ++b)
      std::copy_n(x.data() + b * L * E, prefix * E, step_in.data() + b * prefix * E);
    run.decode(step_in, step_out, tfm::expr::call_operands(window));
    for (std::size_t b = 0; b < B; ++b)
      std::copy_n(step_out.data() + b * prefix * E, prefix * E, decoded.data() + b * L * E);
    xt::xtensor<float, 3> one_in = xt::zeros<float>({B, std::size_t{1}, E}), one_out = one_in;
    for (std::size_t i = prefix; i < L; ++i) {
      for (std::size_t b = 0; b < B; ++b)
        std::copy_n(x.data() + (b * L + i) * E, E, one_in.data() + b * E);
      run.decode(one_in, one_out, tfm::expr::call_operands(window));
      for (std::size_t b = 0; b < B; ++b)
        std::copy_n(one_out.data() + b * E, E, decoded.data() + (b * L + i) * E);
    }
    golden_data::require_close(file, decoded.data());
  }

  SECTION("attention weights, per head and averaged, see the window") {
    xt::xtensor<float, 3> y = xt::zeros<float>(x.shape());
    xt::xtensor<float, 4> per_head = xt::zeros<float>({B, H, L, L});
    window_layer::forward(params, x, x, x, y, ws, tfm::expr::call_operands(window),
                          tfm::attention_weights_per_head{per_head});
    golden_data::require_close(file, per_head.data(), "golden.attention_weights");
    xt::xtensor<float, 3> averaged = xt::zeros<float>({B, L, L});
    window_layer::forward(params, x, x, x, y, ws, tfm::expr::call_operands(window),
                          tfm::attention_weights_averaged{averaged});
    const auto reference = file.read_floats("golden.attention_weights");
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t e = 0; e < L * L; ++e) {
        double mean = 0;
        for (std::size_t h = 0; h < H; ++h) mean += reference[(b * H + h) * L * L + e];
        mean /= double(H);
        REQUIRE(std::fabs(averaged.data()[b * L * L + e] - mean) <= 2e-5 + 2e-4 * std::fabs(mean));
      }
  }

  SECTION("decoding: the last rows against the cached keys, at their positions") {
    const std::size_t rows = 3, capacity = L + 5;
    std::vector<float> cache(window_layer::cache_floats(B, capacity));
    window_layer::append_to_cache(params, x.data(), x.data(), B, L, cache.data(), capacity, 0, ws);
    std::vector<float> last(B * rows * E), out(B * rows * E);
    for (std::size_t b = 0; b < B; ++b)
      std::copy_n(x.data() + (b * L + L - rows) * E, rows * E, last.data() + b * rows * E);
    window_layer::attend_to_cache(params, last.data(), B, rows, cache.data(), capacity, L,
                                  out.data(), ws, tfm::expr::call_operands(window));
    const auto reference = file.read_floats("golden.output");
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t e = 0; e < rows * E; ++e) {
        const float want = reference[(b * L + L - rows) * E + e];
        REQUIRE(std::fabs(out[b * rows * E + e] - want) <= 2e-5 + 2e-4 * std::fabs(want));
      }
    // The same rows placed explicitly at their positions; then calls the cache cannot serve.
    window_layer::attend_to_cache(params, last.data(), B, rows, cache.data(), capacity, L,
                                  out.data(), ws, tfm::expr::call_operands(window), L - rows);
    CHECK(std::fabs(out[0] - reference[(L - rows) * E]) <=
          2e-5 + 2e-4 * std::fabs(reference[(L - rows) * E]));
    CHECK_THROWS_AS(window_layer::attend_to_cache(params, last.data(), B, rows, cache.data(),
                                                  capacity, capacity + 1, out.data(), ws,
                                                  tfm::expr::call_operands(window)),
                    tfm::shape_error);
    CHECK_THROWS_AS(
        window_layer::attend_to_cache(params, last.data(), B, rows, cache.data(), capacity,
                                      rows - 1, out.data(), ws, tfm::expr::call_operands(window)),
        tfm::shape_error);
  }

  SECTION("an operand too short for the call is refused before any work, naming it") {
    using namespace tfm::expr;
    constexpr operand<"doc", std::int32_t, tfm::dynamic, tfm::dynamic> doc;
    const std::vector<std::int32_t> ids(2 * 100, 0);  // 100 positions, the call has 130
    xt::xtensor<float, 3> y = xt::zeros<float>(x.shape());
    CHECK_THROWS_AS(
        window_layer::forward(params, x, x, x, y, ws,
                              mask_function<(doc(batch_idx, q_idx) == doc(batch_idx, kv_idx))>(
                                  bind<"doc">(ids.data(), {2, 100}), window)),
        tfm::shape_error);
    CHECK_THROWS_WITH(
        window_layer::forward(params, x, x, x, y, ws,
                              mask_function<(doc(batch_idx, q_idx) == doc(batch_idx, kv_idx))>(
                                  bind<"doc">(ids.data(), {2, 100}), window)),
        Catch::Contains("\"doc\"") && Catch::Contains("100") && Catch::Contains("129"));
    CHECK(std::all_of(y.begin(), y.end(), [](float v) { return v == 0.0f; }));
  }

  SECTION("a mask function given at the call joins the layer's: both must hold") {
    using namespace tfm::expr;
    constexpr operand<"first", std::int32_t> first;
    xt::xtensor<float, 3> y = xt::zeros<float>(x.shape());
    window_layer::forward(params, x, x, x, y, ws,
                          mask_function<(kv_idx >= first)>(bind<"first">(std::int32_t{0}), window));
    golden_data::require_close(file, y.data());
    window_layer::forward(params, x, x, x, y, ws,
                          mask_function<(kv_idx >= first)>(bind<"first">(std::int32_t{1}), window));
    const auto reference = file.read_floats("golden.output");
    CHECK(std::fabs(y.data()[E] - reference[E]) > 1e-3);  // row 1 no longer sees key 0
  }
}

namespace {
using llama_layer =
    tfm::multi_head_attention<"self_attn", heads<8>, kv_heads<2>, d_model<64>, tfm::use_bias<false>,
                              tfm::dense_projection_names<"q_proj", "k_proj", "v_proj", "o_proj">,
                              tfm::rotary_position_embedding<tfm::rotary_pairs::half_split>,
                              tfm::with_mask_function<variants::causal>>;

using gptj_layer = tfm::multi_head_attention<
    "self_attn", heads<8>, d_model<64>, tfm::use_bias<false>,
    tfm::dense_projection_names<"q_proj", "k_proj", "v_proj", "out_proj">,
    tfm::rotary_position_embedding<tfm::rotary_pairs::interleaved, 10000, 4>>;

// The whole sequence, then decoding: keys appended in two parts (the second rotated from
// position L − 3), and the last 3 queries against the cache.
template <class Layer, class Mask = tfm::masks::none>
void check_rotary_layer(const std::string& name, const Mask& mask = {}) {
  const auto file = tfm::io::safetensors_file::open(data_dir + "variant_" + name + ".safetensors");
  const auto params = tfm::load_weights<Layer>(
      file, tfm::naming::pytorch, {.prefix = "self_attn.", .ignore_prefixes = {"golden."}});
  for (std::size_t threads : {1u, 2u}) check_self_attention<Layer>(file, params, threads, mask);
  check_self_attention<Layer, tfm::simd::scalar>(file, params, 1, mask);

  const auto x = golden_data::floats3(file, "golden.query");
  const std::size_t B = x.shape(0), L = x.shape(1), E = x.shape(2), rows = 3, capacity = L + 4;
  tfm::workspace ws(2);
  std::vector<float> cache(Layer::cache_floats(B, capacity));
  std::vector<float> head(B * (L - rows) * E), tail(B * rows * E), out(B * rows * E);
  for (std::size_t b = 0; b < B; ++b) {
    std::copy_n(x.data() + b * L * E, (L - rows) * E, head.data() + b * (L - rows) * E);
    std::copy_n(x.data() + (b * L + L - rows) * E, rows * E, tail.data() + b * rows * E);
  }
  Layer::append_to_cache(params, head.data(), head.data(), B, L - rows, cache.data(), capacity, 0,
                         ws);
  Layer::append_to_cache(params, tail.data(), tail.data(), B, rows, cache.data(), capacity,
                         L - rows, ws);
  Layer::attend_to_cache(params, tail.data(), B, rows, cache.data(), capacity, L, out.data(), ws,
                         mask);
  const auto reference = file.read_floats("golden.output");
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t e = 0; e < rows * E; ++e) {
      INFO("decoding, batch " << b << " element " << e);
      const float want = reference[(b * L + L - rows) * E + e];
      REQUIRE(std::fabs(out[b * rows * E + e] - want) <= 2e-5 + 2e-4 * std::fabs(want));
    }
}
}  // namespace

TEST_CASE(
    "a LLaMA attention layer (grouped key/value heads, rotary embedding, causal) matches "
    "LlamaAttention, also decoding from the key/value cache") {
  STATIC_REQUIRE(llama_layer::parameter_count == 2 * 64 * 64 + 2 * 64 * 16);
  const auto names = llama_layer::expected_weights(tfm::naming::pytorch, "self_attn.");
  REQUIRE(names[1].name == "self_attn.k_proj.weight");
  REQUIRE(names[1].shape == std::vector<std::int64_t>{16, 64});
  // Two key/value heads: the cache holds a quarter of what eight would.
  STATIC_REQUIRE(llama_layer::cache_floats(1, 64) * 4 ==
                 tfm::multi_head_attention<"a", heads<8>, d_model<64>>::cache_floats(1, 64));
  check_rotary_layer<llama_layer>("llama");
}

TEST_CASE(
    "a GPT-J attention layer (interleaved rotary embedding over part of each head) matches "
    "GPTJAttention") {
  // A typed mask this time; bottom-right, so that it holds when decoding too.
  check_rotary_layer<gptj_layer>("gptj", tfm::masks::causal_bottom_right{});
}

namespace {
namespace variants8 {
using namespace tfm::expr;
constexpr operand<"slopes", float, 8> slopes;
constexpr auto symmetric_alibi = score - slopes[head_idx] * to_real(abs(kv_idx - q_idx));
constexpr auto causal_alibi = score + slopes[head_idx] * to_real(kv_idx - q_idx);
}  // namespace variants8

template <class Model>
std::vector<float> run_layer_golden(const tfm::io::safetensors_file& file, std::size_t threads) {
  const auto weights =
      tfm::load_weights<Model>(file, tfm::naming::pytorch, {.ignore_prefixes = {"golden."}});
  const auto x = golden_data::floats3(file, "golden.input");
  tfm::runner<Model> run(weights, {.threads = threads});
  xt::xtensor<float, 3> y = xt::zeros<float>(x.shape());
  if constexpr (Model::has_memory) {
    run(x, golden_data::floats3(file, "golden.memory"), y);
  } else {
    std::vector<tfm::extent_t> lengths;
    for (auto n : file.read_integers("golden.key_lengths")) lengths.push_back(n);
    run(x, y, tfm::masks::key_lengths{lengths});
  }
  return {y.begin(), y.end()};
}
}  // namespace

TEST_CASE(
    "transformer layers pass their variant to self-attention: ALiBi in "
    "nn.TransformerEncoderLayer and nn.TransformerDecoderLayer") {
  using encoder = tfm::model<
      tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<32>, max_batch<2>, max_seq<40>>,
      tfm::transformer_encoder_layer<heads<8>, dim_feedforward<48>,
                                     tfm::with_score_function<variants8::symmetric_alibi>,
                                     tfm::alibi_slopes<variants8::slopes>>>;
  using decoder = tfm::model<
      tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<32>, max_batch<2>, max_seq<40>>,
      tfm::memory<seq<tfm::dynamic>, d_model<32>, max_seq<12>>,
      tfm::transformer_decoder_layer<
          heads<8>, dim_feedforward<48>, tfm::with_score_function<variants8::causal_alibi>,
          tfm::with_mask_function<variants::causal>, tfm::alibi_slopes<variants8::slopes>>>;
  const auto encoder_file =
      tfm::io::safetensors_file::open(data_dir + "variant_encoder_layer_alibi.safetensors");
  const auto decoder_file =
      tfm::io::safetensors_file::open(data_dir + "variant_decoder_layer_alibi.safetensors");
  for (std::size_t threads : {1u, 2u}) {
    INFO("threads " << threads);
    golden_data::require_close(encoder_file,
                               run_layer_golden<encoder>(encoder_file, threads).data());
    golden_data::require_close(decoder_file,
                               run_layer_golden<decoder>(decoder_file, threads).data());
  }

  // Decoding position by position: the causal ALiBi bias of each new row is measured from its
  // own position.
  const auto weights = tfm::load_weights<decoder>(decoder_file, tfm::naming::pytorch,
                                                  {.ignore_prefixes = {"golden."}});
  const auto x = golden_data::floats3(decoder_file, "golden.input");
  const auto memory = golden_data::floats3(decoder_file, "golden.memory");
  tfm::runner<decoder> run(weights, {.threads = 2});
  run.start_decoding(memory);
  const std::size_t B = x.shape(0), L = x.shape(1), E = x.shape(2);
  xt::xtensor<float, 3> y = xt::zeros<float>(x.shape());
  xt::xtensor<float, 3> step = xt::zeros<float>({B, std::size_t(1), E}), out = step;
  for (std::size_t i = 0; i < L; ++i) {
    for (std::size_t b = 0; b < B; ++b)
      std::copy_n(x.data() + (b * L + i) * E, E, step.data() + b * E);
    run.decode(step, out);
    for (std::size_t b = 0; b < B; ++b)
      std::copy_n(out.data() + b * E, E, y.data() + (b * L + i) * E);
  }
  golden_data::require_close(decoder_file, y.data());
}
