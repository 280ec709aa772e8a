// A Keras-style declaration (key_dim_per_head independent of d_model / heads) cannot be
// loaded by PyTorch names: nn.MultiheadAttention has no such parameterisation.
// expect-first-error: pytorch_names_need_head_width_d_model_over_heads
// expect-first-error: 'm', 'h', 'a'
// expect-first-error: 20, 7
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 8
#include <typeformer/layers/multi_head_attention.hpp>

namespace tfm = typeformer;
using namespace tfm::dims;
using layer = tfm::multi_head_attention<"mha", heads<4>, d_model<30>, key_dim_per_head<20>>;
#ifdef TYPEFORMER_OK_TWIN
auto names = layer::expected_weights(tfm::naming::keras);
#else
auto names = layer::expected_weights(tfm::naming::pytorch);
#endif
