// Attention variants as score and mask functions (docs/expressions.md): each variant's attention
// core against our plain causal kernel (masks::causal, the rate to hold), and against what a
// PyTorch 1.13 user does today, a materialised float mask (and bias) added to q·kᵀ before the
// softmax (libtorch, same process, interleaved), and ONNX Runtime's best form of the variant
// (--ort, --ort-harness, --ort-models: tools/export_onnx_attention.py --variants-only); and
// grouped-query heads with rotary embedding, against PyTorch rotating, repeating keys and values,
// and masking. At 1 and 2 threads; prints a table and writes JSON (--json FILE); --quick for a
// smoke run; --only shapes|grouped|lengths runs one section (lengths: the sliding window from
// S = 1024 to 32768, and 16 documents in 8192); --no-torch leaves PyTorch out (and the grouped
// section, which is a comparison with it).
//
// Pairs: "visible" are the (query, key) pairs the mask lets through; "computed" are the pairs of
// the (4-row micro-tile, 64-key tile) tiles the classification does not skip, which the kernel
// computes. A variant's rate is computed pairs per second; the plain causal kernel's rate is its
// visible pairs per second (its diagonal tiles are trimmed by the same classification).
// Peak memory: how far one call raises the resident set, inputs and output aside (ours with a
// fresh workspace, PyTorch with its mask built in the call, ONNX Runtime's first run of a fresh
// session in a fresh process, from bench/onnxruntime/run.sh --variants); ours has no S² term.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include <malloc.h>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <typeformer/typeformer.hpp>

#include "allocation_counter.hpp"
#include "bench_common.hpp"
#include "onnxruntime_peer.hpp"
#include "peak_memory.hpp"

namespace tfm = typeformer;
using namespace typeformer::expr;

namespace {

// ONNX Runtime's best form of each variant (tools/export_onnx_attention.py --variants-only),
// timed in the same alternating blocks when its harness runs (--ort, --ort-harness,
// --ort-models).
bench::onnxruntime* ort = nullptr;

// --no-torch: ours against the plain causal kernel only (PyTorch's materialised masks take
// seconds per call where its CPU build is slow).
bool skip_torch = false;

constexpr operand<"window", std::int32_t> window;
constexpr operand<"doc", std::int32_t, tfm::dynamic, tfm::dynamic> doc;
constexpr operand<"slopes", float, tfm::dynamic> slopes;

constexpr auto causal = kv_idx <= q_idx;
constexpr auto sliding_window = kv_idx <= q_idx && q_idx - kv_idx < window;
constexpr auto same_document_causal = doc(batch_idx, q_idx) == doc(batch_idx, kv_idx) && causal;
constexpr auto alibi = score + slopes[head_idx] * to_real(kv_idx - q_idx);
constexpr auto soft_cap = 30.0f * tanh(score / 30.0f);

using view4 = tfm::tensor_view<const float, tfm::dynamic, tfm::dynamic, tfm::dynamic, tfm::dynamic>;
using out4 = tfm::tensor_view<float, tfm::dynamic, tfm::dynamic, tfm::dynamic, tfm::dynamic>;

struct problem {
  long B, H, S, dh;
  torch::Tensor q, k, v;  // (B, H, S, dh), q already scaled by 1/√dh
  std::vector<float> out;
  view4 Q, K, V;
  out4 O;

  problem(long b, long h, long s, long d)
      : B(b),
        H(h),
        S(s),
        dh(d),
        q(torch::randn({b, h, s, d}) * (1.0 / std::sqrt(double(d)))),
        k(torch::randn({b, h, s, d})),
        v(torch::randn({b, h, s, d})),
        out(std::size_t(b * h * s * d)),
        Q(q.data_ptr<float>(), {b, h, s, d}),
        K(k.data_ptr<float>(), {b, h, s, d}),
        V(v.data_ptr<float>(), {b, h, s, d}),
        O(out.data(), {b, h, s, d}) {}
};

/// Pairs the mask function lets through, and pairs of the (4-row, 64-key) tiles the kernel's
/// classification does not skip; counted with the kernel's own classification.
template <class Functions>
std::pair<double, double> pair_counts(const Functions& f, const problem& p,
                                      const std::function<bool(long, long, long)>& visible) {
  double seen = 0, computed = 0;
  for (long b = 0; b < p.B; ++b)
    for (long h = 0; h < (Functions::has_mask ? 1 : p.H); ++h) {
      for (long i0 = 0; i0 < p.S; i0 += 4)
        for (long j0 = 0; j0 < p.S; j0 += 64) {
          const long i1 = std::min(p.S, i0 + 4) - 1, j1 = std::min(p.S, j0 + 64) - 1;
          if (f.classify(std::size_t(b), std::size_t(h), std::size_t(i0), std::size_t(i1),
                         std::size_t(j0), std::size_t(j1)) != tile_class::empty)
            computed += double(i1 - i0 + 1) * double(j1 - j0 + 1);
        }
      for (long i = 0; i < p.S; ++i)
        for (long j = 0; j < p.S; ++j) seen += visible(b, i, j) ? 1 : 0;
    }
  const double heads = Functions::has_mask ? double(p.H) : 1.0;  // masks do not depend on h here
  return {seen * heads, computed * heads};
}

struct row {
  std::string variant;
  long B, H, S, dh;
  int threads;
  bench::timing ours, plain, torch;
  double visible, computed, plain_pairs, max_diff;
  bool torch_timed;
  bench::ort_measure onnxruntime = {};
  // How far one call raises the resident set, inputs and outputs aside: ours with a fresh
  // workspace; PyTorch with its mask (built in the call) and scores. ORT's is in `onnxruntime`
  // (a fresh process's first run: its process keeps memory between sessions).
  double ours_peak = std::numeric_limits<double>::quiet_NaN();
  double torch_peak = std::numeric_limits<double>::quiet_NaN();
};

/// How far `call` raises the resident set (peak_memory.hpp). The timed runs keep every freed
/// block in the heap (bench::configure_peers: no mmap, no trimming), where a call would reuse
/// pages an earlier one left resident: the heap's free pages go back to the system first.
template <class F>
double peak_bytes_of(F&& call) {
  malloc_trim(0);
  return bench::peak_rise_bytes(call);
}

std::string megabytes(double bytes) {
  if (std::isnan(bytes)) return "-";
  char text[32];
  std::snprintf(text, sizeof text, "%.0f", bytes / (1 << 20));
  return text;
}

void print(const row& r) {
  const double ours_rate = r.computed / r.ours.median * 1e-6;  // Mpairs per ms → G/s
  const double plain_rate = r.plain_pairs / r.plain.median * 1e-6;
  std::printf("%-22s %2ld %3ld %6ld %2d | %9.2f (%8.2f-%9.2f) | %9.2f | %5.1f%% %5.1f%% | %6.2f | ",
              r.variant.c_str(), r.B, r.H, r.S, r.threads, r.ours.median, r.ours.min, r.ours.max,
              r.plain.median, 100 * r.computed / (double(r.B * r.H) * double(r.S) * double(r.S)),
              100 * r.visible / (double(r.B * r.H) * double(r.S) * double(r.S)),
              ours_rate / plain_rate);
  if (r.torch_timed)
    std::printf("%9.2f %6.2fx | %.1e | ", r.torch.median, r.torch.median / r.ours.median,
                r.max_diff);
  else
    std::printf("%9s %7s | %7s | ", "-", "-", "-");
  if (r.onnxruntime.found())
    std::printf("%9.2f%c %6.2fx %-8s | ", r.onnxruntime.median_ms(),
                r.onnxruntime.interleaved ? ' ' : '*', r.onnxruntime.median_ms() / r.ours.median,
                r.onnxruntime.variant.c_str());
  else
    std::printf("%9s %7s %-8s | ", "-", "-", "");
  std::printf("%5s %6s %5s\n", megabytes(r.ours_peak).c_str(), megabytes(r.torch_peak).c_str(),
              megabytes(r.onnxruntime.peak_rise_mb * (1 << 20)).c_str());
  std::fflush(stdout);
}

nlohmann::json as_json(const row& r) {
  return {
      {"variant", r.variant},
      {"batch", r.B},
      {"heads", r.H},
      {"seq", r.S},
      {"head_dim", r.dh},
      {"threads", r.threads},
      {"ours_ms", bench::as_json(r.ours)},
      {"plain_causal_ms", bench::as_json(r.plain)},
      {"pytorch_ms", r.torch_timed ? bench::as_json(r.torch) : nlohmann::json()},
      {"visible_pairs", r.visible},
      {"computed_pairs", r.computed},
      {"rate_vs_plain_causal", (r.computed / r.ours.median) / (r.plain_pairs / r.plain.median)},
      {"pytorch_scores_bytes", 4.0 * double(r.B * r.H) * double(r.S) * double(r.S)},
      {"max_abs_diff_vs_pytorch", r.max_diff},
      {"onnxruntime", r.onnxruntime.as_json()},
      {"ours_peak_bytes", std::isnan(r.ours_peak) ? nlohmann::json() : nlohmann::json(r.ours_peak)},
      {"pytorch_peak_bytes",
       std::isnan(r.torch_peak) ? nlohmann::json() : nlohmann::json(r.torch_peak)}};
}

/// Times ours, the plain causal kernel and (when `torch_call` is given) PyTorch, with ONNX
/// Runtime's model `ort_model` of the shape as a further member where its harness runs.
template <class Ours, class Plain, class Torch>
void time_row(row& r, const std::string& ort_model, Ours& ours, Plain& plain, Torch* torch_call) {
  const long d_model = r.H * r.dh;
  if (torch_call) {
    const auto [t, m] = ort->time_with(ort_model, r.B, r.S, d_model, r.H, true, r.threads, ours,
                                       plain, *torch_call);
    r.ours = t[0], r.plain = t[1], r.torch = t[2], r.onnxruntime = m;
  } else {
    const auto [t, m] =
        ort->time_with(ort_model, r.B, r.S, d_model, r.H, true, r.threads, ours, plain);
    r.ours = t[0], r.plain = t[1], r.onnxruntime = m;
  }
}

/// One variant at one shape: ours (through `evaluate`), the plain causal kernel, PyTorch with
/// `bias` (B or 1, H or 1, S, S) added to the scores (−∞ where the mask hides a key), and ONNX
/// Runtime's `ort_model` (variant:NAME).
template <class Ours, class Functions>
void run_variant(nlohmann::json& records, const std::string& name, const std::string& ort_model,
                 problem& p, Ours&& ours, const Functions& functions,
                 const std::function<bool(long, long, long)>& visible,
                 const std::function<torch::Tensor()>& make_bias, bool time_torch) {
  time_torch = time_torch && !skip_torch;
  tfm::workspace* ws_used = nullptr;
  tfm::workspace ws1(1), ws2(2);
  auto ours_call = [&] { ours(*ws_used); };
  auto plain_call = [&] {
    evaluate(p.O, softmax(p.Q * transpose(p.K) + tfm::masks::causal{}) * p.V, *ws_used);
  };
  const auto [visible_pairs, computed_pairs] = pair_counts(functions, p, visible);
  const double causal_pairs = double(p.B * p.H) * double(p.S) * double(p.S + 1) / 2;

  torch::NoGradGuard no_grad;
  torch::Tensor bias, reference;
  if (time_torch) bias = make_bias();
  auto torch_call = [&] {
    const auto s = torch::matmul(p.q, p.k.transpose(-2, -1)) + bias;
    reference = torch::matmul(torch::softmax(s, -1), p.v);
  };
  double diff = 0;
  if (time_torch) {
    ws_used = &ws1;
    ours_call();
    torch_call();
    diff = bench::max_abs_diff(reference.data_ptr<float>(), p.out.data(), p.out.size());
  }
  const double ours_peak = peak_bytes_of([&] {
    tfm::workspace fresh(1);
    ours(fresh);
  });
  double torch_peak = std::numeric_limits<double>::quiet_NaN();
  if (time_torch) {
    bias = torch::Tensor(), reference = torch::Tensor();
    torch_peak = peak_bytes_of([&] {
                   bias = make_bias();
                   torch_call();
                 }) -
                 double(p.out.size() * sizeof(float));
  }
  for (int threads : {1, 2}) {
    ws_used = threads == 1 ? &ws1 : &ws2;
    torch::set_num_threads(threads);
    bench::settle();
    row r{name,           p.B,          p.H,  p.S,       p.dh, threads, {}, {}, {}, visible_pairs,
          computed_pairs, causal_pairs, diff, time_torch};
    time_row(r, ort_model, ours_call, plain_call, time_torch ? &torch_call : nullptr);
    r.ours_peak = ours_peak, r.torch_peak = torch_peak;
    print(r);
    records.push_back(as_json(r));
  }
}

torch::Tensor mask_bias(long S, const std::function<bool(long, long)>& visible) {
  auto bias = torch::zeros({S, S});
  float* b = bias.data_ptr<float>();
  for (long i = 0; i < S; ++i)
    for (long j = 0; j < S; ++j)
      if (!visible(i, j)) b[i * S + j] = -std::numeric_limits<float>::infinity();
  return bias;
}

/// A causal sliding window of 256 keys.
void bench_sliding_window(nlohmann::json& records, problem& p, bool torch_too) {
  const std::int32_t W = 256;
  const auto operands = bind_all(bind<"window">(W));
  const tfm::kernels::attention_functions<no_function{}, sliding_window, decltype(operands)> f(
      operands);
  run_variant(
      records, "sliding window 256", "variant:sliding_window", p,
      [&](tfm::workspace& ws) {
        evaluate(
            p.O,
            softmax(p.Q * transpose(p.K) + mask_function<sliding_window>(bind<"window">(W))) * p.V,
            ws);
      },
      f, [&](long, long i, long j) { return j <= i && i - j < W; },
      [&] { return mask_bias(p.S, [&](long i, long j) { return j <= i && i - j < W; }); },
      torch_too);
}

/// 16 packed documents of equal length per batch entry, causal within each.
void bench_documents(nlohmann::json& records, problem& p, bool torch_too) {
  const long B = p.B, S = p.S;
  std::vector<std::int32_t> ids(std::size_t(B * S));
  for (long b = 0; b < B; ++b)
    for (long i = 0; i < S; ++i) ids[std::size_t(b * S + i)] = std::int32_t(i * 16 / S);
  const auto operands = bind_all(bind<"doc">(ids.data(), {B, S}));
  const tfm::kernels::attention_functions<no_function{}, same_document_causal, decltype(operands)>
      f(operands);
  run_variant(
      records, "documents (16) causal", "variant:documents", p,
      [&](tfm::workspace& ws) {
        evaluate(p.O,
                 softmax(p.Q * transpose(p.K) +
                         mask_function<same_document_causal>(bind<"doc">(ids.data(), {B, S}))) *
                     p.V,
                 ws);
      },
      f, [&](long, long i, long j) { return j <= i && i * 16 / S == j * 16 / S; },
      [&] {
        return mask_bias(S, [&](long i, long j) { return j <= i && i * 16 / S == j * 16 / S; });
      },
      torch_too);
}

/// LLaMA-style attention: H query heads over KV key/value heads, half-split rotary embedding of
/// queries and keys, causal. Ours reads the shared heads in place and rotates in the copy for the
/// kernel; PyTorch rotates (cos and sin tables precomputed, as Hugging Face caches them), repeats
/// keys and values to H heads and adds a causal mask. The plain causal kernel runs H full heads
/// on unrotated inputs.
void bench_grouped_rotary(nlohmann::json& records, long B, long S, long H, long KV, long dh) {
  problem p(B, H, S, dh);  // p.q, p.k, p.v: H heads; the grouped keys and values below
  const torch::Tensor k = torch::randn({B, KV, S, dh}), v = torch::randn({B, KV, S, dh});
  const view4 K(k.data_ptr<float>(), {B, KV, S, dh}), V(v.data_ptr<float>(), {B, KV, S, dh});
  const rotary_embedding rope{.pairs = rotary_pairs::half_split};
  // cos and sin of p·θ_m, computed in double as ours are, repeated over both halves.
  auto cos_table = torch::empty({S, dh}), sin_table = torch::empty({S, dh});
  for (long i = 0; i < S; ++i)
    for (long m = 0; m < dh / 2; ++m) {
      const double angle = double(i) * std::pow(10000.0, -2.0 * double(m) / double(dh));
      for (long half : {0L, dh / 2}) {
        cos_table[i][m + half] = float(std::cos(angle));
        sin_table[i][m + half] = float(std::sin(angle));
      }
    }
  const auto rotate_half = [&](const torch::Tensor& x) {
    const auto x1 = x.narrow(-1, 0, dh / 2), x2 = x.narrow(-1, dh / 2, dh / 2);
    return x * cos_table + torch::cat({-x2, x1}, -1) * sin_table;
  };
  const torch::Tensor causal_bias = mask_bias(S, [](long i, long j) { return j <= i; });
  torch::NoGradGuard no_grad;
  torch::Tensor reference;
  auto torch_call = [&] {
    const auto q = rotate_half(p.q);
    const auto kr = rotate_half(k).repeat_interleave(H / KV, 1);
    const auto vr = v.repeat_interleave(H / KV, 1);
    reference =
        torch::matmul(torch::softmax(torch::matmul(q, kr.transpose(-2, -1)) + causal_bias, -1), vr);
  };
  tfm::workspace* ws_used = nullptr;
  tfm::workspace ws1(1), ws2(2);
  auto ours_call = [&] {
    evaluate(p.O,
             softmax(rotary(p.Q, rope) * transpose(rotary(K, rope)) + tfm::masks::causal{}) * V,
             *ws_used);
  };
  auto plain_call = [&] {
    evaluate(p.O, softmax(p.Q * transpose(p.K) + tfm::masks::causal{}) * p.V, *ws_used);
  };
  ws_used = &ws1;
  ours_call();
  torch_call();
  const double diff = bench::max_abs_diff(reference.data_ptr<float>(), p.out.data(), p.out.size());
  const double ours_peak = peak_bytes_of([&] {
    tfm::workspace* kept = ws_used;
    tfm::workspace fresh(1);
    ws_used = &fresh;
    ours_call();
    ws_used = kept;
  });
  reference = torch::Tensor();
  // The causal mask (built once, before) counts as PyTorch's.
  const double torch_peak = peak_bytes_of(torch_call) - double(p.out.size() * sizeof(float)) +
                            double(causal_bias.nbytes());
  const double causal_pairs = double(B * H) * double(S) * double(S + 1) / 2;
  for (int threads : {1, 2}) {
    ws_used = threads == 1 ? &ws1 : &ws2;
    torch::set_num_threads(threads);
    bench::settle();
    row r{"gqa " + std::to_string(H) + "/" + std::to_string(KV) + " rotary causal",
          B,
          H,
          S,
          dh,
          threads,
          {},
          {},
          {},
          causal_pairs,
          causal_pairs,
          causal_pairs,
          diff,
          true};
    time_row(r, "variant:gqa" + std::to_string(H) + "_" + std::to_string(KV) + "_rotary", ours_call,
             plain_call, &torch_call);
    r.ours_peak = ours_peak, r.torch_peak = torch_peak;
    print(r);
    records.push_back(as_json(r));
  }
}

void bench_shape(nlohmann::json& records, long B, long S, long d_model, long H, bool torch_too) {
  const long dh = d_model / H;
  problem p(B, H, S, dh);
  const auto causal_visible = [](long, long i, long j) { return j <= i; };
  {
    const auto operands = bind_all();
    const tfm::kernels::attention_functions<no_function{}, causal, decltype(operands)> f(operands);
    run_variant(
        records, "causal (function)", "variant:causal", p,
        [&](tfm::workspace& ws) {
          evaluate(p.O, softmax(p.Q * transpose(p.K) + mask_function<causal>()) * p.V, ws);
        },
        f, causal_visible, [&] { return mask_bias(S, [](long i, long j) { return j <= i; }); },
        torch_too);
  }
  bench_sliding_window(records, p, torch_too);
  bench_documents(records, p, torch_too);
  {
    std::vector<float> m(static_cast<std::size_t>(H));
    for (long h = 0; h < H; ++h)
      m[std::size_t(h)] = std::pow(2.0f, -8.0f * float(h + 1) / float(H));
    const auto operands = bind_all(bind<"slopes">(m));
    const tfm::kernels::attention_functions<alibi, causal, decltype(operands)> f(operands);
    run_variant(
        records, "alibi causal", "variant:alibi", p,
        [&](tfm::workspace& ws) {
          evaluate(p.O,
                   softmax(score_function<alibi>(p.Q * transpose(p.K), bind<"slopes">(m)) +
                           mask_function<causal>()) *
                       p.V,
                   ws);
        },
        f, causal_visible,
        [&] {
          auto bias = torch::zeros({H, S, S});
          float* b = bias.data_ptr<float>();
          for (long h = 0; h < H; ++h)
            for (long i = 0; i < S; ++i)
              for (long j = 0; j < S; ++j)
                b[(h * S + i) * S + j] = j <= i ? m[std::size_t(h)] * float(j - i)
                                                : -std::numeric_limits<float>::infinity();
          return bias;
        },
        torch_too);
  }
  {
    const auto operands = bind_all();
    const tfm::kernels::attention_functions<soft_cap, causal, decltype(operands)> f(operands);
    run_variant(
        records, "soft-cap causal", "variant:soft_cap", p,
        [&](tfm::workspace& ws) {
          evaluate(
              p.O,
              softmax(score_function<soft_cap>(p.Q * transpose(p.K)) + mask_function<causal>()) *
                  p.V,
              ws);
        },
        f, causal_visible, [] { return torch::Tensor(); }, false);  // no tanh in a bias
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string json_path = bench::parse_common_flags(argc, argv);
  bench::configure_peers();
  bench::onnxruntime onnxruntime_peer(argc, argv);
  ort = &onnxruntime_peer;
  std::printf("ONNX Runtime: %s\n", onnxruntime_peer.describe().c_str());
  torch::manual_seed(0);
  std::printf(
      "variant                 B   H      S th |  ours ms (min-max)          | causal ms | "
      "computed visible | rate/causal | torch ms  torch/ours | max|diff| | ORT ms  ORT/ours "
      "form     | peak MB: ours torch ORT\n");
  nlohmann::json records = nlohmann::json::array();
  std::string only;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--only") only = argv[i + 1];
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--no-torch") skip_torch = true;
  const auto section = [&](const char* name) { return only.empty() || only == name; };
  if (section("shapes")) {
    bench_shape(records, 1, 4096, 512, 8, true);
    bench_shape(records, 8, 1024, 768, 12, true);
  }
  if (section("grouped") && skip_torch) std::printf("grouped: skipped (--no-torch)\n");
  if (section("grouped") && !skip_torch) {
    bench_grouped_rotary(records, 1, 4096, 8, 2, 64);
    bench_grouped_rotary(records, 8, 1024, 12, 4, 64);
  }
  for (long S : {1024L, 2048L, 4096L, 8192L, 16384L, 32768L}) {
    if (!section("lengths")) break;
    problem p(1, 8, S, 64);
    bench_sliding_window(records, p, S <= 4096 && !bench::quick);
    // The document row: 16 documents in 8192 (the shapes above have 16 in 4096, 1024).
    if (S == 8192) bench_documents(records, p, false);
  }
  if (!json_path.empty()) std::ofstream(json_path) << records.dump(2) << "\n";
}
