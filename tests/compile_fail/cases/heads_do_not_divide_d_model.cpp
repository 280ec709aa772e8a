// PyTorch's rule: without a declared key_dim_per_head, heads must divide d_model.
// expect-first-error: heads_do_not_divide_d_model
// expect-first-error: 's', 'e', 'l', 'f', '_', 'a', 't', 't', 'n'
// expect-first-error: 500, 8
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 8
#include <typeformer/layers/multi_head_attention.hpp>

using namespace typeformer::dims;
#ifdef TYPEFORMER_OK_TWIN
using layer = typeformer::multi_head_attention<"self_attn", heads<8>, d_model<512>>;
#else
using layer = typeformer::multi_head_attention<"self_attn", heads<8>, d_model<500>>;
#endif
static_assert(layer::parameter_count > 0);
