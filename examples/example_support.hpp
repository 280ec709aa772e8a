#pragma once
// What the examples share: comparing an output with the reference a weight file carries beside
// its weights, and timing a call. Not part of the library; copy it with an example.

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <type_traits>
#include <vector>

#include <typeformer/core/errors.hpp>
#include <typeformer/io/safetensors.hpp>
#include <typeformer/model/runner.hpp>

namespace example {

/// The tolerance the file's metadata states for its sample (`selftest.atol`, `selftest.rtol`: the
/// library's self-test convention, decimal text, so no JSON parser is compiled in for it).
inline double stated_tolerance(const typeformer::io::safetensors_file& file, const char* key) {
  const auto it = file.metadata().find(key);
  if (it == file.metadata().end())
    throw typeformer::format_error(std::string("__metadata__ lacks \"") + key + "\"");
  return std::stod(it->second);
}

/// Prints the largest |ours − reference| over the file's `reference` tensor and how many values
/// fall outside the tolerance stated in its metadata; returns that count.
inline std::size_t compare_with_reference(const typeformer::io::safetensors_file& file,
                                          const float* ours, const std::string& reference_name,
                                          const char* what) {
  const double atol = stated_tolerance(file, "selftest.atol");
  const double rtol = stated_tolerance(file, "selftest.rtol");
  const auto reference = file.read_floats(reference_name);
  double worst = 0.0;
  std::size_t outside = 0;
  for (std::size_t i = 0; i < reference.size(); ++i) {
    const double diff = std::fabs(double(ours[i]) - reference[i]);
    worst = std::max(worst, diff);
    if (diff > atol + rtol * std::fabs(reference[i])) ++outside;
  }
  std::printf("max |ours - %s| = %.2e over %zu values; %zu outside atol %.0e + rtol %.0e\n", what,
              worst, reference.size(), outside, atol, rtol);
  return outside;
}

/// The median of `repeats` calls of `call`, in milliseconds.
template <class Call>
double median_ms(Call&& call, int repeats) {
  std::vector<double> times;
  for (int i = 0; i < repeats; ++i) {
    const auto start = std::chrono::steady_clock::now();
    call();
    times.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

/// A tensor of the file with the given rank, converted to T (floats for float, integers else).
template <class T, std::size_t Rank>
xt::xtensor<T, Rank> read_tensor(const typeformer::io::safetensors_file& file,
                                 const std::string& name) {
  const auto* info = file.find(name);
  if (!info || info->shape.size() != Rank)
    throw typeformer::format_error(name + ": no tensor of rank " + std::to_string(Rank) +
                                   " of that name");
  std::array<std::size_t, Rank> shape;
  for (std::size_t i = 0; i < Rank; ++i) shape[i] = std::size_t(info->shape[i]);
  xt::xtensor<T, Rank> t = xt::empty<T>(shape);
  if constexpr (std::is_floating_point_v<T>) {
    const auto values = file.read_floats(name);
    std::copy(values.begin(), values.end(), t.begin());
  } else {
    const auto values = file.read_integers(name);
    std::transform(values.begin(), values.end(), t.begin(),
                   [](auto v) { return static_cast<T>(v); });
  }
  return t;
}

/// A (batch, length) int32 tensor of the file: token ids.
inline xt::xtensor<std::int32_t, 2> read_ids(const typeformer::io::safetensors_file& file,
                                             const std::string& name) {
  return read_tensor<std::int32_t, 2>(file, name);
}

/// Times `Model` on x → y with runners of 1 and 2 threads: the median of `repeats` warm calls.
template <class Model, class X, class Y>
void print_times(const typename Model::parameters& weights, const X& x, Y& y, const char* what,
                 int repeats) {
  for (std::size_t threads : {1u, 2u}) {
    typeformer::runner<Model> timed(weights, {.threads = threads});
    timed(x, y);
    std::printf("%s on %zu thread(s): %.3f ms (median of %d)\n", what, threads,
                median_ms([&] { timed(x, y); }, repeats), repeats);
  }
}

}  // namespace example
