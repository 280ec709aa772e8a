// A value function adds a row of a 2-D table to the values (Shaw's rel_v[r]), not a number.
// expect-first-error: value_function<E> takes one row of a 2-D float operand table
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 9
// max-error-width: 450
#include <typeformer/typeformer.hpp>

using namespace typeformer::expr;
constexpr auto bucket = clamp(kv_idx - q_idx, -10, 10) + 10;
#ifdef TYPEFORMER_OK_TWIN
constexpr operand<"rel_v", float, 21, typeformer::dynamic> rel_v;
#else
constexpr operand<"rel_v", float, 21> rel_v;
#endif
const float table[21 * 4] = {};
const auto values = value_function<rel_v[bucket]>(bind<"rel_v">(table, {21, 4}));
int main() { return 0; }
