// An encoder-decoder of LAYERS layers each (nn.Transformer's two stacks), decoded greedily:
// the depth-scaling case (12 layers against 1).
#include <vector>

#include <typeformer/typeformer.hpp>

namespace tfm = typeformer;
using namespace tfm::dims;

using encoder = tfm::model<
    tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<256>, max_batch<4>, max_seq<64>>,
    tfm::scope<"transformer.encoder",
               tfm::repeat<"layers", LAYERS,
                           tfm::transformer_encoder_layer<heads<4>, dim_feedforward<1024>>>,
               tfm::layer_norm<"norm">>>;
using decoder = tfm::model<
    tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<256>, max_batch<4>, max_seq<64>>,
    tfm::memory<seq<tfm::dynamic>, d_model<256>, max_seq<64>>,
    tfm::scope<"transformer.decoder",
               tfm::repeat<"layers", LAYERS,
                           tfm::transformer_decoder_layer<heads<4>, dim_feedforward<1024>>>,
               tfm::layer_norm<"norm">>>;

int main() {
  const auto enc = tfm::random_parameters<encoder>(1);
  const auto dec = tfm::random_parameters<decoder>(2);
  tfm::runner<encoder> encode(enc);
  tfm::runner<decoder> decode(dec);
  xt::xtensor<float, 3> source =
      xt::ones<float>({std::size_t{2}, std::size_t{9}, std::size_t{256}});
  const auto memory = encode(source);
  xt::xtensor<float, 3> target =
      xt::ones<float>({std::size_t{2}, std::size_t{1}, std::size_t{256}});
  xt::xtensor<float, 3> step = xt::zeros<float>({std::size_t{2}, std::size_t{1}, std::size_t{256}});
  decode.start_decoding(memory);
  for (int i = 0; i < 4; ++i) decode.decode(target, step);
  return step(0, 0, 0) > 1e30f;
}
