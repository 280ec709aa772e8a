#pragma once
// The consumer's model, in a header of its own so that typeformer_add_manifest can write its
// weight manifest at build time.
#include <typeformer/typeformer.hpp>

namespace consumer {
using namespace typeformer::dims;
using attention = typeformer::multi_head_attention<"self_attn", heads<2>, d_model<4>>;
}  // namespace consumer
