// The attention layers Keras users put between an encoder and a decoder or inside a classifier,
// each declared once as a type, loaded from one weight file that holds all of them, run on the
// sample stored beside its weights and checked against the float64 reference of its Keras,
// keras-multi-head or tutorial formula:
//
//   Attention(use_scale=True)                          dot_attention<"luong", use_scale<true>>
//   Attention(score_mode="concat", use_scale=True)     dot_attention<..., concat_scores, ...>
//   AdditiveAttention()                                additive_attention<"additive", d_model<32>>
//   BahdanauAttention(16) (TensorFlow's NMT tutorial)  bahdanau_attention<"bahdanau", 16, ...>
//   keras_multi_head.MultiHeadAttention(head_num=4)    multi_head_attention<...,
//   keras_multi_head_weights> the TensorFlow and MachineLearningMastery tutorials'
//   MultiHeadAttention layers
//
// Encoder outputs (3 sentences of 20 steps, 32 wide, padded to lengths 20, 13 and 4) are
// attended by 6 decoder positions, or by one decoder state per sentence for the Bahdanau step;
// the multi-head forms run as self-attention on 12 positions. The weights and samples come from
// tools/make_keras_attention_goldens.py --layer-examples; each layer reads its own tensors
// ("luong/scale", "mha/mha_Wq", ...) out of the shared file.
//
//   ./run-example.sh keras_attention_layers

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include <typeformer/typeformer.hpp>

#include "example_support.hpp"

namespace tfm = typeformer;
using namespace tfm::dims;

using luong = tfm::dot_attention<"luong", tfm::use_scale<true>>;
using luong_concat = tfm::dot_attention<"luong_concat", tfm::concat_scores, tfm::use_scale<true>>;
using additive = tfm::additive_attention<"additive", d_model<32>>;
using bahdanau = tfm::bahdanau_attention<"bahdanau", 16, d_model<32>>;
// keras-multi-head: f = the value's width, relu on Q, K, V and the output, weights mha/mha_Wq ...
using keras_multi_head =
    tfm::multi_head_attention<"mha", heads<4>, d_model<32>, tfm::keras_multi_head_weights,
                              tfm::projection_activation<tfm::activations::relu>>;
// TensorFlow's tutorial: Dense wq, wk, wv, dense; scores / √(32 / 4).
using tensorflow_tutorial =
    tfm::multi_head_attention<"tutorial_tf", heads<4>, d_model<32>,
                              tfm::dense_projection_names<"wq", "wk", "wv", "dense">>;
// MachineLearningMastery: W_q, W_k = Dense(32), W_v = Dense(48), W_o = Dense(64) on 16-wide
// inputs; scores / √32, the whole d_k.
using mlm_tutorial =
    tfm::multi_head_attention<"tutorial_mlm", heads<4>, d_model<16>, key_dim_per_head<8>,
                              value_dim_per_head<12>, output_features<64>,
                              tfm::score_scale<tfm::score_scaling::total_key_width>,
                              tfm::dense_projection_names<"W_q", "W_k", "W_v", "W_o">>;

namespace {

/// The layer's own tensors out of a file that holds every layer: a lone Keras layer's weights are
/// under its name ("attention/...").
template <class Layer>
typename Layer::parameters load(const tfm::io::safetensors_file& file) {
  return tfm::load_weights<Layer>(file, tfm::naming::keras, {.file_holds_other_layers = true});
}

template <std::size_t Rank>
xt::xtensor<float, Rank> sample(const tfm::io::safetensors_file& file, const std::string& layer,
                                const char* what) {
  return example::read_tensor<float, Rank>(file, "selftest." + layer + "." + what);
}

tfm::masks::keep_keys<> keep_keys(const xt::xtensor<std::uint8_t, 2>& mask) {
  return tfm::masks::keep_keys<>{tfm::as_view<2>(mask)};
}

}  // namespace

int main(int argc, char** argv) try {
  const std::string path =
      argc > 1 ? argv[1]
               : std::string(TYPEFORMER_EXAMPLE_DATA) + "/keras_attention_layers.safetensors";
  const auto file = tfm::io::safetensors_file::open(path);
  tfm::workspace ws(2);
  std::size_t outside = 0;
  // Prints the layer, compares y with its reference and times one more call.
  const auto check = [&](const std::string& layer, const char* keras, const auto& y, auto&& call) {
    std::printf("\n%s: %s\n  ", layer.c_str(), keras);
    outside += example::compare_with_reference(file, y.data(), "selftest." + layer + ".output",
                                               "float64 reference");
    std::printf("  %.1f us per call (median of 201, 2 threads)\n",
                1000.0 * example::median_ms(call, 201));
  };

  // Decoder queries over encoder outputs, padded encoder steps masked (Keras's value_mask).
  for (const std::string layer : {"luong", "luong_concat", "additive"}) {
    const auto q = sample<3>(file, layer, "query"), v = sample<3>(file, layer, "value");
    const auto value_mask =
        example::read_tensor<std::uint8_t, 2>(file, "selftest." + layer + ".value_mask");
    xt::xtensor<float, 3> y = xt::zeros<float>(q.shape());
    if (layer == "luong") {
      const auto p = load<luong>(file);
      const auto call = [&] { luong::forward(p, q, v, y, ws, keep_keys(value_mask)); };
      call();
      check(layer, "Attention(use_scale=True), mask=[None, value_mask]", y, call);
    } else if (layer == "luong_concat") {
      // Its query mask zeroes the decoder's padded positions afterwards, as Keras's does.
      const auto query_mask =
          example::read_tensor<std::uint8_t, 2>(file, "selftest.luong_concat.query_mask");
      const auto p = load<luong_concat>(file);
      const auto call = [&] {
        luong_concat::forward(p, q, v, y, ws, keep_keys(value_mask),
                              tfm::masks::keep_queries<>{tfm::as_view<2>(query_mask)});
      };
      call();
      check(layer, "Attention(score_mode=\"concat\", use_scale=True), mask=[query, value]", y,
            call);
    } else {
      const auto p = load<additive>(file);
      const auto call = [&] { additive::forward(p, q, v, y, ws, keep_keys(value_mask)); };
      call();
      check(layer, "AdditiveAttention(), mask=[None, value_mask]", y, call);
    }
  }

  {  // One decoder step per sentence: state (3, 32) -> context (3, 32).
    const auto state = sample<2>(file, "bahdanau", "query");
    const auto values = sample<3>(file, "bahdanau", "value");
    const auto value_mask =
        example::read_tensor<std::uint8_t, 2>(file, "selftest.bahdanau.value_mask");
    const auto p = load<bahdanau>(file);
    xt::xtensor<float, 2> context = xt::zeros<float>(state.shape());
    const auto call = [&] {
      bahdanau::attend_one(p, state, values, values, context, ws, keep_keys(value_mask));
    };
    call();
    check("bahdanau", "BahdanauAttention(16)(state, encoder outputs), padded steps masked", context,
          call);
  }

  {  // keras-multi-head as self-attention, padded keys masked.
    const auto x = sample<3>(file, "mha", "query");
    const auto value_mask = example::read_tensor<std::uint8_t, 2>(file, "selftest.mha.value_mask");
    const auto p = load<keras_multi_head>(file);
    xt::xtensor<float, 3> y = xt::zeros<float>(x.shape());
    const auto call = [&] { keras_multi_head::forward(p, x, x, x, y, ws, keep_keys(value_mask)); };
    call();
    check("mha", "keras_multi_head.MultiHeadAttention(head_num=4), mask=value_mask", y, call);
  }

  {  // TensorFlow's tutorial with its padding mask (given here as lengths).
    const auto x = sample<3>(file, "tutorial_tf", "query");
    std::vector<tfm::extent_t> lengths;
    for (auto n : file.read_integers("selftest.tutorial_tf.key_lengths")) lengths.push_back(n);
    const auto p = load<tensorflow_tutorial>(file);
    xt::xtensor<float, 3> y = xt::zeros<float>(x.shape());
    const auto call = [&] {
      tensorflow_tutorial::forward(p, x, x, x, y, ws, tfm::masks::key_lengths{lengths});
    };
    call();
    check("tutorial_tf", "TensorFlow tutorial MultiHeadAttention(d_model=32, num_heads=4)", y,
          call);
  }

  {  // MachineLearningMastery's layer with its look-ahead mask: 16 wide in, 64 wide out.
    const auto x = sample<3>(file, "tutorial_mlm", "query");
    const auto p = load<mlm_tutorial>(file);
    xt::xtensor<float, 3> y = xt::zeros<float>({x.shape()[0], x.shape()[1], std::size_t(64)});
    const auto call = [&] { mlm_tutorial::forward(p, x, x, x, y, ws, tfm::masks::causal{}); };
    call();
    check("tutorial_mlm", "MachineLearningMastery MultiHeadAttention(h=4, d_k=32, d_v=48, 64)", y,
          call);
  }

  std::printf("\n%s\n", outside == 0 ? "every layer matches its reference"
                                     : "some values are outside the tolerance");
  return outside == 0 ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "keras_attention_layers: %s\n", e.what());
  return 2;
}
