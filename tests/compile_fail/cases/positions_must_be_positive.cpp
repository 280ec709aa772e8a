// A learned position table needs at least one position.
// expect-first-error: positions_must_be_positive
// expect-first-error: 'p', 'o', 's'
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 8
#include <typeformer/layers/positional_encoding.hpp>

namespace tfm = typeformer;
using namespace tfm::dims;
#ifdef TYPEFORMER_OK_TWIN
constexpr tfm::extent_t positions = 64;
#else
constexpr tfm::extent_t positions = 0;
#endif
using layer = tfm::position_embedding<"pos", positions, d_model<32>>;
static_assert(layer::d_model == 32);
