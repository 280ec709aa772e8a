// summary<> of a bare layer (the README's first declaration): one error that says summary
// describes a model<...> and how to wrap the layer, not a dozen inside the introspection code.
// A whole program.
// expect-first-error: summary and to_dot describe a model<...>: wrap the layer
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 12
#include <iostream>

#include <typeformer/typeformer.hpp>

namespace tfm = typeformer;
using namespace tfm::dims;

using self_attention = tfm::multi_head_attention<"self_attn", heads<8>, d_model<512>>;
#ifdef TYPEFORMER_OK_TWIN
using described =
    tfm::model<tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<512>>, self_attention>;
#else
using described = self_attention;
#endif

int main() {
  std::cout << tfm::summary<described>();
  return 0;
}
