// Multi-head attention forward: typeformer against PyTorch's nn::MultiheadAttention (libtorch,
// same process, same weights) and ONNX Runtime (times from bench/onnxruntime/run.sh in the same
// benchmark run, read with --ort FILE), with OpenBLAS SGEMM timing the four projections, at 1
// and 2 threads. Prints a table and writes JSON (--json FILE); --quick for a smoke run;
// --only shapes|relative|memory|decode runs one section.
//
// FLOPs counted honestly: 4 projections 2·B·L·d² each, and 2·(unmasked score pairs)·d_head
// each for q·kᵀ and p·v, no exp. The bound for a shape is OpenBLAS's time for the projections
// plus the attention core's FLOPs at 80% of the FMA peak the benchmark measures. The ceiling is
// every counted FLOP at 100% of that peak: ORT's time over it is the largest ORT/ours ratio any
// float32 implementation could reach on the machine, which says whether a ratio target is
// reachable at all.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <cblas.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <typeformer/typeformer.hpp>

#include "allocation_counter.hpp"
#include "bench_common.hpp"
#include "onnxruntime_peer.hpp"

namespace tfm = typeformer;
using namespace tfm::dims;
using mha512 = tfm::multi_head_attention<"self_attn", heads<8>, d_model<512>>;
using mha768 = tfm::multi_head_attention<"self_attn", heads<12>, d_model<768>>;

namespace {

struct context {
  context(int argc, char** argv) : ort(argc, argv) {}
  double peak[3] = {0, 0, 0};  // GFLOP/s by thread count
  bench::onnxruntime ort;
  // The FMA chains timed beside each row: the share of the peak the machine gives in that
  // row's minutes (this VM's speed moves by 10-40% over minutes).
  bench::fma_probe fma1{1}, fma2{2};
  nlohmann::json records = nlohmann::json::array();
};

/// Our heap allocations per call, over three calls after the timed ones.
template <class F>
double allocations_per_call(F& ours) {
  const long before = bench::allocations.load();
  for (int i = 0; i < 3; ++i) ours();
  return double(bench::allocations.load() - before) / 3;
}

template <class Layer>
void bench_shape(context& ctx, long B, long L, bool causal) {
  constexpr long d = Layer::d_model, h = Layer::heads, dh = Layer::key_dim_per_head;
  torch::manual_seed(0);
  torch::nn::MultiheadAttention torch_mha(torch::nn::MultiheadAttentionOptions(d, h));
  torch_mha->eval();
  auto params = Layer::from_weights(tfm::naming::pytorch, [&](const std::string& name) {
    if (name == "in_proj_weight") return bench::to_vector(torch_mha->in_proj_weight);
    if (name == "in_proj_bias") return bench::to_vector(torch_mha->in_proj_bias);
    if (name == "out_proj.weight") return bench::to_vector(torch_mha->out_proj->weight);
    return bench::to_vector(torch_mha->out_proj->bias);
  });

  torch::Tensor x = torch::randn({B, L, d});
  torch::Tensor x_lnd = x.transpose(0, 1).contiguous();  // libtorch's MHA takes (L, B, d)
  torch::Tensor mask;
  // A float mask: libtorch 1.13's C++ MultiheadAttention adds attn_mask to the scores as is,
  // so a boolean mask would add 1, not hide the key.
  if (causal) mask = torch::full({L, L}, -std::numeric_limits<float>::infinity()).triu(1);

  xt::xtensor<float, 3> xin = xt::empty<float>({std::size_t(B), std::size_t(L), std::size_t(d)});
  std::copy_n(x.data_ptr<float>(), x.numel(), xin.data());
  xt::xtensor<float, 3> y = xt::empty<float>(xin.shape());
  tfm::workspace ws1(1), ws2(2);
  tfm::workspace* ws = &ws1;
  auto ours = [&] {
    if (causal)
      Layer::forward(params, xin, xin, xin, y, *ws, tfm::masks::causal{});
    else
      Layer::forward(params, xin, xin, xin, y, *ws);
  };

  torch::NoGradGuard no_grad;
  torch::Tensor reference;
  auto theirs = [&] {
    reference =
        std::get<0>(torch_mha->forward(x_lnd, x_lnd, x_lnd, {}, /*need_weights=*/false, mask));
  };

  // Agreement first: a fast wrong answer is not a result.
  ours();
  theirs();
  auto ref = reference.transpose(0, 1).contiguous();
  const double max_diff =
      bench::max_abs_diff(ref.data_ptr<float>(), y.data(), std::size_t(ref.numel()));

  // OpenBLAS: the four projection GEMMs, (B·L × d) · (d × d), as the ceiling for that part.
  std::vector<float> a(std::size_t(B * L * d), 0.5f), w(std::size_t(d * d), 0.25f),
      c(std::size_t(B * L * d));
  auto blas = [&] {
    for (int p = 0; p < 4; ++p)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(B * L), int(d), int(d), 1.0f,
                  a.data(), int(d), w.data(), int(d), 0.0f, c.data(), int(d));
  };

  const double pairs = causal ? double(L) * double(L + 1) / 2 : double(L) * double(L);
  const double proj_flops = 4.0 * 2.0 * double(B * L) * double(d * d);
  const double attn_flops = 2.0 * 2.0 * double(B * h) * pairs * double(dh);
  const double gflop = (proj_flops + attn_flops) * 1e-9;

  // Workspace beyond the projected queries and the per-head keys and values.
  using O = tfm::kernels::attention_operands;
  const double qkv_floats = double(B * L * d) +
                            double(B * h * dh) * double(O::key_capacity_for(std::size_t(L))) +
                            double(B * h * L) * double(O::v_stride_for(std::size_t(dh)));

  for (int threads : {1, 2}) {
    ws = threads == 1 ? &ws1 : &ws2;
    torch::set_num_threads(threads);
    openblas_set_num_threads(threads);
    bench::settle();
    bench::fma_probe& fma = threads == 1 ? ctx.fma1 : ctx.fma2;
    const auto [timings, t_ort] =
        ctx.ort.time_with("mha", B, L, d, h, causal, threads, ours, theirs, blas, fma);
    const auto [t_ours, t_torch, t_blas, t_fma] = timings;
    const double allocs = allocations_per_call(ours);

    const double peak = ctx.peak[threads];
    const double fma_now = fma.percent_of_peak(t_fma.median, peak);
    const double bound = t_blas.median + attn_flops / (0.8 * peak * 1e9) * 1e3;
    const double ceiling = gflop / peak * 1e3;
    const double rate = gflop / t_ours.median * 1e3;
    const double ws_mib = double(ws->capacity()) * 4 / (1 << 20);
    const double extra_mib = (double(ws->capacity()) - qkv_floats) * 4 / (1 << 20);
    char ort_text[64] = "      n/a                        ";
    if (t_ort.found())
      std::snprintf(ort_text, sizeof ort_text, "%9.3f%c %5.2fx  %5.2fx %8.3f", t_ort.median_ms(),
                    t_ort.interleaved ? ' ' : '*', t_ort.median_ms() / t_ours.median,
                    t_ort.median_ms() / ceiling, t_ort.alone_ms);
    std::printf(
        "%4ld %5ld %4ld %3ld %-6s %2d | %8.3f (%7.3f-%8.3f) %6.1f %3.0f%% | %8.3f %5.2fx | %s | "
        "%8.3f %8.3f %5.2f %8.3f | %4.0f%% | %5.1f %4.0f %7.1f | %.1e\n",
        B, L, d, h, causal ? "causal" : "none", threads, t_ours.median, t_ours.min, t_ours.max,
        rate, 100 * rate / peak, t_torch.median, t_torch.median / t_ours.median, ort_text,
        t_blas.median, bound, t_ours.median / bound, ceiling, fma_now, allocs, ws_mib, extra_mib,
        max_diff);
    std::fflush(stdout);
    ctx.records.push_back(
        {{"batch", B},
         {"seq", L},
         {"d_model", d},
         {"heads", h},
         {"causal", causal},
         {"threads", threads},
         {"ours_ms", bench::as_json(t_ours)},
         {"gflops", rate},
         {"percent_of_peak", 100 * rate / peak},
         {"pytorch_ms", bench::as_json(t_torch)},
         {"onnxruntime_ms", t_ort.found() ? nlohmann::json(t_ort.median_ms()) : nlohmann::json()},
         {"onnxruntime", t_ort.as_json()},
         {"openblas_projections_ms", t_blas.median},
         {"bound_ms", bound},
         {"ours_over_bound", t_ours.median / bound},
         {"fma_rate_in_blocks_percent_of_peak", fma_now},
         {"ceiling_ms", ceiling},
         {"onnxruntime_over_ceiling",
          t_ort.found() ? nlohmann::json(t_ort.median_ms() / ceiling) : nlohmann::json()},
         {"heap_allocations_per_call", allocs},
         {"workspace_mib", ws_mib},
         {"workspace_beyond_qkv_mib", extra_mib},
         {"max_abs_diff_vs_pytorch", max_diff}});
  }
}

/// Relative-position attention (Shaw et al.): our multi-head layer, whose relative terms enter
/// the tiled kernel's loop, against PyTorch running the formula as tensor2tensor writes it
/// (gather the (Lq, Lk, depth) table, add q·rel_k by einsum, add p·rel_v by einsum), and against
/// our plain multi-head attention of the same shape, which shows what the relative terms cost.
template <long K>
void bench_relative(context& ctx, long B, long L) {
  constexpr long d = 512, h = 8, dh = d / h;
  using relative =
      tfm::relative_position_attention<"rel", heads<h>, d_model<d>, tfm::max_relative_position<K>>;
  torch::manual_seed(1);
  const double bound = 1.0 / std::sqrt(double(d));
  auto make = [&](std::initializer_list<long> shape) {
    return torch::empty(std::vector<long>(shape)).uniform_(-bound, bound);
  };
  torch::Tensor w[4] = {make({d, d}), make({d, d}), make({d, d}), make({d, d})};
  torch::Tensor bias[4] = {make({d}), make({d}), make({d}), make({d})};
  const torch::Tensor rel_k = torch::randn({2 * K + 1, dh}) * 0.5;
  const torch::Tensor rel_v = torch::randn({2 * K + 1, dh}) * 0.5;
  const char* names[4] = {"wq", "wk", "wv", "dense"};
  const auto params = relative::from_weights(tfm::naming::pytorch, [&](const std::string& name) {
    if (name == "rel_k") return bench::to_vector(rel_k);
    if (name == "rel_v") return bench::to_vector(rel_v);
    for (int m = 0; m < 4; ++m) {
      if (name == std::string(names[m]) + ".weight") return bench::to_vector(w[m]);
      if (name == std::string(names[m]) + ".bias") return bench::to_vector(bias[m]);
    }
    throw std::runtime_error("bench_relative: no weight " + name);
  });
  const auto mha_params = mha512::from_weights(tfm::naming::pytorch, [&](const std::string& name) {
    if (name == "in_proj_weight") return bench::to_vector(torch::cat({w[0], w[1], w[2]}));
    if (name == "in_proj_bias") return bench::to_vector(torch::cat({bias[0], bias[1], bias[2]}));
    if (name == "out_proj.weight") return bench::to_vector(w[3]);
    return bench::to_vector(bias[3]);
  });

  torch::Tensor x = torch::randn({B, L, d});
  xt::xtensor<float, 3> xin = xt::empty<float>({std::size_t(B), std::size_t(L), std::size_t(d)});
  std::copy_n(x.data_ptr<float>(), x.numel(), xin.data());
  xt::xtensor<float, 3> y = xt::empty<float>(xin.shape());
  tfm::workspace ws1(1), ws2(2);
  tfm::workspace* ws = &ws1;
  auto ours = [&] { relative::forward(params, xin, xin, xin, y, *ws); };
  auto plain = [&] { mha512::forward(mha_params, xin, xin, xin, y, *ws); };

  torch::NoGradGuard no_grad;
  const torch::Tensor positions = torch::arange(L);
  const torch::Tensor buckets =
      (positions.unsqueeze(0) - positions.unsqueeze(1)).clamp(-K, K) + K;  // [i][j]: j - i
  torch::Tensor reference;
  auto theirs = [&] {
    auto heads_of = [&](const torch::Tensor& t) { return t.view({B, L, h, dh}).transpose(1, 2); };
    const auto q = heads_of(torch::linear(x, w[0], bias[0])) * (1.0 / std::sqrt(double(dh)));
    const auto k = heads_of(torch::linear(x, w[1], bias[1]));
    const auto v = heads_of(torch::linear(x, w[2], bias[2]));
    const auto rk = rel_k.index({buckets}), rv = rel_v.index({buckets});  // (L, L, dh)
    const auto scores =
        torch::matmul(q, k.transpose(-2, -1)) + torch::einsum("bhid,ijd->bhij", {q, rk});
    const auto p = torch::softmax(scores, -1);
    const auto z = torch::matmul(p, v) + torch::einsum("bhij,ijd->bhid", {p, rv});
    reference = torch::linear(z.transpose(1, 2).reshape({B, L, d}), w[3], bias[3]);
  };
  ours();
  theirs();
  const double max_diff =
      bench::max_abs_diff(reference.data_ptr<float>(), y.data(), std::size_t(reference.numel()));

  const double pairs = double(L) * double(L);
  const double gflop =
      (4.0 * 2.0 * double(B * L) * double(d * d) + 2.0 * 2.0 * double(B * h) * pairs * double(dh)) *
      1e-9;
  for (int threads : {1, 2}) {
    ws = threads == 1 ? &ws1 : &ws2;
    torch::set_num_threads(threads);
    bench::settle();
    const auto [t_ours, t_plain, t_torch] = bench::time_interleaved_ms(ours, plain, theirs);
    const double allocs = allocations_per_call(ours);
    const double rate = gflop / t_ours.median * 1e3;
    std::printf(
        "%4ld %5ld %4ld %3ld %3ld %2d | %8.3f (%7.3f-%8.3f) %6.1f %3.0f%% | %8.3f %5.2fx | "
        "%8.3f %5.2fx | %5.1f | %.1e\n",
        B, L, d, h, K, threads, t_ours.median, t_ours.min, t_ours.max, rate,
        100 * rate / ctx.peak[threads], t_plain.median, t_ours.median / t_plain.median,
        t_torch.median, t_torch.median / t_ours.median, allocs, max_diff);
    std::fflush(stdout);
    ctx.records.push_back({{"layer", "relative_position_attention"},
                           {"batch", B},
                           {"seq", L},
                           {"d_model", d},
                           {"heads", h},
                           {"max_relative_position", K},
                           {"threads", threads},
                           {"ours_ms", bench::as_json(t_ours)},
                           {"gflops", rate},
                           {"percent_of_peak", 100 * rate / ctx.peak[threads]},
                           {"plain_mha_ms", bench::as_json(t_plain)},
                           {"pytorch_ms", bench::as_json(t_torch)},
                           {"heap_allocations_per_call", allocs},
                           {"max_abs_diff_vs_pytorch", max_diff}});
  }
}

/// The single-head relative core (Keras's form, inputs read as given: q, k, v (B, L, depth)),
/// against PyTorch computing the same formula with gathered (L, L, depth) tables.
template <long K>
void bench_relative_core(context& ctx, long B, long L) {
  constexpr long dh = 64;
  using core = tfm::relative_dot_attention<"core", tfm::max_relative_position<K>, d_model<dh>>;
  torch::manual_seed(2);
  const torch::Tensor rel_k = torch::randn({2 * K + 1, dh}) * 0.5;
  const torch::Tensor rel_v = torch::randn({2 * K + 1, dh}) * 0.5;
  const auto params = core::from_weights(tfm::naming::keras, [&](const std::string& name) {
    return bench::to_vector(name == "rel_k" ? rel_k : rel_v);
  });
  const torch::Tensor q = torch::randn({B, L, dh}), k = torch::randn({B, L, dh}),
                      v = torch::randn({B, L, dh});
  auto copy = [](const torch::Tensor& t) {
    xt::xtensor<float, 3> x =
        xt::empty<float>({std::size_t(t.size(0)), std::size_t(t.size(1)), std::size_t(t.size(2))});
    std::copy_n(t.data_ptr<float>(), t.numel(), x.data());
    return x;
  };
  const auto qx = copy(q), kx = copy(k), vx = copy(v);
  xt::xtensor<float, 3> y = xt::empty<float>(qx.shape());
  tfm::workspace ws1(1), ws2(2);
  tfm::workspace* ws = &ws1;
  auto ours = [&] { core::forward(params, qx, vx, kx, y, *ws); };
  torch::NoGradGuard no_grad;
  const torch::Tensor positions = torch::arange(L);
  const torch::Tensor buckets = (positions.unsqueeze(0) - positions.unsqueeze(1)).clamp(-K, K) + K;
  torch::Tensor reference;
  auto theirs = [&] {
    const auto rk = rel_k.index({buckets}), rv = rel_v.index({buckets});  // (L, L, dh)
    const auto scores =
        (torch::matmul(q, k.transpose(-2, -1)) + torch::einsum("bid,ijd->bij", {q, rk})) *
        (1.0 / std::sqrt(double(dh)));
    const auto p = torch::softmax(scores, -1);
    reference = torch::matmul(p, v) + torch::einsum("bij,ijd->bid", {p, rv});
  };
  ours();
  theirs();
  const double max_diff =
      bench::max_abs_diff(reference.data_ptr<float>(), y.data(), std::size_t(reference.numel()));
  const double gflop = 2.0 * 2.0 * double(B) * double(L) * double(L) * double(dh) * 1e-9;
  for (int threads : {1, 2}) {
    ws = threads == 1 ? &ws1 : &ws2;
    torch::set_num_threads(threads);
    bench::settle();
    const auto [t_ours, t_torch] = bench::time_interleaved_ms(ours, theirs);
    const double rate = gflop / t_ours.median * 1e3;
    std::printf(
        "%4ld %5ld %4ld %3d %3ld %2d | %8.3f (%7.3f-%8.3f) %6.1f %3.0f%% | %8s %5s  | "
        "%8.3f %5.2fx | %5.1f | %.1e\n",
        B, L, dh, 1, K, threads, t_ours.median, t_ours.min, t_ours.max, rate,
        100 * rate / ctx.peak[threads], "-", "-", t_torch.median, t_torch.median / t_ours.median,
        allocations_per_call(ours), max_diff);
    std::fflush(stdout);
    ctx.records.push_back({{"layer", "relative_dot_attention"},
                           {"batch", B},
                           {"seq", L},
                           {"depth", dh},
                           {"max_relative_position", K},
                           {"threads", threads},
                           {"ours_ms", bench::as_json(t_ours)},
                           {"gflops", rate},
                           {"percent_of_peak", 100 * rate / ctx.peak[threads]},
                           {"pytorch_ms", bench::as_json(t_torch)},
                           {"max_abs_diff_vs_pytorch", max_diff}});
  }
}

/// The memory target's shape, (1, 8192, 512, 8): one timed call per thread count (PyTorch's
/// S×S scores would take 2 GiB and minutes) and the workspace beyond the projected queries and
/// the per-head keys and values, which must not grow with the length.
template <class Layer>
void bench_memory(context& ctx, long B, long L) {
  constexpr long d = Layer::d_model, h = Layer::heads, dh = Layer::key_dim_per_head;
  xt::xtensor<float, 3> x = xt::empty<float>({std::size_t(B), std::size_t(L), std::size_t(d)});
  for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = float(i % 97) / 97.0f - 0.5f;
  xt::xtensor<float, 3> y = xt::empty<float>(x.shape());
  const auto params = Layer::from_weights(tfm::naming::pytorch, [&](const std::string& name) {
    const auto n = name == "in_proj_weight"    ? std::size_t(3 * d * d)
                   : name == "in_proj_bias"    ? std::size_t(3 * d)
                   : name == "out_proj.weight" ? std::size_t(d * d)
                                               : std::size_t(d);
    std::vector<float> w(n);
    for (std::size_t i = 0; i < n; ++i) w[i] = float(i % 13) / 13.0f * 0.02f - 0.01f;
    return w;
  });
  using O = tfm::kernels::attention_operands;
  const double qkv_floats = double(B * L * d) +
                            double(B * h * dh) * double(O::key_capacity_for(std::size_t(L))) +
                            double(B * h * L) * double(O::v_stride_for(std::size_t(dh)));
  for (int threads : {1, 2}) {
    tfm::workspace ws{std::size_t(threads)};
    const auto t0 = std::chrono::steady_clock::now();
    Layer::forward(params, x, x, x, y, ws);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    const double extra_mib = (double(ws.capacity()) - qkv_floats) * 4 / (1 << 20);
    std::printf(
        "%4ld %5ld %4ld %3ld none   %2d | one call %9.1f ms | workspace %6.1f MiB, "
        "beyond Q/K/V %5.2f MiB\n",
        B, L, d, h, threads, ms, double(ws.capacity()) * 4 / (1 << 20), extra_mib);
    std::fflush(stdout);
    ctx.records.push_back({{"batch", B},
                           {"seq", L},
                           {"d_model", d},
                           {"heads", h},
                           {"causal", false},
                           {"threads", threads},
                           {"memory_only", true},
                           {"one_call_ms", ms},
                           {"workspace_mib", double(ws.capacity()) * 4 / (1 << 20)},
                           {"workspace_beyond_qkv_mib", extra_mib}});
  }
}

/// One decoding step of self-attention against a cache of 4096 earlier tokens (d_model 512,
/// 8 heads): project the new token, append its key and value, attend over 4097 keys, project
/// out. PyTorch does the same with tensor ops on a cache of projected keys and values (it
/// concatenates the new key and value, as a Python decoding loop does); ORT's `plain` decode
/// graph takes the cache the same way. Bound: the cache and the weights read once, at the
/// read bandwidth the benchmark measures (the best of 1 and 2 threads, as the issue defines
/// it); beside it, the bound at the bandwidth of the step's own thread count, since one core
/// alone cannot pull what two do. A step reads 21 MB, which stays in this machine's L3 from one
/// timed step to the next, as it would not in a model of several layers: the bandwidth is that
/// of a buffer of the same size, read on 1 and on 2 threads in the same alternating blocks as
/// the step (measured once before the rows, the same probe read 81 GB/s in one run and
/// 125–138 in others that day, which moved the step's share of its bound by half).
template <class Layer>
void bench_decode_step(context& ctx) {
  constexpr long d = Layer::d_model, h = Layer::heads, dh = Layer::key_dim_per_head;
  constexpr long cached = 4096;
  torch::manual_seed(0);
  torch::nn::MultiheadAttention torch_mha(torch::nn::MultiheadAttentionOptions(d, h));
  torch_mha->eval();
  torch::NoGradGuard no_grad;
  auto params = Layer::from_weights(tfm::naming::pytorch, [&](const std::string& name) {
    if (name == "in_proj_weight") return bench::to_vector(torch_mha->in_proj_weight);
    if (name == "in_proj_bias") return bench::to_vector(torch_mha->in_proj_bias);
    if (name == "out_proj.weight") return bench::to_vector(torch_mha->out_proj->weight);
    return bench::to_vector(torch_mha->out_proj->bias);
  });
  const torch::Tensor context_tokens = torch::randn({cached, d});
  const torch::Tensor x = torch::randn({1, d});

  // Ours: the cache holds the projected context; a step appends x's key and value at `cached`.
  const std::size_t capacity = cached + 1;
  std::vector<float> cache(Layer::cache_floats(1, capacity));
  std::vector<float> out(static_cast<std::size_t>(d));
  tfm::workspace ws1(1), ws2(2);
  tfm::workspace* ws = &ws1;
  Layer::append_to_cache(params, context_tokens.data_ptr<float>(), context_tokens.data_ptr<float>(),
                         1, cached, cache.data(), capacity, 0, ws1);
  auto ours = [&] {
    Layer::append_to_cache(params, x.data_ptr<float>(), x.data_ptr<float>(), 1, 1, cache.data(),
                           capacity, cached, *ws);
    Layer::attend_to_cache(params, x.data_ptr<float>(), 1, 1, cache.data(), capacity, cached + 1,
                           out.data(), *ws);
  };

  // PyTorch: the same step in tensor ops over a cache of projected keys and values (h, L, dh).
  const auto w = torch_mha->in_proj_weight, b = torch_mha->in_proj_bias;
  auto heads_of = [&](const torch::Tensor& rows) {  // (L, d) -> (h, L, dh)
    return rows.view({-1, h, dh}).transpose(0, 1).contiguous();
  };
  const auto past_k =
      heads_of(torch::addmm(b.slice(0, d, 2 * d), context_tokens, w.slice(0, d, 2 * d).t()));
  const auto past_v =
      heads_of(torch::addmm(b.slice(0, 2 * d, 3 * d), context_tokens, w.slice(0, 2 * d).t()));
  torch::Tensor reference;
  auto theirs = [&] {
    const auto qkv = torch::addmm(b, x, w.t());  // (1, 3d)
    const auto q = heads_of(qkv.slice(1, 0, d)) * (1.0 / std::sqrt(double(dh)));
    const auto k = torch::cat({past_k, heads_of(qkv.slice(1, d, 2 * d))}, 1);
    const auto v = torch::cat({past_v, heads_of(qkv.slice(1, 2 * d, 3 * d))}, 1);
    const auto p = torch::softmax(torch::bmm(q, k.transpose(1, 2)), -1);
    const auto o = torch::bmm(p, v).transpose(0, 1).reshape({1, d});
    reference = torch::addmm(torch_mha->out_proj->bias, o, torch_mha->out_proj->weight.t());
  };
  ours();
  theirs();
  // And against nn::MultiheadAttention itself, over the 4097 raw tokens.
  const auto all_tokens = torch::cat({context_tokens, x}, 0).unsqueeze(1);  // (L, 1, d)
  const auto module_out = std::get<0>(
      torch_mha->forward(x.unsqueeze(1), all_tokens, all_tokens, {}, /*need_weights=*/false));
  const double max_diff = std::max(
      bench::max_abs_diff(reference.data_ptr<float>(), out.data(), out.size()),
      bench::max_abs_diff(module_out.contiguous().data_ptr<float>(), out.data(), out.size()));

  const double bytes = 2.0 * double(capacity) * double(d) * 4 + 4.0 * double(d * d) * 4;
  bench::read_probe read1(1, std::size_t(bytes)), read2(2, std::size_t(bytes));
  for (int threads : {1, 2}) {
    ws = threads == 1 ? &ws1 : &ws2;
    torch::set_num_threads(threads);
    bench::settle();
    const auto [timings, t_ort] =
        ctx.ort.time_with("decode", 1, 1, d, h, false, threads, ours, theirs, read1, read2);
    const auto [t_ours, t_torch, t_read1, t_read2] = timings;
    const double bandwidth[3] = {0, double(read1.bytes()) / (t_read1.median * 1e-3),
                                 double(read2.bytes()) / (t_read2.median * 1e-3)};
    const double best_bandwidth = std::max(bandwidth[1], bandwidth[2]);
    const double bound = bytes / best_bandwidth * 1e3;
    const double own_bound = bytes / bandwidth[threads] * 1e3;
    const double allocs = allocations_per_call(ours);
    char ort_text[64] = "      n/a";
    if (t_ort.found())
      std::snprintf(ort_text, sizeof ort_text, "%9.3f%c %5.2fx %8.3f (%s)", t_ort.median_ms(),
                    t_ort.interleaved ? ' ' : '*', t_ort.median_ms() / t_ours.median,
                    t_ort.alone_ms, t_ort.variant.c_str());
    std::printf(
        "%2d | %8.3f (%6.3f-%7.3f) %5.1f%% %5.1f%% | %6.1f %6.1f | %8.3f %5.2fx | %s | %6.3f | "
        "%5.1f | %.1e\n",
        threads, t_ours.median, t_ours.min, t_ours.max, 100 * bound / t_ours.median,
        100 * own_bound / t_ours.median, bandwidth[1] * 1e-9, bandwidth[2] * 1e-9, t_torch.median,
        t_torch.median / t_ours.median, ort_text, bound, allocs, max_diff);
    std::fflush(stdout);
    ctx.records.push_back(
        {{"decode_step", true},
         {"cached_tokens", cached},
         {"d_model", d},
         {"heads", h},
         {"threads", threads},
         {"ours_ms", bench::as_json(t_ours)},
         {"percent_of_bandwidth_bound", 100 * bound / t_ours.median},
         {"bound_ms", bound},
         {"read_bandwidth_gbs", best_bandwidth * 1e-9},
         {"percent_of_own_thread_count_bound", 100 * own_bound / t_ours.median},
         {"read_bandwidth_this_thread_count_gbs", bandwidth[threads] * 1e-9},
         {"read_probe_ms", {{"1", bench::as_json(t_read1)}, {"2", bench::as_json(t_read2)}}},
         {"pytorch_ms", bench::as_json(t_torch)},
         {"onnxruntime_ms", t_ort.found() ? nlohmann::json(t_ort.median_ms()) : nlohmann::json()},
         {"onnxruntime", t_ort.as_json()},
         {"heap_allocations_per_call", allocs},
         {"max_abs_diff_vs_pytorch", max_diff}});
  }
}

/// The decode step's header and rows.
void decode_section(context& ctx) {
  const double step_bytes = 2.0 * 4097 * 512 * 4 + 4.0 * 512 * 512 * 4;
  const double dram_bandwidth = std::max(bench::read_bandwidth(1), bench::read_bandwidth(2));
  std::printf(
      "\nDecode step: 1 new token, 4096 cached (d_model 512, 8 heads); bound = %.1f MB "
      "(cache + weights) at the read bandwidth of a buffer that size, the best of 1 and 2 "
      "threads (GB/s columns), each read in the same alternating blocks as the step; 'own' is "
      "the bound at the bandwidth of the row's thread count. From memory (256 MiB, measured "
      "once): %.1f GB/s\n",
      step_bytes / 1e6, dram_bandwidth * 1e-9);
  std::printf(
      "th |  ours ms (   min -    max) of bound   own | GB/s 1 GB/s 2 | PyTorch t/ours |     "
      "ORT ms ORT/ours    alone (variant) | bound ms | allocs | max|diff|\n");
  bench_decode_step<mha512>(ctx);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string json_path = bench::parse_common_flags(argc, argv);
  bench::configure_peers();
  context ctx(argc, argv);
  std::string only;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--only") only = argv[i + 1];
  const auto section = [&](const char* name) { return only.empty() || only == name; };
  ctx.peak[1] = bench::fma_peak_gflops(1);
  ctx.peak[2] = bench::fma_peak_gflops(2);

  std::printf(
      "typeformer instruction set: %s; FP32 FMA peak measured: %.1f GFLOP/s (1 thread), "
      "%.1f (2 threads)\n",
      std::string(tfm::simd::best_arch::name()).c_str(), ctx.peak[1], ctx.peak[2]);
  std::printf(
      "PyTorch %s with OMP_WAIT_POLICY=PASSIVE, glibc M_MMAP_MAX=0, M_TRIM_THRESHOLD=1 GiB; "
      "ONNX Runtime: %s\n",
      TORCH_VERSION, ctx.ort.describe().c_str());
  if (ctx.ort.results().loaded())
    std::printf(
        "ONNX Runtime per-call binding overhead (Node.js): %.1f us (1 thread), %.1f us "
        "(2 threads), included in its times; ORT ms marked * is its stand-alone time (not "
        "interleaved), 'alone' always is\n",
        ctx.ort.results().binding_overhead_us(1), ctx.ort.results().binding_overhead_us(2));
  std::printf(
      "median ms (min-max) over >= %s each, ours, PyTorch, OpenBLAS and ORT timed in "
      "alternating blocks; GFLOP/s counts projections + unmasked attention "
      "pairs; bound = OpenBLAS projections + attention at 80%% of peak; ceiling = every "
      "counted FLOP at 100%% of peak, and ORT/ceil the largest ORT/ours any float32 code can "
      "reach here; FMA now = the rate of FMA chains timed in the same blocks, as a share of the "
      "peak (below 100%%: the machine was slower in that row's minutes than at the start)\n",
      bench::quick ? "3 runs, 0.3 s (--quick)" : "7 runs, 2 s");
  if (section("shapes")) {
    std::printf(
        "   B     L    d   h mask   th |  ours ms (    min -     max) GFLOP/s peak | "
        "PyTorch  t/ours |     ORT ms ORT/ours ORT/ceil    alone | BLAS prj bound ms ours/bnd  "
        "ceil ms | FMA now | allocs ws MiB beyond-qkv MiB | max|diff|\n");
    for (bool causal : {false, true}) {
      bench_shape<mha512>(ctx, 64, 5, causal);
      bench_shape<mha768>(ctx, 1, 128, causal);
      bench_shape<mha768>(ctx, 8, 128, causal);
      bench_shape<mha768>(ctx, 1, 512, causal);
      bench_shape<mha512>(ctx, 1, 2048, causal);
      bench_shape<mha512>(ctx, 1, 4096, causal);
    }
  }
  if (section("relative")) {
    std::printf(
        "\nRelative-position attention (Shaw), relative terms in the tiled kernel; PyTorch as "
        "tensor2tensor computes it (gathered (L, L, depth) tables and einsums). GFLOP/s counts "
        "the plain attention's FLOPs\n"
        "   B     L    d   h   K th |  ours ms (    min -     max) GFLOP/s peak | plain MHA "
        "rel/plain | PyTorch t/ours | allocs | max|diff|\n");
    bench_relative<16>(ctx, 8, 128);
    bench_relative<16>(ctx, 1, 1024);
    std::printf("The single-head core (relative_dot_attention, depth 64, inputs as given):\n");
    bench_relative_core<16>(ctx, 8, 128);
    bench_relative_core<16>(ctx, 1, 1024);
  }
  if (section("memory")) {
    std::printf(
        "\nMemory at the issue's target shape (first call, so the workspace grows to it):\n");
    bench_memory<mha512>(ctx, 1, 8192);
  }
  if (section("decode")) decode_section(ctx);
  if (!json_path.empty()) {
    nlohmann::json out = {{"benchmark", "mha"},
                          {"instruction_set", std::string(tfm::simd::best_arch::name())},
                          {"fma_peak_gflops", {{"1", ctx.peak[1]}, {"2", ctx.peak[2]}}},
                          {"quick", bench::quick},
                          {"onnxruntime", ctx.ort.describe()},
                          {"records", ctx.records}};
    std::ofstream(json_path) << out.dump(2) << '\n';
  }
}
