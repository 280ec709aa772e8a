// Composed models against PyTorch 1.13's transformer encoder (tools/make_model_goldens_pytorch.py).

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <xtensor/xview.hpp>

#include <typeformer/typeformer.hpp>

#include "export/exported_models.hpp"
#include "golden_files.hpp"
#include "synthetic_parameters.hpp"

namespace tfm = typeformer;
using namespace tfm::dims;

namespace {

const std::string data_dir = std::string(TYPEFORMER_TEST_DATA) + "/model/";

using post_norm_relu_layer =
    tfm::sequential<tfm::residual<tfm::multi_head_attention<"self_attn", heads<4>>,
                                  tfm::post_norm<tfm::layer_norm<"norm1">>>,
                    tfm::residual<tfm::feed_forward<"ff", 52, tfm::activations::relu>,
                                  tfm::post_norm<tfm::layer_norm<"norm2">>>>;
using pre_norm_gelu_layer =
    tfm::sequential<tfm::residual<tfm::multi_head_attention<"self_attn", heads<4>>,
                                  tfm::pre_norm<tfm::layer_norm<"norm1", tfm::epsilon<1, -6>>>>,
                    tfm::residual<tfm::feed_forward<"ff", 52, tfm::activations::gelu>,
                                  tfm::pre_norm<tfm::layer_norm<"norm2", tfm::epsilon<1, -6>>>>>;

constexpr tfm::extent_t post_norm_relu_layer_parameters =
    4 * 36 * 36 + 4 * 36 + 2 * 36 * 52 + 52 + 36 + 4 * 36;

template <class Model, class Arch, class MakeMask>
void check_model_golden(const std::string& name, std::size_t threads, MakeMask make_mask) {
  const auto file = tfm::io::safetensors_file::open(data_dir + name + ".safetensors");
  const auto config = nlohmann::json::parse(file.metadata().at("config"));
  const double atol = config.at("atol"), rtol = config.at("rtol");
  const auto weights = tfm::load_weights<Model>(file, tfm::naming::pytorch,
                                                {.prefix = "", .ignore_prefixes = {"golden."}});
  const auto* info = file.find("golden.input");
  xt::xtensor<float, 3> x = xt::empty<float>(
      {std::size_t(info->shape[0]), std::size_t(info->shape[1]), std::size_t(info->shape[2])});
  const auto input = file.read_floats("golden.input");
  std::copy(input.begin(), input.end(), x.begin());
  std::vector<tfm::extent_t> lengths;
  if (file.contains("golden.key_lengths"))
    for (auto n : file.read_integers("golden.key_lengths")) lengths.push_back(n);
  constexpr auto declared = Model::input_shape;
  tfm::runner<Model> run(weights, {.threads = threads,
                                   .max_batch = declared[0] == tfm::dynamic ? 4 : 0,
                                   .max_seq = declared[1] == tfm::dynamic ? 8 : 0});
  xt::xtensor<float, 3> y = xt::zeros<float>(x.shape());
  run.template run<Arch>(x, y, make_mask(lengths));
  const auto reference = file.read_floats("golden.output");
  REQUIRE(reference.size() == y.size());
  for (std::size_t i = 0; i < reference.size(); ++i) {
    INFO(name << " element " << i << " threads " << threads);
    REQUIRE(std::fabs(y.data()[i] - reference[i]) <= atol + rtol * std::fabs(reference[i]));
  }
}

const auto padding = [](const std::vector<tfm::extent_t>& lengths) {
  return tfm::masks::key_lengths{lengths};
};

}  // namespace

TEST_CASE(
    "a post-norm encoder layer composed of residual blocks matches nn.TransformerEncoderLayer") {
  using model = tfm::model<tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<36>>,
                           post_norm_relu_layer>;
  STATIC_REQUIRE(model::parameter_count == post_norm_relu_layer_parameters);
  STATIC_REQUIRE(model::output_shape ==
                 std::array<tfm::extent_t, 3>{tfm::dynamic, tfm::dynamic, 36});
  check_model_golden<model, tfm::simd::best_available>("pytorch_encoder_layer_post_relu", 2,
                                                       padding);
  check_model_golden<model, tfm::simd::scalar>("pytorch_encoder_layer_post_relu", 1, padding);
  check_model_golden<model, tfm::simd::best_available>(
      "pytorch_encoder_layer_post_relu_causal", 1,
      [](const std::vector<tfm::extent_t>&) { return tfm::masks::causal{}; });
}

TEST_CASE("a pre-norm (norm_first) gelu encoder layer with epsilon 1e-6 matches PyTorch") {
  using model = tfm::model<tfm::input<batch<3>, seq<7>, d_model<36>>, pre_norm_gelu_layer>;
  check_model_golden<model, tfm::simd::best_available>("pytorch_encoder_layer_pre_gelu_eps1e-6", 2,
                                                       padding);
}

TEST_CASE(
    "repeat<\"layers\", 3, ...> with a final norm matches nn.TransformerEncoder's general path") {
  using model = tfm::model<tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<36>>,
                           tfm::repeat<"layers", 3, post_norm_relu_layer>, tfm::layer_norm<"norm">>;
  const auto names = model::expected_weights(tfm::naming::pytorch);
  REQUIRE(names.front().name == "layers.0.self_attn.in_proj_weight");
  REQUIRE(names.back().name == "norm.bias");
  check_model_golden<model, tfm::simd::best_available>("pytorch_encoder_stack_general_path", 2,
                                                       padding);
}

TEST_CASE("zero_padded_positions before the final norm matches nn.TransformerEncoder's fast path") {
  using model = tfm::model<tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<36>>,
                           tfm::repeat<"layers", 3, post_norm_relu_layer>,
                           tfm::zero_padded_positions, tfm::layer_norm<"norm">>;
  STATIC_REQUIRE(model::parameter_count == 3 * post_norm_relu_layer_parameters + 2 * 36);
  check_model_golden<model, tfm::simd::best_available>("pytorch_encoder_stack_fast_path", 2,
                                                       padding);
  check_model_golden<model, tfm::simd::scalar>("pytorch_encoder_stack_fast_path", 1, padding);
  // The same padding as PyTorch's own key padding mask (1 = padded) and in Keras's polarity.
  std::vector<std::uint8_t> padded, kept;
  const auto as_masks = [&](const std::vector<tfm::extent_t>& lengths) {
    const std::size_t seq = 7;
    padded.assign(lengths.size() * seq, 0);
    for (std::size_t b = 0; b < lengths.size(); ++b)
      for (std::size_t r = static_cast<std::size_t>(lengths[b]); r < seq; ++r)
        padded[b * seq + r] = 1;
    kept.resize(padded.size());
    std::transform(padded.begin(), padded.end(), kept.begin(),
                   [](std::uint8_t p) { return static_cast<std::uint8_t>(p ^ 1); });
  };
  check_model_golden<model, tfm::simd::best_available>(
      "pytorch_encoder_stack_fast_path", 1, [&](const std::vector<tfm::extent_t>& lengths) {
        as_masks(lengths);
        return tfm::masks::pytorch_key_padding<>{
            {padded.data(), {static_cast<tfm::extent_t>(lengths.size()), 7}}};
      });
  check_model_golden<model, tfm::simd::best_available>(
      "pytorch_encoder_stack_fast_path", 1, [&](const std::vector<tfm::extent_t>& lengths) {
        as_masks(lengths);
        return tfm::masks::keep_keys<>{
            {kept.data(), {static_cast<tfm::extent_t>(lengths.size()), 7}}};
      });
}

TEST_CASE("zero_padded_positions passes its input through when the call has no padding") {
  using with_part = tfm::model<tfm::input<batch<2>, seq<5>, d_model<36>>,
                               tfm::repeat<"layers", 1, post_norm_relu_layer>,
                               tfm::zero_padded_positions, tfm::layer_norm<"norm">>;
  using without =
      tfm::model<tfm::input<batch<2>, seq<5>, d_model<36>>,
                 tfm::repeat<"layers", 1, post_norm_relu_layer>, tfm::layer_norm<"norm">>;
  // The same deterministic weights for both (zero_padded_positions has none).
  const auto value = [](std::size_t i, std::size_t t) {
    return 0.1f * static_cast<float>(std::sin(0.37 * double(i) + 1.3 * double(t)));
  };
  const auto a = synthetic_parameters<with_part>(value);
  const auto b = synthetic_parameters<without>(value);
  xt::xtensor<float, 3> x = xt::zeros<float>({2, 5, 36});
  for (std::size_t i = 0; i < x.size(); ++i)
    x.data()[i] = static_cast<float>(std::cos(0.1 * double(i)));
  tfm::runner<with_part> run_a(a);
  tfm::runner<without> run_b(b);
  const auto ya = run_a(x, tfm::masks::causal{});
  const auto yb = run_b(x, tfm::masks::causal{});
  REQUIRE(std::equal(ya.begin(), ya.end(), yb.begin()));
}

TEST_CASE("transformer_encoder_layer is nn.TransformerEncoderLayer in one named type") {
  using post = tfm::transformer_encoder_layer<heads<4>, dim_feedforward<52>>;
  using pre = tfm::transformer_encoder_layer<heads<4>, dim_feedforward<52>, tfm::norm_first,
                                             tfm::with_activation<tfm::activations::gelu>,
                                             tfm::epsilon<1, -6>>;
  using post_model =
      tfm::model<tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<36>>, post>;
  using pre_model = tfm::model<tfm::input<batch<3>, seq<7>, d_model<36>>, pre>;
  STATIC_REQUIRE(post_model::parameter_count == post_norm_relu_layer_parameters);
  check_model_golden<post_model, tfm::simd::best_available>("pytorch_encoder_layer_post_relu", 2,
                                                            padding);
  check_model_golden<pre_model, tfm::simd::best_available>("pytorch_encoder_layer_pre_gelu_eps1e-6",
                                                           1, padding);
  using stack = tfm::model<tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<36>>,
                           tfm::repeat<"layers", 3, post>, tfm::zero_padded_positions,
                           tfm::layer_norm<"norm">>;
  check_model_golden<stack, tfm::simd::best_available>("pytorch_encoder_stack_fast_path", 2,
                                                       padding);
}

namespace {
// Runs a decoder model on a decoder golden: target, memory, causal + target padding, memory
// padding.
template <class Model>
void check_decoder_golden(const std::string& name, std::size_t threads) {
  const auto file = tfm::io::safetensors_file::open(data_dir + name + ".safetensors");
  const auto config = nlohmann::json::parse(file.metadata().at("config"));
  const double atol = config.at("atol"), rtol = config.at("rtol");
  const auto weights = tfm::load_weights<Model>(file, tfm::naming::pytorch,
                                                {.prefix = "", .ignore_prefixes = {"golden."}});
  auto read3 = [&](const std::string& tensor) { return golden_data::floats3(file, tensor); };
  const auto x = read3("golden.input");
  const auto memory = read3("golden.memory");
  std::vector<tfm::extent_t> lengths, memory_lengths;
  for (auto n : file.read_integers("golden.key_lengths")) lengths.push_back(n);
  for (auto n : file.read_integers("golden.memory_lengths")) memory_lengths.push_back(n);
  tfm::runner<Model> run(weights, {.threads = threads});
  xt::xtensor<float, 3> y = xt::zeros<float>(x.shape());
  run(x, memory, y, tfm::masks::all(tfm::masks::causal{}, tfm::masks::key_lengths{lengths}),
      tfm::masks::key_lengths{memory_lengths});
  const auto reference = file.read_floats("golden.output");
  REQUIRE(reference.size() == y.size());
  for (std::size_t i = 0; i < reference.size(); ++i) {
    INFO(name << " element " << i << " threads " << threads);
    REQUIRE(std::fabs(y.data()[i] - reference[i]) <= atol + rtol * std::fabs(reference[i]));
  }
}

template <class... Layers>
using decoder_model = tfm::model<
    tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<36>, max_batch<3>, max_seq<7>>,
    tfm::memory<seq<tfm::dynamic>, d_model<36>, max_seq<6>>, Layers...>;
}  // namespace

TEST_CASE(
    "transformer_decoder_layer matches nn.TransformerDecoderLayer: causal target, target "
    "and memory padding") {
  using post = tfm::transformer_decoder_layer<heads<4>, dim_feedforward<52>>;
  using pre = tfm::transformer_decoder_layer<heads<4>, dim_feedforward<52>, tfm::norm_first,
                                             tfm::with_activation<tfm::activations::gelu>,
                                             tfm::epsilon<1, -6>>;
  STATIC_REQUIRE(decoder_model<post>::parameter_count ==
                 post_norm_relu_layer_parameters + (4 * 36 * 36 + 4 * 36) + 2 * 36);
  check_decoder_golden<decoder_model<post>>("pytorch_decoder_layer_post_relu", 2);
  check_decoder_golden<decoder_model<post>>("pytorch_decoder_layer_post_relu", 1);
  check_decoder_golden<decoder_model<pre>>("pytorch_decoder_layer_pre_gelu_eps1e-6", 2);
}

TEST_CASE("repeat of decoder layers with a final norm matches nn.TransformerDecoder") {
  using stack = decoder_model<
      tfm::repeat<"layers", 2, tfm::transformer_decoder_layer<heads<4>, dim_feedforward<52>>>,
      tfm::layer_norm<"norm">>;
  const auto names = stack::expected_weights(tfm::naming::pytorch);
  REQUIRE(names[4].name == "layers.0.norm1.weight");
  REQUIRE(names[6].name == "layers.0.multihead_attn.in_proj_weight");
  check_decoder_golden<stack>("pytorch_decoder_stack", 2);
}

TEST_CASE(
    "incremental decoding with the key/value cache gives the full decoder's rows, step by "
    "step and in chunks") {
  using stack = decoder_model<
      tfm::repeat<"layers", 2, tfm::transformer_decoder_layer<heads<4>, dim_feedforward<52>>>,
      tfm::layer_norm<"norm">>;
  const auto file = tfm::io::safetensors_file::open(data_dir + "pytorch_decoder_stack.safetensors");
  const auto weights = tfm::load_weights<stack>(file, tfm::naming::pytorch,
                                                {.prefix = "", .ignore_prefixes = {"golden."}});
  const auto memory_values = file.read_floats("golden.memory");
  xt::xtensor<float, 3> memory =
      xt::empty<float>({std::size_t(3), std::size_t(6), std::size_t(36)});
  std::copy(memory_values.begin(), memory_values.end(), memory.begin());
  const std::vector<tfm::extent_t> memory_lengths = {6, 3, 1};
  const tfm::masks::key_lengths memory_mask{memory_lengths};
  const auto first = file.read_floats("golden.input");

  for (std::size_t threads : {1u, 2u}) {
    tfm::runner<stack> full(weights, {.threads = threads});
    tfm::runner<stack> incremental(weights, {.threads = threads});
    // Greedy in the continuous sense: each output row is the next position's input.
    xt::xtensor<float, 3> sequence =
        xt::zeros<float>({std::size_t(3), std::size_t(7), std::size_t(36)});
    for (std::size_t b = 0; b < 3; ++b)
      std::copy_n(first.begin() + b * 7 * 36, 36, sequence.begin() + b * 7 * 36);
    incremental.start_decoding(memory, memory_mask);
    for (std::size_t t = 0; t < 7; ++t) {
      xt::xtensor<float, 3> x_t = xt::view(sequence, xt::all(), xt::range(t, t + 1), xt::all());
      xt::xtensor<float, 3> y_t = xt::empty<float>(x_t.shape());
      incremental.decode(x_t, y_t, memory_mask);
      // The full decoder on the prefix [0, t]: its last row is the step's output.
      xt::xtensor<float, 3> prefix = xt::view(sequence, xt::all(), xt::range(0, t + 1), xt::all());
      xt::xtensor<float, 3> y_full = xt::empty<float>(prefix.shape());
      full(prefix, memory, y_full, tfm::masks::causal{}, memory_mask);
      for (std::size_t b = 0; b < 3; ++b)
        for (std::size_t c = 0; c < 36; ++c) {
          INFO("threads " << threads << " step " << t << " batch " << b << " feature " << c);
          REQUIRE(y_t(b, 0, c) == Approx(y_full(b, t, c)).margin(2e-5));
        }
      if (t + 1 < 7)
        xt::view(sequence, xt::all(), t + 1, xt::all()) = xt::view(y_t, xt::all(), 0, xt::all());
    }
    REQUIRE(incremental.decoded_length() == 7);

    // The same positions in chunks of 3, 1 and 3 give the same rows as the full call.
    xt::xtensor<float, 3> y_full = xt::empty<float>(sequence.shape());
    full(sequence, memory, y_full, tfm::masks::causal{}, memory_mask);
    incremental.start_decoding(memory, memory_mask);
    std::size_t at = 0;
    for (std::size_t chunk : {3u, 1u, 3u}) {
      xt::xtensor<float, 3> x_c =
          xt::view(sequence, xt::all(), xt::range(at, at + chunk), xt::all());
      xt::xtensor<float, 3> y_c = xt::empty<float>(x_c.shape());
      incremental.decode(x_c, y_c, memory_mask);
      for (std::size_t b = 0; b < 3; ++b)
        for (std::size_t i = 0; i < chunk; ++i)
          for (std::size_t c = 0; c < 36; ++c)
            REQUIRE(y_c(b, i, c) == Approx(y_full(b, at + i, c)).margin(2e-5));
      at += chunk;
    }
    // Past the cache's capacity (max_seq 7) is an error, not an overrun.
    xt::xtensor<float, 3> one = xt::zeros<float>({std::size_t(3), std::size_t(1), std::size_t(36)});
    xt::xtensor<float, 3> out = xt::empty<float>(one.shape());
    REQUIRE_THROWS_AS(incremental.decode(one, out, memory_mask), tfm::shape_error);
  }
}

TEST_CASE("branches merged by concatenate and add match PyTorch's torch.cat and +") {
  using input = tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<36>>;
  using concatenated = tfm::model<
      input,
      tfm::concatenate<tfm::multi_head_attention<"self_attn", heads<4>>, tfm::layer_norm<"norm_b">>,
      tfm::layer_norm<"norm_c">>;
  using added = tfm::model<
      input, tfm::add<tfm::multi_head_attention<"self_attn", heads<4>>, tfm::layer_norm<"norm_b">>,
      tfm::layer_norm<"norm_c">>;
  STATIC_REQUIRE(concatenated::output_shape[2] == 72);
  STATIC_REQUIRE(concatenated::parameter_count == (4 * 36 * 36 + 4 * 36) + 2 * 36 + 2 * 72);
  STATIC_REQUIRE(added::output_shape[2] == 36);
  const auto none = [](const std::vector<tfm::extent_t>&) { return tfm::masks::none{}; };
  // check_model_golden compares every output value; the concatenated output is 72 wide.
  const auto file =
      tfm::io::safetensors_file::open(data_dir + "pytorch_branches_concatenate.safetensors");
  const auto weights = tfm::load_weights<concatenated>(
      file, tfm::naming::pytorch, {.prefix = "", .ignore_prefixes = {"golden."}});
  const auto input_values = file.read_floats("golden.input");
  xt::xtensor<float, 3> x = xt::empty<float>({std::size_t(3), std::size_t(7), std::size_t(36)});
  std::copy(input_values.begin(), input_values.end(), x.begin());
  tfm::runner<concatenated> run(weights, {.threads = 2, .max_batch = 3, .max_seq = 7});
  const auto y = run(x);
  const auto reference = file.read_floats("golden.output");
  REQUIRE(y.size() == reference.size());
  for (std::size_t i = 0; i < reference.size(); ++i)
    REQUIRE(std::fabs(y.data()[i] - reference[i]) <= 2e-5 + 1e-4 * std::fabs(reference[i]));
  check_model_golden<added, tfm::simd::best_available>("pytorch_branches_add", 2, none);
  REQUIRE(tfm::to_dot<added>().find("shape=circle") != std::string::npos);
}

TEST_CASE(
    "a sequence_first input takes PyTorch's default (L, B, E) layout, declared, not guessed") {
  using model = tfm::model<tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<36>,
                                      max_batch<3>, max_seq<7>, tfm::sequence_first>,
                           tfm::transformer_encoder_layer<heads<4>, dim_feedforward<52>>>;
  const auto file =
      tfm::io::safetensors_file::open(data_dir + "pytorch_encoder_layer_post_relu.safetensors");
  const auto weights = tfm::load_weights<model>(file, tfm::naming::pytorch,
                                                {.prefix = "", .ignore_prefixes = {"golden."}});
  // The golden is (B, L, E); nn.TransformerEncoderLayer(batch_first=False) computes the same
  // values on the transposed tensors.
  const auto input = file.read_floats("golden.input");
  const auto reference = file.read_floats("golden.output");
  xt::xtensor<float, 3> x = xt::empty<float>({std::size_t(7), std::size_t(3), std::size_t(36)});
  for (std::size_t b = 0; b < 3; ++b)
    for (std::size_t l = 0; l < 7; ++l)
      for (std::size_t c = 0; c < 36; ++c) x(l, b, c) = input[(b * 7 + l) * 36 + c];
  std::vector<tfm::extent_t> lengths;
  for (auto n : file.read_integers("golden.key_lengths")) lengths.push_back(n);
  tfm::runner<model> run(weights, {.threads = 2});
  xt::xtensor<float, 3> y = xt::empty<float>(x.shape());
  run(x, y, tfm::masks::key_lengths{lengths});
  for (std::size_t b = 0; b < 3; ++b)
    for (std::size_t l = 0; l < 7; ++l)
      for (std::size_t c = 0; c < 36; ++c) {
        const float want = reference[(b * 7 + l) * 36 + c];
        REQUIRE(std::fabs(y(l, b, c) - want) <= 2e-5 + 1e-4 * std::fabs(want));
      }
  // A batch-first tensor of the wrong shape is caught, not transposed into nonsense.
  xt::xtensor<float, 3> wrong = xt::zeros<float>({std::size_t(3), std::size_t(8), std::size_t(36)});
  xt::xtensor<float, 3> out = xt::empty<float>(wrong.shape());
  REQUIRE_THROWS_AS(run(wrong, out, tfm::masks::key_lengths{lengths}), tfm::shape_error);
}

namespace {
using token_language_model = tfm::model<
    tfm::tokens<batch<tfm::dynamic>, seq<tfm::dynamic>, max_batch<3>, max_seq<7>>,
    tfm::embedding<"embed", 23, 36, tfm::scale_by_sqrt_dim>, tfm::sinusoidal_position_encoding<>,
    tfm::repeat<"layers", 2, tfm::transformer_encoder_layer<heads<4>, dim_feedforward<52>>>,
    tfm::dense<"out", 23, tfm::activations::softmax>>;

struct token_golden {
  tfm::io::safetensors_file file =
      tfm::io::safetensors_file::open(data_dir + "pytorch_token_language_model.safetensors");
  nlohmann::json config = nlohmann::json::parse(file.metadata().at("config"));
  xt::xtensor<std::int32_t, 2> ids = xt::empty<std::int32_t>({3, 7});
  std::vector<float> reference = file.read_floats("golden.output");
  token_golden() {
    const auto read = file.read_integers("golden.ids");
    std::copy(read.begin(), read.end(), ids.begin());
  }
  void require_close(const float* ours, std::size_t first, std::size_t count) const {
    const double atol = config.at("atol"), rtol = config.at("rtol");
    for (std::size_t i = 0; i < count; ++i) {
      INFO("element " << first + i);
      REQUIRE(std::fabs(ours[i] - reference[first + i]) <=
              atol + rtol * std::fabs(reference[first + i]));
    }
  }
};
}  // namespace

TEST_CASE(
    "a token model (embedding, positions, causal encoder layers, dense softmax) matches "
    "PyTorch") {
  STATIC_REQUIRE(token_language_model::parameter_count ==
                 23 * 36 + 2 * post_norm_relu_layer_parameters + 36 * 23 + 23);
  STATIC_REQUIRE(token_language_model::input_shape.size() == 2);
  STATIC_REQUIRE(token_language_model::output_shape[2] == 23);
  const token_golden g;
  const auto weights = tfm::load_weights<token_language_model>(
      g.file, tfm::naming::pytorch, {.prefix = "", .ignore_prefixes = {"golden."}});
  for (std::size_t threads : {1u, 2u}) {
    tfm::runner<token_language_model> run(weights, {.threads = threads});
    xt::xtensor<float, 3> y = xt::zeros<float>({3, 7, 23});
    run(g.ids, y, tfm::masks::causal{});
    g.require_close(y.data(), 0, y.size());
    const auto scalar = [&] {
      xt::xtensor<float, 3> out = xt::zeros<float>({3, 7, 23});
      run.run<tfm::simd::scalar>(g.ids, out, tfm::masks::causal{});
      return out;
    }();
    g.require_close(scalar.data(), 0, scalar.size());
  }
  const std::string table = tfm::summary<token_language_model>();
  CHECK_THAT(table, Catch::Contains("embed (embedding)") && Catch::Contains("(None, None, 36)") &&
                        Catch::Contains("positions (sinusoidal_position_encoding)") &&
                        Catch::Contains("out (dense)"));
}

TEST_CASE("a token model decodes one token at a time with the positions continuing") {
  const token_golden g;
  const auto weights = tfm::load_weights<token_language_model>(
      g.file, tfm::naming::pytorch, {.prefix = "", .ignore_prefixes = {"golden."}});
  tfm::runner<token_language_model> run(weights);
  run.start_decoding(3);
  xt::xtensor<std::int32_t, 2> step = xt::empty<std::int32_t>({3, 1});
  xt::xtensor<float, 3> y = xt::zeros<float>({3, 1, 23});
  for (std::size_t t = 0; t < 7; ++t) {
    for (std::size_t b = 0; b < 3; ++b) step(b, 0) = g.ids(b, t);
    run.decode(step, y);
    for (std::size_t b = 0; b < 3; ++b) g.require_close(&y(b, 0, 0), (b * 7 + t) * 23, 23);
  }
}

TEST_CASE("a token model rejects an id out of range with its place, and bad token extents") {
  const token_golden g;
  const auto weights = tfm::load_weights<token_language_model>(
      g.file, tfm::naming::pytorch, {.prefix = "", .ignore_prefixes = {"golden."}});
  tfm::runner<token_language_model> run(weights);
  xt::xtensor<std::int32_t, 2> ids = g.ids;
  ids(2, 4) = 23;
  xt::xtensor<float, 3> y = xt::zeros<float>({3, 7, 23});
  REQUIRE_THROWS_WITH(
      run(ids, y),
      "embedding \"embed\": token id (23) is out of range [0, 23) at batch 2, position 4");
  xt::xtensor<std::int32_t, 2> long_ids = xt::zeros<std::int32_t>({3, 8});
  xt::xtensor<float, 3> long_y = xt::zeros<float>({3, 8, 23});
  REQUIRE_THROWS_WITH(run(long_ids, long_y),
                      "model \"input\": sequence length (8) exceeds the declared maximum (7)");
}

TEST_CASE(
    "the Keras wrapper block LayerNormalization(x + MultiHeadAttention(x, x)) matches "
    "TensorFlow.js") {
  using block = tfm::model<
      tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<24>, max_batch<2>, max_seq<7>>,
      tfm::residual<tfm::multi_head_attention<"mha", heads<3>, key_dim_per_head<24>>,
                    tfm::post_norm<tfm::layer_norm<"norm", tfm::epsilon<1, -6>>>>>;
  const auto file = tfm::io::safetensors_file::open(
      std::string(TYPEFORMER_TEST_DATA) + "/layers/keras_wrapper_attention_block.safetensors");
  const auto config = nlohmann::json::parse(file.metadata().at("config"));
  const double atol = config.at("atol"), rtol = config.at("rtol");
  const auto weights = tfm::load_weights<block>(file, tfm::naming::keras,
                                                {.prefix = "", .ignore_prefixes = {"golden."}});
  xt::xtensor<float, 3> x = xt::empty<float>({2, 7, 24});
  const auto input = file.read_floats("golden.input");
  std::copy(input.begin(), input.end(), x.begin());
  const auto reference = file.read_floats("golden.output");
  for (std::size_t threads : {1u, 2u}) {
    tfm::runner<block> run(weights, {.threads = threads});
    const auto y = run(x);
    for (std::size_t i = 0; i < reference.size(); ++i) {
      INFO("element " << i << ", threads " << threads);
      REQUIRE(std::fabs(y.data()[i] - reference[i]) <= atol + rtol * std::fabs(reference[i]));
    }
  }
}

// ---- verify::on: the self-test embedded by the exporter ----------------------------------------

namespace {

using selftest_stack = tfm::model<
    tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<36>>,
    tfm::repeat<"layers", 3, tfm::transformer_encoder_layer<heads<4>, dim_feedforward<52>>>,
    tfm::layer_norm<"norm">>;

// `file` copied, with `edit(name, bytes)` applied to each tensor's bytes and `metadata` replacing
// the metadata; a tensor whose edit empties its name is dropped.
template <class Edit>
tfm::io::safetensors_file rewritten(const tfm::io::safetensors_file& file, Edit edit,
                                    std::map<std::string, std::string> metadata) {
  tfm::io::safetensors_writer w;
  for (const auto& t : file.tensors()) {
    const auto raw = file.raw_bytes(t.name);
    std::vector<std::byte> bytes(raw.begin(), raw.end());
    std::string name = t.name;
    edit(name, bytes);
    if (!name.empty()) w.add(name, t.type, t.shape, bytes);
  }
  for (auto& [k, v] : metadata) w.set_metadata(k, v);
  return tfm::io::safetensors_file::from_bytes(w.to_bytes(), "edited.safetensors");
}

/// An edit for rewritten(): leaves the tensor `which` out.
auto dropping(const char* which) {
  return [which](std::string& name, std::vector<std::byte>&) {
    if (name == which) name.clear();
  };
}

template <class Model>
std::string verify_error(const tfm::io::safetensors_file& file) {
  try {
    (void)tfm::load_weights<Model>(file, tfm::naming::pytorch, tfm::verify::on);
  } catch (const tfm::weight_error& e) {
    return e.what();
  }
  FAIL("no weight_error");
  return {};
}

}  // namespace

TEST_CASE(
    "verify::on passes PyTorch's own self-test: an encoder stack with padding, a causal "
    "token model") {
  const auto stack_file =
      tfm::io::safetensors_file::open(data_dir + "pytorch_encoder_stack_selftest.safetensors");
  CHECK_NOTHROW(
      tfm::load_weights<selftest_stack>(stack_file, tfm::naming::pytorch, tfm::verify::on));
  CHECK_NOTHROW(
      tfm::load_weights<selftest_stack>(data_dir + "pytorch_encoder_stack_selftest.safetensors",
                                        tfm::naming::pytorch, tfm::verify::on));
  const auto token_file = tfm::io::safetensors_file::open(
      data_dir + "pytorch_token_language_model_selftest.safetensors");
  CHECK_NOTHROW(
      tfm::load_weights<token_language_model>(token_file, tfm::naming::pytorch, tfm::verify::on));
}

TEST_CASE("verify::on refuses weights whose output differs, naming the position and the values") {
  const auto file =
      tfm::io::safetensors_file::open(data_dir + "pytorch_encoder_stack_selftest.safetensors");
  const auto expected = file.read_floats("selftest.output");
  // Flat position of [2, 4, 17] in (3, 7, 36): nudged by 1e-3, far beyond atol 5e-5.
  const std::size_t at = (2 * 7 + 4) * 36 + 17;
  const auto nudged = rewritten(
      file,
      [&](std::string& name, std::vector<std::byte>& bytes) {
        if (name != "selftest.output") return;
        const float v = expected[at] + 1e-3f;
        std::memcpy(bytes.data() + 4 * at, &v, 4);
      },
      file.metadata());
  const std::string message = verify_error<selftest_stack>(nudged);
  CHECK_THAT(message, Catch::Matchers::StartsWith(
                          "model (pytorch names) in edited.safetensors: self-test failed: "
                          "selftest.output differs at [2, 4, 17]: expected "));
  CHECK_THAT(message, Catch::Matchers::Contains("1 of 756 values differ"));
  // verify::off (and the overload without it) load the same file without running it.
  CHECK_NOTHROW(tfm::load_weights<selftest_stack>(nudged, tfm::naming::pytorch, tfm::verify::off));
  CHECK_NOTHROW(tfm::load_weights<selftest_stack>(nudged, tfm::naming::pytorch));

  // A weight changed instead of the output: every position is off.
  const auto bad_weight = rewritten(
      file,
      [](std::string& name, std::vector<std::byte>& bytes) {
        if (name == "layers.1.linear2.bias") std::fill(bytes.begin(), bytes.end(), std::byte{0});
      },
      file.metadata());
  CHECK_THAT(verify_error<selftest_stack>(bad_weight),
             Catch::Matchers::Contains("self-test failed: selftest.output differs at [0, 0, "));
}

TEST_CASE(
    "verify::on: a missing self-test, tolerance or a sample that does not fit is a "
    "weight_error") {
  const auto file =
      tfm::io::safetensors_file::open(data_dir + "pytorch_encoder_stack_selftest.safetensors");
  const auto keep = [](std::string&, std::vector<std::byte>&) {};
  auto metadata = file.metadata();
  CHECK_THAT(verify_error<selftest_stack>(rewritten(file, dropping("selftest.output"), metadata)),
             Catch::Matchers::EndsWith(
                 "verify::on, but the file has no self-test (selftest.output missing)"));
  auto no_atol = metadata;
  no_atol.erase("selftest.atol");
  CHECK_THAT(verify_error<selftest_stack>(rewritten(file, keep, no_atol)),
             Catch::Matchers::EndsWith(
                 "the self-test has no tolerance: __metadata__ lacks \"selftest.atol\""));
  auto bad_rtol = metadata;
  bad_rtol["selftest.rtol"] = "1e-4x";
  CHECK_THAT(verify_error<selftest_stack>(rewritten(file, keep, bad_rtol)),
             Catch::Matchers::EndsWith(
                 "__metadata__ \"selftest.rtol\" is \"1e-4x\", expected a non-negative decimal "
                 "number"));
  // Without its key lengths the padded rows differ from PyTorch's: the comparison catches it.
  const auto no_lengths = rewritten(
      file,
      [](std::string& name, std::vector<std::byte>& bytes) {
        if (name == "selftest.key_lengths") name.clear();
        (void)bytes;
      },
      metadata);
  CHECK_THAT(verify_error<selftest_stack>(no_lengths),
             Catch::Matchers::Contains("self-test failed"));
}

TEST_CASE(
    "verify::on runs a decoder's self-test on its memory (tools/export_torch.py --memory-shape), "
    "and names a missing or mis-shaped memory") {
  using decoder = exported_models::small_decoder<>;
  const auto file = tfm::io::safetensors_file::open(std::string(TYPEFORMER_TEST_DATA) +
                                                    "/export/pytorch_small_decoder.safetensors");
  CHECK_NOTHROW(tfm::load_weights<decoder>(file, tfm::naming::pytorch, tfm::verify::on));
  // Post-norm declared pre-norm: the shapes fit, the numbers do not.
  CHECK_THAT(verify_error<exported_models::small_decoder<tfm::norm_first>>(file),
             Catch::Matchers::Contains("self-test failed"));
  // Without the memory's padding, the padded memory positions are attended: caught.
  const auto metadata = file.metadata();
  const auto no_memory_lengths = rewritten(file, dropping("selftest.memory_key_lengths"), metadata);
  CHECK_THAT(verify_error<decoder>(no_memory_lengths),
             Catch::Matchers::Contains("self-test failed"));
  const auto no_memory = rewritten(file, dropping("selftest.memory"), metadata);
  CHECK_THAT(verify_error<decoder>(no_memory),
             Catch::Matchers::EndsWith("the model reads a memory, but the self-test has no "
                                       "selftest.memory (batch, memory seq, width)"));
}
