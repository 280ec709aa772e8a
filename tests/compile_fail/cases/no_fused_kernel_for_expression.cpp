// A scale outside the mask would scale an additive mask too; no kernel computes that tree.
// A whole program: load the layer, call it.
// expect-first-error: no_fused_kernel_for_expression
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 12
#include <cstdint>
#include <cstdio>
#include <vector>

#include <typeformer/typeformer.hpp>

namespace tfm = typeformer;

void run(const float* q, const float* k, const float* v, float* o, tfm::workspace& ws) {
  tfm::tensor_view<const float, 1, 2, 3, 4> Q(q), K(k), V(v);
  tfm::tensor_view<float, 1, 2, 3, 4> O(o);
#ifdef TYPEFORMER_OK_TWIN
  tfm::expr::evaluate(O, softmax(0.5f * (Q * transpose(K)) + tfm::masks::causal{}) * V, ws);
#else
  tfm::expr::evaluate(O, softmax(0.5f * (Q * transpose(K) + tfm::masks::causal{})) * V, ws);
#endif
}

int main(int argc, char** argv) {
  (void)argc;
  (void)argv;
  std::vector<float> buffer0(4096);
  std::vector<float> buffer1(4096);
  std::vector<float> buffer2(4096);
  std::vector<float> buffer3(4096);
  tfm::workspace ws;
  run(buffer0.data(), buffer1.data(), buffer2.data(), buffer3.data(), ws);
  std::printf("done\n");
}
