// query_dot multiplies the query by a row of a 2-D table (Shaw's rel_k[r]), not by one element.
// expect-first-error: query_dot takes one row of a 2-D float operand table
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 9
// max-error-width: 450
#include <typeformer/typeformer.hpp>

using namespace typeformer::expr;
constexpr auto bucket = clamp(kv_idx - q_idx, -10, 10) + 10;
#ifdef TYPEFORMER_OK_TWIN
constexpr operand<"rel_k", float, 21, typeformer::dynamic> rel_k;
constexpr auto shaw = score + query_dot(rel_k[bucket]);
#else
constexpr operand<"rel_k", float, 21> rel_k;
constexpr auto shaw = score + query_dot(rel_k[bucket]);
#endif
int main() { return decltype(shaw)::kind == value_kind::real ? 0 : 1; }
