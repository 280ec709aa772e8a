// One loaded weight set, several runners on several threads at once: each runner owns its
// workspace and only reads the weights, so the results equal a lone run's. Built under
// ThreadSanitizer by the `tsan` preset, where any unsynchronised access fails the test.

#include <catch2/catch.hpp>

#include <string>
#include <thread>
#include <vector>

#include <typeformer/typeformer.hpp>

#include "synthetic_parameters.hpp"

namespace tfm = typeformer;
using namespace tfm::dims;

TEST_CASE("runners on separate threads share one read-only weight set") {
  using model = tfm::model<
      tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<32>, max_batch<2>, max_seq<9>>,
      tfm::repeat<"layers", 2, tfm::transformer_encoder_layer<heads<4>, dim_feedforward<40>>>,
      tfm::layer_norm<"norm">>;
  const auto weights = synthetic_parameters<model>(
      [](std::size_t i, std::size_t t) { return float((i * 29 + t) % 83) / 166.0f - 0.25f; });

  std::vector<float> x(2 * 9 * 32);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(i % 17) / 17.0f - 0.5f;
  const std::vector<tfm::extent_t> lengths = {9, 4};
  const tfm::tensor_view<const float, 2, 9, 32> in(x.data());

  std::vector<float> expected(x.size());
  {
    tfm::runner<model> alone(weights);
    alone(in, tfm::tensor_view<float, 2, 9, 32>(expected.data()), tfm::masks::key_lengths{lengths});
  }

  // Two runners with one thread each, and one with a pool of two, all at once.
  constexpr int callers = 3;
  std::vector<std::vector<float>> results(callers, std::vector<float>(x.size()));
  std::vector<std::thread> threads;
  for (int c = 0; c < callers; ++c)
    threads.emplace_back([&, c] {
      tfm::runner<model> run(weights, {.threads = c == 2 ? 2u : 1u});
      for (int call = 0; call < 4; ++call)
        run(in, tfm::tensor_view<float, 2, 9, 32>(results[std::size_t(c)].data()),
            tfm::masks::key_lengths{lengths});
    });
  for (auto& t : threads) t.join();
  for (int c = 0; c < callers; ++c) {
    INFO("caller " << c);
    for (std::size_t i = 0; i < x.size(); ++i)
      REQUIRE(results[std::size_t(c)][i] == Approx(expected[i]).margin(1e-5));
  }
}
