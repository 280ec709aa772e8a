// A mask function says which keys are seen before any score exists: it cannot read `score`.
// expect-first-error: a mask function cannot read `score`
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 12
#include <typeformer/expr/evaluate.hpp>

using namespace typeformer::expr;
#ifdef TYPEFORMER_OK_TWIN
constexpr auto visible = kv_idx <= q_idx;
#else
constexpr auto visible = kv_idx <= q_idx && score > 0.0f;
#endif
const auto mask = mask_function<visible>();
