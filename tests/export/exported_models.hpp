#pragma once
// The C++ declarations of the exported models -- examples/pytorch_modules.py's modules and the
// Keras fixtures -- as the export round trips, the tfjs tests and the manifest tests use them.

#include <typeformer/typeformer.hpp>

namespace exported_models {

namespace tfm = typeformer;
using namespace typeformer::dims;

// examples/pytorch_modules.py: small_encoder. PyTorch's inference fast path zeroes padded
// positions before the final norm, hence zero_padded_positions.
template <tfm::activation_function Activation>
using small_encoder = tfm::model<
    tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<32>, max_batch<4>, max_seq<16>>,
    tfm::repeat<"layers", 2,
                tfm::transformer_encoder_layer<heads<4>, dim_feedforward<64>,
                                               tfm::with_activation<Activation>>>,
    tfm::zero_padded_positions, tfm::layer_norm<"norm">>;

// examples/pytorch_modules.py: causal_token_model (the causal mask comes from the self-test's
// selftest.causal flag).
template <class... NormFirst>
using causal_token_model = tfm::model<
    tfm::tokens<batch<tfm::dynamic>, seq<tfm::dynamic>, max_batch<4>, max_seq<16>>,
    tfm::embedding<"embed", 50, 32>,
    tfm::repeat<"encoder.layers", 2,
                tfm::transformer_encoder_layer<heads<4>, dim_feedforward<64>, NormFirst...>>,
    tfm::dense<"head", 50>>;

// examples/pytorch_modules.py: small_decoder, nn.TransformerDecoder (post-norm unless NormFirst).
template <class... NormFirst>
using small_decoder = tfm::model<
    tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<32>, max_batch<4>, max_seq<16>>,
    tfm::memory<seq<tfm::dynamic>, d_model<32>, max_seq<16>>,
    tfm::repeat<"layers", 2,
                tfm::transformer_decoder_layer<heads<4>, dim_feedforward<64>, NormFirst...>>,
    tfm::layer_norm<"norm">>;

// examples/pytorch_modules.py: encoder_with_head, a custom module (an encoder without a final
// norm, then a Linear head). With padding, PyTorch's fast path zeroes the padded positions at the
// encoder's output, which the head then sees: zero_padded_positions goes before the head.
template <class... ZeroPadded>
using encoder_with_head = tfm::model<
    tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<32>, max_batch<4>, max_seq<16>>,
    tfm::repeat<"encoder.layers", 2, tfm::transformer_encoder_layer<heads<4>, dim_feedforward<64>>>,
    ZeroPadded..., tfm::dense<"head", 8>>;

// Keras models: tests/data/tfjs/<name> (TensorFlow.js) and tests/data/keras_h5/<name>* (HDF5).
// Dense(16, relu) -> LayerNormalization(epsilon 1e-5) -> Dense(4).
using keras_dense_norm = tfm::model<
    tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<10>, max_batch<2>, max_seq<6>>,
    tfm::dense<"hidden", 16, tfm::activations::relu>, tfm::layer_norm<"norm", tfm::epsilon<1, -5>>,
    tfm::dense<"out", 4>>;

// Embedding(30, 8) -> LSTM(12, return_sequences) -> Dense(3, softmax).
using keras_embedding_lstm =
    tfm::model<tfm::tokens<batch<tfm::dynamic>, seq<tfm::dynamic>, max_batch<3>, max_seq<7>>,
               tfm::embedding<"embedding", 30, 8>,
               tfm::lstm<"lstm", 12, tfm::return_sequences<true>>,
               tfm::dense<"classifier", 3, tfm::activations::softmax>>;

// LayerNormalization(epsilon 1e-6)(x + MultiHeadAttention(num_heads 3, key_dim 4)(x, x)).
using keras_mha_block = tfm::model<
    tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<12>, max_batch<2>, max_seq<5>>,
    tfm::residual<tfm::multi_head_attention<"mha", heads<3>, key_dim_per_head<4>>,
                  tfm::post_norm<tfm::layer_norm<"norm", tfm::epsilon<1, -6>>>>>;

// keras-multi-head's MultiHeadAttention(head_num=3) named "self", d = 12, relu projections.
using keras_multi_head_self =
    tfm::multi_head_attention<"self", heads<3>, d_model<12>, tfm::keras_multi_head_weights,
                              tfm::projection_activation<tfm::activations::relu>>;

}  // namespace exported_models
