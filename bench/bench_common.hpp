#pragma once
// What the benchmarks with PyTorch as a peer share beyond timing: tensors out of libtorch,
// agreement checks and the settings that keep the peers from hurting each other.

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <vector>

#include <malloc.h>
#include <torch/torch.h>

#include "bench_timing.hpp"

namespace bench {

/// Heap allocations through operator new, counted by the replacement in
/// allocation_counter.hpp (zero if a benchmark does not include it).
inline std::atomic<long> allocations{0};

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

/// Before any peer runs: OpenMP (libtorch) threads spin after their loops by default and would
/// steal the second core from whichever peer runs next, so they sleep instead (OpenBLAS's
/// pthreads ignore this; the pauses of settle() and time_interleaved_ms outlast their spin).
/// PyTorch allocates its temporaries (the S×S scores among them) per call; with glibc's defaults
/// large blocks are mmap'ed and returned each time, and the peer spends its time re-faulting pages;
/// keep freed memory instead, as the performance issue prescribes.
inline void configure_peers() {
  setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

}  // namespace bench
