// Proves the harness can fail: this case fails to compile, but not with the stated text,
// so check_case.cmake must report it (registered with WILL_FAIL).
// expect-first-error: this_text_is_not_in_any_diagnostic
// max-lines: 12
#include <typeformer/layers/multi_head_attention.hpp>

using namespace typeformer::dims;
using layer = typeformer::multi_head_attention<"self_attn", heads<8>, d_model<500>>;
static_assert(layer::parameter_count > 0);
