// A mask function yields a condition; a number (a bias) belongs in a score function.
// expect-first-error: mask_function<E> takes a condition
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 12
#include <typeformer/expr/evaluate.hpp>

using namespace typeformer::expr;
#ifdef TYPEFORMER_OK_TWIN
constexpr auto window = q_idx - kv_idx < 128;
#else
constexpr auto window = q_idx - kv_idx;
#endif
const auto mask = mask_function<window>();
