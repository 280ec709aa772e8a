// keras-multi-head's "multi-head LSTM": multi_head<lstm<64>, 3> over 20-wide inputs, against
// (a) the same three LSTMs run one copy at a time (a runner of one lstm<64>, called three
// times: what a user gets without the wrapper), and (b) three libtorch nn::LSTM(20, 64,
// batch_first) modules, same weights, same process. 1 and 2 threads. Prints median
// milliseconds, GFLOP/s and the speed-ups.
//
// FLOPs counted: per head, step and sequence 2·4u·(in + u) for the two GEMMs (the gate
// non-linearities are not counted).

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include <typeformer/typeformer.hpp>

#include "bench_common.hpp"

namespace tfm = typeformer;
using namespace tfm::dims;

namespace {

constexpr long in_width = 20, units = 64, heads = 3;

using heads_model =
    tfm::model<tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<in_width>>,
               tfm::multi_head<tfm::lstm<"lstm", units>, heads>>;
using one_copy = tfm::model<tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<in_width>>,
                            tfm::lstm<"lstm", units>>;

void bench_shape(long B, long L) {
  torch::manual_seed(0);
  std::vector<torch::nn::LSTM> torch_heads;
  for (long h = 0; h < heads; ++h) {
    torch_heads.emplace_back(torch::nn::LSTMOptions(in_width, units).batch_first(true));
    torch_heads.back()->eval();
  }
  // lstm_<h>.weight_ih_l0 ... from the h-th module.
  const auto weight_of = [&](const std::string& name) {
    const auto dot = name.find('.');
    const long h = std::stol(name.substr(name.find('_') + 1, dot)) - 1;
    return bench::to_vector(torch_heads[std::size_t(h)]->named_parameters()[name.substr(dot + 1)]);
  };
  const auto weights = heads_model::from_weights(tfm::naming::pytorch, weight_of);
  std::vector<one_copy::parameters> copies;
  for (long h = 1; h <= heads; ++h)
    copies.push_back(one_copy::from_weights(tfm::naming::pytorch, [&](const std::string& name) {
      return weight_of("lstm_" + std::to_string(h) + name.substr(name.find('.')));
    }));

  torch::Tensor x = torch::randn({B, L, in_width});
  xt::xtensor<float, 3> xin =
      xt::empty<float>({std::size_t(B), std::size_t(L), std::size_t(in_width)});
  std::copy_n(x.data_ptr<float>(), x.numel(), xin.data());
  xt::xtensor<float, 3> y =
      xt::empty<float>({std::size_t(B), std::size_t(units), std::size_t(heads)});
  xt::xtensor<float, 2> copy_y = xt::empty<float>({std::size_t(B), std::size_t(units)});

  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> last(heads);
  auto theirs = [&] {
    for (long h = 0; h < heads; ++h) {
      auto out = std::get<0>(torch_heads[std::size_t(h)]->forward(x));
      last[std::size_t(h)] = out.select(1, L - 1);
    }
  };
  theirs();
  const auto reference = torch::stack(last, -1).contiguous();

  const double gflop =
      double(heads) * double(B) * double(L) * 2.0 * 4.0 * units * double(in_width + units) * 1e-9;
  for (int threads : {1, 2}) {
    tfm::runner<heads_model> run(weights,
                                 {.threads = std::size_t(threads), .max_batch = B, .max_seq = L});
    std::vector<std::unique_ptr<tfm::runner<one_copy>>> singles;
    for (const auto& p : copies)
      singles.push_back(std::make_unique<tfm::runner<one_copy>>(
          p, tfm::runner_options{.threads = std::size_t(threads), .max_batch = B, .max_seq = L}));
    auto ours = [&] { run(xin, y); };
    auto one_at_a_time = [&] {
      for (auto& single : singles) (*single)(xin, copy_y);
    };
    ours();
    const double max_diff = bench::max_abs_diff(reference.data_ptr<float>(), y.data(), y.size());
    torch::set_num_threads(threads);
    bench::settle();
    const auto timings = bench::time_interleaved_ms(ours, one_at_a_time, theirs);
    const double t_ours = timings[0].median, t_copies = timings[1].median,
                 t_torch = timings[2].median;
    std::printf(
        "%3ld %4ld %2d | %8.3f %6.1f | %8.3f %6.1f | %8.3f %6.1f | %5.2fx | %5.2fx | %.1e\n", B, L,
        threads, t_ours, gflop / t_ours * 1e3, t_copies, gflop / t_copies * 1e3, t_torch,
        gflop / t_torch * 1e3, t_copies / t_ours, t_torch / t_ours, max_diff);
  }
}

}  // namespace

int main(int argc, char** argv) {
  bench::parse_common_flags(argc, argv);
  bench::configure_peers();
  std::printf("typeformer instruction set: %s; PyTorch %s with OMP_WAIT_POLICY=PASSIVE\n",
              std::string(tfm::simd::best_arch::name()).c_str(), TORCH_VERSION);
  std::printf(
      "multi_head<lstm<64>, 3> on (B, L, 20) inputs; median ms over >= 7 runs (>= 2 s) each, "
      "the three timed in alternating blocks\n");
  std::printf(
      "  B    L th | multi_head GFLOP/s | 1 at a time GFLOP/s |  PyTorch GFLOP/s | copies/ours | "
      "torch/ours | max|diff|\n");
  bench_shape(1, 50);
  bench_shape(1, 400);
  bench_shape(8, 50);
  bench_shape(32, 50);
  bench_shape(8, 200);
}
