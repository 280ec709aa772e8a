// The walkthrough's C++ declaration of my_model.py's TokenTagger (docs/guide/7-walkthrough.md).
#pragma once

#include <typeformer/typeformer.hpp>

namespace my_app {

namespace tfm = typeformer;
using namespace tfm::dims;

// nn.TransformerEncoder(nn.TransformerEncoderLayer(64, 4, 128, activation="gelu",
// batch_first=True), 2), then nn.Linear(64, 10). With padding, PyTorch's encoder fast path
// zeroes the padded positions before the head: zero_padded_positions.
using token_tagger = tfm::model<
    tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<64>, max_batch<8>, max_seq<128>>,
    tfm::repeat<"encoder.layers", 2,
                tfm::transformer_encoder_layer<heads<4>, dim_feedforward<128>,
                                               tfm::with_activation<tfm::activations::gelu>>>,
    tfm::zero_padded_positions, tfm::dense<"head", 10>>;

}  // namespace my_app
