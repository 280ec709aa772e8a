#pragma once
// The check mode's scan (runner_options::check_finite): the first NaN or infinity in a
// (batch, length, width) block of activations is a numeric_error naming what produced it and
// where. Off by default: NaN and infinity otherwise propagate as IEEE arithmetic makes them.

#include <cmath>
#include <cstddef>
#include <cstdio>
#include <string>
#include <string_view>

#include <typeformer/core/errors.hpp>
#include <typeformer/core/text.hpp>

namespace typeformer::detail {

inline void require_finite(const float* data, std::size_t batch, std::size_t length,
                           std::size_t width, std::string_view kind, std::string_view name,
                           std::string_view what) {
  const std::size_t count = batch * length * width;
  for (std::size_t i = 0; i < count; ++i) {
    if (std::isfinite(data[i])) continue;
    const std::size_t row = i / width;
    char value[16];
    std::snprintf(value, sizeof value, "%g", static_cast<double>(data[i]));
    const std::string who = name.empty() ? std::string(kind) : concat(kind, " \"", name, "\"");
    throw numeric_error(concat(who, ": ", what, " holds ", value, " at batch ",
                               std::to_string(row / length), ", position ",
                               std::to_string(row % length), ", feature ",
                               std::to_string(i % width), " (runner_options::check_finite)"));
  }
}

}  // namespace typeformer::detail
