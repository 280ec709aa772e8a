#pragma once
// The models whose weight manifests typeformer-inspect is tested against.

#include "../export/exported_models.hpp"

namespace manifest_models {

namespace tfm = typeformer;
using namespace typeformer::dims;

// examples/pytorch_modules.py's small_encoder, as exported to tests/data/export.
using small_encoder = exported_models::small_encoder<tfm::activations::gelu>;

// The same with a wider feed-forward: the file's linear1/linear2 tensors are mis-shaped for it.
using small_encoder_wide_feedforward = tfm::model<
    tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<32>, max_batch<4>, max_seq<16>>,
    tfm::repeat<"layers", 2, tfm::transformer_encoder_layer<heads<4>, dim_feedforward<128>>>,
    tfm::zero_padded_positions, tfm::layer_norm<"norm">>;

using exported_models::keras_dense_norm;
using exported_models::keras_multi_head_self;

}  // namespace manifest_models
