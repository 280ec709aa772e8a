#pragma once
// Timing by median (alone or interleaved with peers) and the machine's limits (FMA peak, read
// bandwidth) that every benchmark measures in the same run. No libtorch here, so that a
// benchmark of our kernels against OpenBLAS alone builds quickly.

#include <algorithm>
#include <array>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstring>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <xsimd/xsimd.hpp>

#include <typeformer/kernels/simd.hpp>
#include <typeformer/kernels/thread_pool.hpp>
#include <typeformer/tensor/aligned_buffer.hpp>

namespace bench {

/// `--quick`: fewer and shorter repetitions, for a smoke run (the spread shows the cost).
inline bool quick = false;

/// Reads the flags every benchmark shares; returns the value of `--json FILE` or "".
inline std::string parse_common_flags(int argc, char** argv) {
  std::string json;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) quick = true;
    if (std::strcmp(argv[i], "--json") == 0 && i + 1 < argc) json = argv[++i];
  }
  return json;
}

/// Median, fastest and slowest of the timed runs, in milliseconds.
struct timing {
  double median = 0, min = 0, max = 0;
  std::size_t runs = 0;
};

/// A timing as the benchmarks' JSON records hold it.
inline nlohmann::json as_json(const timing& t) {
  return {{"median", t.median}, {"min", t.min}, {"max", t.max}, {"runs", t.runs}};
}

template <class F>
timing time_ms(F&& run) {
  for (int i = 0; i < 2; ++i) run();  // warm up: caches, workspace, thread pools
  const std::size_t min_runs = quick ? 3 : 7;
  const auto min_time = quick ? std::chrono::milliseconds(300) : std::chrono::milliseconds(2000);
  std::vector<double> times;
  const auto start = std::chrono::steady_clock::now();
  while (times.size() < min_runs ||
         (times.size() < 200 && std::chrono::steady_clock::now() - start < min_time)) {
    const auto t0 = std::chrono::steady_clock::now();
    run();
    times.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  return {times[times.size() / 2], times.front(), times.back(), times.size()};
}

template <class F>
double median_ms(F&& run) {
  return time_ms(std::forward<F>(run)).median;
}

/// A pause between peers, so one's worker threads are asleep before the next is timed.
inline void settle() { std::this_thread::sleep_for(std::chrono::milliseconds(300)); }

/// A peer that times its own blocks (ONNX Runtime in a child process, onnxruntime_peer.hpp):
/// warm-up runs for `warm`, then at least one and at most `calls` timed runs until `budget` has
/// passed; returns their times in ms.
template <class F>
concept times_own_blocks = requires(F& f, std::size_t calls, std::chrono::milliseconds t) {
  { f.timed_block(calls, t, t) } -> std::convertible_to<std::vector<double>>;
};

/// The timings of several callables measured in alternating blocks, so that a drift of the
/// machine's speed falls on each of them alike and their ratios hold: this VM's speed moves by
/// 10-40% over minutes, and timed one after another, two equal runs once measured 0.65x of each
/// other. Each callable gets at least 5 blocks (3 with --quick) of a fifth of time_ms's time
/// (at most 40 calls each) and at least time_ms's 7 calls; the first of a round rotates. Blocks
/// are 150 ms apart: Debian's OpenBLAS (pthreads, not OpenMP) spins its workers for about
/// 2^28 cycles after a call, and back to back they took the second core from the next block.
/// After such a pause this VM takes about 10 ms to come back to speed on two threads (a
/// two-thread decoding step of 0.26 ms took 1.2, 0.6, 0.5 ms, ... and 0.26 only from its 30th
/// call on; one thread was at speed from its third call), which was most of a block of short
/// calls: so callables faster than 2 ms run untimed for 25 ms at the start of each block.
/// A member that times_own_blocks gets the same blocks, pauses and warm-up, run on its side.
template <class... F>
std::array<timing, sizeof...(F)> time_interleaved_ms(F&... runs) {
  constexpr std::size_t n = sizeof...(F);
  // Warm up (caches, workspaces, thread pools), and find which callables are short.
  const auto warm_up = []<class G>(G& f) {
    if constexpr (times_own_blocks<G>) {
      return f.timed_block(2, std::chrono::milliseconds(0), std::chrono::milliseconds(0)).back() <
             2.0;
    } else {
      f();
      const auto t0 = std::chrono::steady_clock::now();
      f();
      return std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(2);
    }
  };
  const std::array<bool, n> short_calls{warm_up(runs)...};  // braced: left to right
  const std::size_t min_runs = quick ? 3 : 7, min_blocks = quick ? 3 : 5;
  const auto block_time =
      (quick ? std::chrono::milliseconds(300) : std::chrono::milliseconds(2000)) /
      static_cast<int>(min_blocks);
  const std::size_t block_calls = 200 / min_blocks;
  std::array<std::vector<double>, n> times;
  const auto run_block = [&]<std::size_t I, class G>(G& f) {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    if constexpr (times_own_blocks<G>) {
      const auto warm = std::chrono::milliseconds(short_calls[I] ? 25 : 0);
      const auto t = f.timed_block(block_calls, block_time, warm);
      times[I].insert(times[I].end(), t.begin(), t.end());
    } else {
      if (short_calls[I]) {
        const auto warm_start = std::chrono::steady_clock::now();
        while (std::chrono::steady_clock::now() - warm_start < std::chrono::milliseconds(25)) f();
      }
      const auto start = std::chrono::steady_clock::now();
      for (std::size_t calls = 0;
           calls == 0 ||
           (calls < block_calls && std::chrono::steady_clock::now() - start < block_time);
           ++calls) {
        const auto t0 = std::chrono::steady_clock::now();
        f();
        const auto t1 = std::chrono::steady_clock::now();
        times[I].push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      }
    }
  };
  for (std::size_t round = 0;; ++round) {
    bool done = round >= min_blocks;
    for (const auto& t : times) done = done && t.size() >= min_runs;
    if (done) break;
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t which = (round + k) % n;
      [&]<std::size_t... I>(std::index_sequence<I...>) {
        (..., (which == I ? run_block.template operator()<I>(runs) : void()));
      }
      (std::index_sequence_for<F...>{});
    }
  }
  std::array<timing, n> out;
  for (std::size_t i = 0; i < n; ++i) {
    auto& t = times[i];
    std::sort(t.begin(), t.end());
    out[i] = {t[t.size() / 2], t.front(), t.back(), t.size()};
  }
  return out;
}

/// Independent chains of FMAs on the widest registers this build has, enough of them to cover
/// the FMA latency (2 pipes × 4–5 cycles) while all of them and the two operands stay in
/// registers: 16 chains spilled on AVX2's 16 registers and measured half the peak. The chain loop
/// is unrolled by pragma: at -O2, GCC left the chains in memory (a fifth of the peak).
struct fma_chains {
  using batch = xsimd::batch<float>;
  static constexpr int chains = 12;
  static constexpr double flops_per_step = 2.0 * chains * batch::size;
  /// Runs `steps` steps; returns a value that depends on every chain, so none is optimised out.
  static float run(long steps) noexcept {
    batch acc[chains];
    for (int c = 0; c < chains; ++c) acc[c] = batch(1.0f + 1e-3f * static_cast<float>(c));
    const batch mul(0.999999f), add(1e-6f);
    for (long i = 0; i < steps; ++i)
#pragma GCC unroll 16
      for (int c = 0; c < chains; ++c) acc[c] = xsimd::fma(acc[c], mul, add);
    float sink = 0;
    for (int c = 0; c < chains; ++c) sink += xsimd::hadd(acc[c]);
    return sink;
  }
};

/// The machine's FP32 FMA peak in GFLOP/s on `threads` threads of their own.
inline double fma_peak_gflops(int threads) {
  constexpr long steps = 20'000'000;
  std::vector<double> rates(static_cast<std::size_t>(threads));
  auto one = [&](int t) {
    const auto t0 = std::chrono::steady_clock::now();
    const float sink = fma_chains::run(steps);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rates[static_cast<std::size_t>(t)] =
        fma_chains::flops_per_step * steps / s * 1e-9 + (sink == 42 ? 1 : 0);
  };
  // The best of five attempts: a peak is a ceiling, and on these VMs one attempt in several
  // loses a thread's core to the host for part of its 40 ms (2 threads once measured 101).
  double best = 0;
  for (int attempt = 0; attempt < 5; ++attempt) {
    std::vector<std::thread> workers;
    for (int t = 1; t < threads; ++t) workers.emplace_back(one, t);
    one(0);
    for (auto& w : workers) w.join();
    double total = 0;
    for (double r : rates) total += r;
    best = std::max(best, total);
  }
  return best;
}

/// The FMA chains on `threads` threads of a pool like the kernels' (in pieces taken as threads
/// come free, so a thread the host has taken shows as a lower rate): a callable, so that the
/// rate the machine gives can be timed in the same alternating blocks as a kernel bounded by it.
/// A call is about a millisecond of work per thread at the peak.
class fma_probe {
 public:
  explicit fma_probe(int threads) : pool_(static_cast<std::size_t>(threads)) {}
  double gflop() const noexcept {
    return fma_chains::flops_per_step * double(piece_steps * pieces()) * 1e-9;
  }
  /// The rate of calls whose median took `median_ms`, as a percentage of `peak_gflops`.
  double percent_of_peak(double median_ms, double peak_gflops) const noexcept {
    return 100 * gflop() / median_ms * 1e3 / peak_gflops;
  }
  void operator()() {
    pool_.parallel_for(pieces(), 1, [&](std::size_t b, std::size_t e, std::size_t who) {
      for (std::size_t i = b; i < e; ++i)
        sinks_[who % sinks_.size()] += fma_chains::run(piece_steps);
    });
  }

 private:
  static constexpr long piece_steps = 25'000;
  std::size_t pieces() const noexcept { return pool_.size() * 16; }
  typeformer::thread_pool pool_;
  std::array<float, 8> sinks_{};
};

/// A read of `bytes` (a SIMD sum with four accumulators) on `threads` threads of its own pool:
/// a callable, so that the bandwidth can be timed in the same alternating blocks as what it
/// bounds.
class read_probe {
 public:
  read_probe(int threads, std::size_t bytes)
      : n_(bytes / sizeof(float)), data_(n_), pool_(static_cast<std::size_t>(threads)) {
    std::fill_n(data_.data(), n_, 1.0f);
  }
  std::size_t bytes() const noexcept { return n_ * sizeof(float); }
  void operator()() {
    namespace tfm = typeformer;
    using O = tfm::simd::ops<tfm::simd::best_arch>;
    constexpr std::size_t W = O::width;
    const std::size_t chunk = (n_ + pool_.size() - 1) / pool_.size();
    pool_.parallel_for(n_, chunk, [&](std::size_t b, std::size_t e, std::size_t who) {
      auto s0 = O::splat(0), s1 = s0, s2 = s0, s3 = s0;
      for (std::size_t i = b; i + 4 * W <= e; i += 4 * W) {
        s0 = s0 + O::load(data_.data() + i);
        s1 = s1 + O::load(data_.data() + i + W);
        s2 = s2 + O::load(data_.data() + i + 2 * W);
        s3 = s3 + O::load(data_.data() + i + 3 * W);
      }
      sums_[who % sums_.size()] += O::sum(s0 + s1 + s2 + s3);
    });
  }

 private:
  std::size_t n_;
  typeformer::aligned_buffer<float> data_;
  typeformer::thread_pool pool_;
  std::array<float, 8> sums_{};
};

/// Read bandwidth in bytes/s: the median of read_probe's passes over `bytes` (by default
/// 256 MiB, far beyond the caches) on `threads` threads.
inline double read_bandwidth(int threads, std::size_t bytes = std::size_t(256) << 20) {
  read_probe probe(threads, bytes);
  return double(probe.bytes()) / (median_ms(probe) * 1e-3);
}

}  // namespace bench
