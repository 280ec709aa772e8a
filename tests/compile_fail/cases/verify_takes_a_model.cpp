// load_weights of a bare layer with verify::on: one error that says the self-test takes a
// model<...> and how to wrap the layer (or load without verify), not a dozen inside the
// self-test's code. A whole program: declare, load with the self-test.
// expect-first-error: verify::on runs the file's self-test, which takes a model<...>
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 12
#include <typeformer/typeformer.hpp>

namespace tfm = typeformer;
using namespace tfm::dims;

using self_attention = tfm::multi_head_attention<"self_attn", heads<8>, d_model<512>>;
#ifdef TYPEFORMER_OK_TWIN
using loaded =
    tfm::model<tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<512>>, self_attention>;
#else
using loaded = self_attention;
#endif

int main(int argc, char** argv) {
  if (argc < 2) return 1;
  const auto weights = tfm::load_weights<loaded>(argv[1], tfm::naming::pytorch, tfm::verify::on);
  (void)weights;
  return 0;
}
