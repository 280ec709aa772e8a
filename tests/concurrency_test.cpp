// One loaded weight set, several runners on several threads at once: each runner owns its
// workspace and only reads the weights, so the results equal a lone run's. Built under
// ThreadSanitizer by the `tsan` preset, where any unsynchronised access fails the test.

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
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

TEST_CASE("thread_pool: workers that arrive after the caller finished a loop leave it alone") {
  // Tiny loops that the caller may finish before a worker wakes: the caller closes the loop
  // and returns, and the late worker must neither run a chunk of it nor read the next loop's
  // job while it is written (ThreadSanitizer runs this). Pauses around spin_time put the
  // workers at every stage of falling asleep.
  for (std::size_t threads : {2u, 3u}) {
    tfm::thread_pool pool(threads);
    std::atomic<int> total{0};
    int expected = 0;
    for (int round = 0; round < 300; ++round) {
      if (round % 3 == 0)
        std::this_thread::sleep_for(tfm::thread_pool::spin_time * (round % 4) / 2);
      const std::size_t count = 2 + std::size_t(round % 5);
      std::vector<int> visits(count, 0);
      pool.parallel_for(count, 1, [&](std::size_t begin, std::size_t end, std::size_t who) {
        // Catch2's assertions are not thread-safe: count in the body, check on the caller.
        for (std::size_t i = begin; i < end; ++i) visits[i] += who < threads ? 1 : 100;
        total.fetch_add(int(end - begin), std::memory_order_relaxed);
      });
      expected += int(count);
      for (std::size_t i = 0; i < count; ++i) REQUIRE(visits[i] == 1);
      REQUIRE(total.load() == expected);
    }
    std::this_thread::sleep_for(tfm::thread_pool::spin_time * 3);
    REQUIRE(total.load() == expected);  // nothing ran after its loop returned
  }
}

TEST_CASE("thread_pool: back-to-back loops, loops after the workers fell asleep, and teardown") {
  // Every index is visited exactly once per loop, whether the workers are still polling from
  // the previous loop or had to be woken from the condition variable.
  for (std::size_t threads : {2u, 3u}) {
    tfm::thread_pool pool(threads);
    std::vector<int> visits(1000);
    const auto loop = [&](std::size_t count, std::size_t grain) {
      std::fill(visits.begin(), visits.end(), 0);
      pool.parallel_for(count, grain, [&](std::size_t begin, std::size_t end, std::size_t who) {
        for (std::size_t i = begin; i < end; ++i) visits[i] += who < threads ? 1 : 100;
      });
      for (std::size_t i = 0; i < visits.size(); ++i) REQUIRE(visits[i] == (i < count ? 1 : 0));
    };
    for (int round = 0; round < 200; ++round) loop(1 + std::size_t(round * 37) % 1000, 7);
    for (int round = 0; round < 3; ++round) {
      std::this_thread::sleep_for(tfm::thread_pool::spin_time * 5);  // the workers block
      loop(999, 3);
    }
  }
  {  // Destroyed while its workers poll, and while they sleep.
    tfm::thread_pool polling(2);
    polling.parallel_for(10, 1, [](std::size_t, std::size_t, std::size_t) {});
  }
  tfm::thread_pool sleeping(2);
  sleeping.parallel_for(10, 1, [](std::size_t, std::size_t, std::size_t) {});
  std::this_thread::sleep_for(tfm::thread_pool::spin_time * 5);
}
