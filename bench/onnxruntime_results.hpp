#pragma once
// ONNX Runtime's times from the same benchmark run: bench/onnxruntime/run.sh times ORT first
// (it is a Node.js process) and writes JSON; the C++ benchmarks read it here and put ORT's
// best variant next to ours. Absent file: the ORT columns say so.

#include <fstream>
#include <limits>
#include <string>

#include <nlohmann/json.hpp>

namespace bench {

/// ORT's fastest variant on one shape, or none.
struct ort_time {
  double median_ms = std::numeric_limits<double>::quiet_NaN();
  std::string variant;
  std::string name;  // the model's file name without .onnx
  /// How far its first run in a fresh process raises the resident set, outputs aside (MB; NaN
  /// unless the harness ran with --peak-memory).
  double peak_rise_mb = std::numeric_limits<double>::quiet_NaN();
  bool found() const noexcept { return !variant.empty(); }
};

class ort_results {
 public:
  ort_results() = default;
  explicit ort_results(const std::string& path) {
    std::ifstream in(path);
    if (!in) return;
    data_ = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (data_.is_discarded()) data_ = nlohmann::json();
  }

  bool loaded() const noexcept { return data_.contains("records"); }

  double binding_overhead_us(int threads) const {
    if (!data_.contains("binding_overhead_us")) return std::numeric_limits<double>::quiet_NaN();
    const auto& b = data_["binding_overhead_us"];
    const std::string key = std::to_string(threads);
    if (b.is_object() && b.contains(key)) return b[key].get<double>();
    if (b.is_number()) return b.get<double>();
    return std::numeric_limits<double>::quiet_NaN();
  }

  /// The fastest correct variant of `model` ("mha", "encoder", "decode") at this shape.
  ort_time best(const std::string& model, long batch, long seq, long d_model, long heads,
                bool causal, int threads) const {
    ort_time out;
    if (!loaded()) return out;
    for (const auto& r : data_["records"]) {
      if (r.value("model", "") != model || r.contains("error") || !r.contains("median_ms"))
        continue;
      if (r.value("batch", -1L) != batch || r.value("seq", -1L) != seq ||
          r.value("d_model", -1L) != d_model || r.value("heads", -1L) != heads ||
          r.value("causal", false) != causal || r.value("threads", -1) != threads)
        continue;
      const double t = r["median_ms"].get<double>();
      if (!out.found() || t < out.median_ms)
        out = {t, r.value("variant", "?"), r.value("name", ""),
               r.contains("peak_rise_mb") && r["peak_rise_mb"].is_number()
                   ? r["peak_rise_mb"].get<double>()
                   : std::numeric_limits<double>::quiet_NaN()};
    }
    return out;
  }

 private:
  nlohmann::json data_;
};

}  // namespace bench
