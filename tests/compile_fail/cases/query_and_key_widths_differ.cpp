// keras.layers.Attention compares query and key features one to one: their widths must agree.
// A whole program: load the layer, call it.
// expect-first-error: query_and_key_widths_differ
// expect-first-error: 'l', 'u', 'o', 'n', 'g'
// expect-first-error: 16, 12
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 12
#include <cstdint>
#include <cstdio>
#include <vector>

#include <typeformer/typeformer.hpp>

namespace tfm = typeformer;
using layer = tfm::dot_attention<"luong">;
#ifdef TYPEFORMER_OK_TWIN
constexpr tfm::extent_t key_width = 16;
#else
constexpr tfm::extent_t key_width = 12;
#endif

void run(tfm::workspace& ws, const float* q, const float* v, const float* k, float* y) {
  tfm::tensor_view<const float, 2, 5, 16> query(q);
  tfm::tensor_view<const float, 2, 9, 20> value(v);
  tfm::tensor_view<const float, 2, 9, key_width> key(k);
  tfm::tensor_view<float, 2, 5, 20> out(y);
  layer::forward(layer::parameters{}, query, value, key, out, ws);
}

int main(int argc, char** argv) {
  (void)argc;
  (void)argv;
  std::vector<float> buffer0(4096);
  std::vector<float> buffer1(4096);
  std::vector<float> buffer2(4096);
  std::vector<float> buffer3(4096);
  tfm::workspace ws;
  run(ws, buffer0.data(), buffer1.data(), buffer2.data(), buffer3.data());
  std::printf("done\n");
}
