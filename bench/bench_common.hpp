#pragma once
// What every side-by-side benchmark shares: timing by median, tensors out of libtorch, and the
// settings that keep the peers from hurting each other.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <thread>
#include <vector>

#include <malloc.h>
#include <torch/torch.h>

namespace bench {

template <class F>
double median_ms(F&& run) {
  for (int i = 0; i < 2; ++i) run();  // warm up: caches, workspace, thread pools
  std::vector<double> times;
  const auto start = std::chrono::steady_clock::now();
  while (times.size() < 7 || (times.size() < 200 &&
                              std::chrono::steady_clock::now() - start < std::chrono::seconds(2))) {
    const auto t0 = std::chrono::steady_clock::now();
    run();
    times.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
  return times[times.size() / 2];
}

inline std::vector<float> to_vector(const torch::Tensor& t) {
  auto c = t.detach().contiguous().to(torch::kFloat32);
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

/// The largest |reference − ours| over n values: agreement first, a fast wrong answer is not a
/// result.
inline double max_abs_diff(const float* reference, const float* ours, std::size_t n) {
  double worst = 0;
  for (std::size_t i = 0; i < n; ++i)
    worst = std::max(worst, double(std::fabs(reference[i] - ours[i])));
  return worst;
}

/// Before any peer runs: OpenMP (libtorch) and OpenBLAS threads spin after their loops by
/// default and would steal the second core from whichever peer runs next, so they sleep
/// instead. PyTorch allocates its temporaries (the S×S scores among them) per call; with
/// glibc's defaults large blocks are mmap'ed and returned each time, and the peer spends its
/// time re-faulting pages; keep freed memory instead, as the performance issue prescribes.
inline void configure_peers() {
  setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

/// A pause between peers, so one's worker threads are asleep before the next is timed.
inline void settle() { std::this_thread::sleep_for(std::chrono::milliseconds(300)); }

}  // namespace bench
