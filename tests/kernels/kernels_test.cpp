// Kernel tests for one instruction set (this file is compiled once per set) and the scalar
// path: each kernel against a plain double-precision loop on odd shapes, so SIMD tails,
// padded keys and partially masked tiles are all exercised. PyTorch goldens for the layers
// live in attention_golden_test.cpp.

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <type_traits>
#include <vector>

#include <typeformer/functions/call.hpp>
#include <typeformer/kernels/attention_probabilities.hpp>
#include <typeformer/kernels/flash_attention.hpp>
#include <typeformer/kernels/gemm.hpp>
#include <typeformer/kernels/layer_norm.hpp>
#include <typeformer/kernels/packed_bf16_matrix.hpp>
#include <typeformer/kernels/project_keys_values.hpp>
#include <typeformer/kernels/rotary_embedding.hpp>
#include <typeformer/kernels/softmax.hpp>

namespace tk = typeformer::kernels;
namespace simd = typeformer::simd;
using typeformer::causal_alignment;
using typeformer::extent_t;
using typeformer::fully_masked_rows;

namespace {

std::vector<float> random_vector(std::size_t n, unsigned seed, float scale = 1.0f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(gen);
  return v;
}

// `value` rounded to 8 significant bits, ties to even (bfloat16's precision; no overflow or
// subnormals in these tests): by frexp and the default rounding mode, not by bit patterns as
// packed_bf16_matrix does it.
double rounded_to_bfloat16(float value) {
  int exponent = 0;
  const double fraction = std::frexp(double(value), &exponent);  // in [0.5, 1)
  return std::ldexp(std::nearbyint(std::ldexp(fraction, 8)), exponent - 8);
}

// A weight as a matrix of type Weights stores it.
template <class Weights>
double stored(float w) {
  if constexpr (tk::is_bf16_weights<Weights>)
    return rounded_to_bfloat16(w);
  else
    return w;
}

// An input as the GEMM multiplies it with Weights: rounded to bfloat16 for vdpbf16ps's
// arithmetic, as it is.
template <class Weights>
double multiplied(float x) {
  if constexpr (tk::rounds_inputs<Weights>)
    return rounded_to_bfloat16(x);
  else
    return x;
}

template <class Arch, class Weights = tk::packed_matrix>
void check_gemm(std::size_t rows, std::size_t inputs, std::size_t outputs,
                std::size_t threads = 1) {
  const auto x = random_vector(rows * inputs, 1);
  const auto w = random_vector(inputs * outputs, 2);  // (outputs, inputs), PyTorch layout
  const auto bias = random_vector(outputs, 3);
  const auto packed = Weights::pack([&](std::size_t k, std::size_t n) { return w[n * inputs + k]; },
                                    inputs, outputs);
  const std::size_t ldy = outputs + 3;
  std::vector<float> y(rows * ldy, 42.0f);
  const tk::basic_gemm_args<Weights> args{x.data(),    inputs, rows,     &packed,
                                          bias.data(), 0.5f,   y.data(), ldy};
  if (threads == 1) {
    tk::gemm<Arch>(args);
  } else {
    typeformer::thread_pool pool(threads);
    tk::gemm<Arch>(pool, args);
  }
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t n = 0; n < outputs; ++n) {
      double ref = bias[n];
      for (std::size_t k = 0; k < inputs; ++k)
        ref += multiplied<Weights>(x[r * inputs + k]) * stored<Weights>(w[n * inputs + k]);
      // float32 rounding of a sum of `inputs` products of magnitude ≤ 1 grows like √inputs;
      // one product missing or counted twice is ~0.25, far outside.
      REQUIRE(y[r * ldy + n] ==
              Approx(ref * 0.5).margin(1e-6 * std::sqrt(double(inputs))).epsilon(1e-5));
    }
    for (std::size_t n = outputs; n < ldy; ++n) REQUIRE(y[r * ldy + n] == 42.0f);  // untouched
  }
}

// A bfloat16 GEMM over many rows widens each block of panels once, for the float32
// micro-kernel; one row widens in its micro-kernel calls. Both sum in the same order: the same
// bits, with a bias, a residual and several K blocks and widened blocks.
template <class Arch>
void check_bf16_widening_paths_agree() {
  const std::size_t rows = tk::detail::gemm_widen_rows<Arch> + 5, inputs = 1500, outputs = 40;
  const auto x = random_vector(rows * inputs, 51), w = random_vector(inputs * outputs, 52);
  const auto bias = random_vector(outputs, 53), residual = random_vector(rows * outputs, 54);
  const auto packed = tk::packed_bf16_matrix::pack(
      [&](std::size_t k, std::size_t n) { return w[k * outputs + n]; }, inputs, outputs);
  std::vector<float> all(rows * outputs), one(outputs);
  tk::basic_gemm_args<tk::packed_bf16_matrix> args{x.data(),    inputs, rows,       &packed,
                                                   bias.data(), 0.5f,   all.data(), outputs};
  args.act = typeformer::kernels::activation::gelu;
  args.residual = residual.data(), args.ld_residual = outputs;
  tk::gemm<Arch>(args);
  for (std::size_t r = 0; r < rows; ++r) {
    auto row = args;
    row.x = x.data() + r * inputs, row.rows = 1, row.y = one.data();
    row.residual = residual.data() + r * outputs;
    tk::gemm<Arch>(row);
    for (std::size_t n = 0; n < outputs; ++n) REQUIRE(one[n] == all[r * outputs + n]);
  }
}

// vdpbf16ps's arithmetic three ways: emulated by Arch's kernels, emulated by the scalar path,
// and (where the CPU has it) by the instruction. Each product is exact and the sums run in the
// same order, so all give the same bits: with a bias, a residual, three K blocks, a whole row
// block and every row and panel tail (no subnormal values, which the instruction flushes).
template <class Arch>
void check_bf16_products_paths_agree(typeformer::kernels::activation act) {
  const std::size_t rows = tk::gemm_row_block + 19, inputs = 2 * tk::gemm_k_block + 5;
  const std::size_t outputs = 16 * 9 + 5, ldx = inputs + 3;  // x's rows apart
  const auto x = random_vector(rows * ldx, 61, 3.0f), w = random_vector(inputs * outputs, 62);
  const auto bias = random_vector(outputs, 63), residual = random_vector(rows * outputs, 64);
  const auto packed = tk::packed_bf16_dot_matrix::pack(
      [&](std::size_t k, std::size_t n) { return w[k * outputs + n]; }, inputs, outputs);
  std::vector<float> emulated(rows * outputs), scalar(rows * outputs), native(rows * outputs);
  tk::basic_gemm_args<tk::packed_bf16_dot_matrix> args{
      x.data(),        ldx,     rows, &packed,         bias.data(), 0.5f,
      emulated.data(), outputs, act,  residual.data(), outputs};
  tk::detail::gemm_portable<Arch>(args, 0, rows, 0, packed.panels());
  // The scalar path's activations are not Arch's (std::erf against xsimd's): compare them
  // before any activation only.
  if (act == typeformer::kernels::activation::identity) {
    auto one_lane = args;
    one_lane.y = scalar.data();
    tk::detail::gemm_portable<simd::scalar>(one_lane, 0, rows, 0, packed.panels());
    for (std::size_t i = 0; i < emulated.size(); ++i) REQUIRE(scalar[i] == emulated[i]);
  }
#if TYPEFORMER_BF16_DOT_KERNELS
  if constexpr (tk::detail::has_bf16_dot_kernels<Arch>) {
    if (!tk::bf16_dot::cpu_has_instruction()) {
      WARN("this CPU has no AVX-512 BF16: vdpbf16ps not run, only its emulation");
      return;
    }
    auto by_instruction = args;
    by_instruction.y = native.data();
    tk::detail::gemm_bf16_dot<Arch>(by_instruction, 0, rows, 0, packed.panels());
    for (std::size_t i = 0; i < emulated.size(); ++i) REQUIRE(native[i] == emulated[i]);
    // One row at a time and split over panels: the decoding calls.
    std::vector<float> one(outputs);
    for (std::size_t r : {std::size_t{0}, rows / 2, rows - 1}) {
      auto row = by_instruction;
      row.x = x.data() + r * ldx, row.rows = 1, row.y = one.data();
      row.residual = residual.data() + r * outputs;
      tk::detail::gemm_bf16_dot<Arch>(row, 0, 1, 0, 3);
      tk::detail::gemm_bf16_dot<Arch>(row, 0, 1, 3, packed.panels());
      for (std::size_t n = 0; n < outputs; ++n) REQUIRE(one[n] == emulated[r * outputs + n]);
    }
  }
#endif
}

// Which path the public gemm takes for bfloat16 products: the instruction wherever the build
// and the CPU allow it. Told apart by a subnormal product (2^-70 · 2^-70), which vdpbf16ps
// flushes to zero and the emulation keeps.
template <class Arch>
void check_bf16_products_path_chosen() {
  const float tiny = 0x1p-70f;
  const auto packed =
      tk::packed_bf16_dot_matrix::pack([&](std::size_t, std::size_t) { return tiny; }, 1, 1);
  float y = 42.0f;
  const tk::basic_gemm_args<tk::packed_bf16_dot_matrix> args{&tiny,   1,    1,  &packed,
                                                             nullptr, 1.0f, &y, 1};
  tk::gemm<Arch>(args);
  bool instruction = false;
#if TYPEFORMER_BF16_DOT_KERNELS
  instruction = tk::detail::has_bf16_dot_kernels<Arch> && tk::bf16_dot::cpu_has_instruction();
#endif
  INFO("vdpbf16ps expected: " << instruction);
  REQUIRE(y == (instruction ? 0.0f : 0x1p-140f));
}

// The rounding of inputs to bfloat16 pairs that feeds vdpbf16ps: ties to even, the sign, odd
// lengths, and nothing written past the last pair.
template <class Arch>
void check_round_to_pairs() {
#if TYPEFORMER_BF16_DOT_KERNELS
  if (!tk::bf16_dot::cpu_has_instruction()) {
    WARN("this CPU has no AVX-512 BF16: its input rounding not run");
    return;
  }
  for (std::size_t n : {1, 2, 15, 16, 17, 31, 32, 33, 63, 100}) {
    auto x = random_vector(n, 70 + unsigned(n), 5.0f);
    x[0] = 1.0f + 0x1p-8f;                    // halfway: to even, 1
    if (n > 1) x[1] = -(1.0f + 3 * 0x1p-8f);  // halfway: to even, -(1 + 2^-6)
    std::vector<std::uint32_t> pairs((n + 1) / 2 + 4, 0xDEADBEEFu);
    tk::bf16_dot::round_to_pairs<Arch>(x.data(), n, pairs.data());
    for (std::size_t i = 0; i < n; ++i) {
      const auto half = static_cast<std::uint16_t>(pairs[i / 2] >> (i % 2 ? 16 : 0));
      REQUIRE(double(typeformer::io::bf16_to_float(half)) == rounded_to_bfloat16(x[i]));
    }
    if (n % 2) REQUIRE(pairs[n / 2] >> 16 == 0);
    for (std::size_t i = (n + 1) / 2; i < pairs.size(); ++i) REQUIRE(pairs[i] == 0xDEADBEEFu);
  }
#endif
}

// Keys and values projected into the attention layout a tile at a time, on `threads` threads,
// against float64 products read back through the layout's own addressing. Tiles cross batch
// entries when key_len is not a multiple of the tile; padding keys are never written.
template <class Arch>
void check_project_keys_and_values(std::size_t batch, std::size_t key_len, std::size_t threads) {
  constexpr std::size_t heads = 3, kd = 8, vd = 5, features = 11;
  const auto key = random_vector(batch * key_len * features, 41);
  const auto value = random_vector(batch * key_len * features, 42);
  const auto wk = random_vector(features * heads * kd, 43);  // (in, out)
  const auto wv = random_vector(features * heads * vd, 44);
  const auto bk = random_vector(heads * kd, 45);
  const auto pk = tk::packed_matrix::pack(
      [&](std::size_t k, std::size_t n) { return wk[k * heads * kd + n]; }, features, heads * kd);
  const auto pv = tk::packed_matrix::pack(
      [&](std::size_t k, std::size_t n) { return wv[k * heads * vd + n]; }, features, heads * vd);
  tk::attention_operands o;
  o.batch = batch, o.heads = heads, o.key_len = key_len, o.key_dim = kd, o.value_dim = vd;
  o.key_capacity = tk::attention_operands::key_capacity_for(key_len);
  o.v_stride = tk::attention_operands::v_stride_for(vd);
  std::vector<float> kt(batch * heads * kd * o.key_capacity, 7.0f);
  std::vector<float> v(batch * heads * key_len * o.v_stride, 7.0f);
  std::vector<float> staging(tk::key_value_staging_floats(threads, heads * kd, heads * vd));
  typeformer::thread_pool pool(threads);
  tk::project_keys_and_values<Arch>(
      pool, {key.data(), features, &pk, bk.data(), value.data(), features, &pv, nullptr}, batch, o,
      kt.data(), v.data(), staging.data());
  for (std::size_t b = 0; b < batch; ++b)
    for (std::size_t h = 0; h < heads; ++h)
      for (std::size_t j = 0; j < o.key_capacity; ++j) {
        const float* block = kt.data() + (b * heads + h) * kd * o.key_capacity;
        for (std::size_t d = 0; d < kd; ++d) {
          const float got =
              block[tk::transposed_key_offset(d, j, kd, tk::stored_key_block(o.key_capacity))];
          if (j >= key_len) {
            REQUIRE(got == 7.0f);  // padding: left as it was
            continue;
          }
          double ref = bk[h * kd + d];
          for (std::size_t f = 0; f < features; ++f)
            ref += double(key[(b * key_len + j) * features + f]) * wk[f * heads * kd + h * kd + d];
          REQUIRE(got == Approx(ref).margin(1e-5).epsilon(1e-5));
        }
        if (j >= key_len) continue;
        const float* row = v.data() + ((b * heads + h) * key_len + j) * o.v_stride;
        for (std::size_t c = 0; c < o.v_stride; ++c) {
          if (c >= vd) {
            REQUIRE(row[c] == 0.0f);  // row padding is zeroed
            continue;
          }
          double ref = 0;
          for (std::size_t f = 0; f < features; ++f)
            ref +=
                double(value[(b * key_len + j) * features + f]) * wv[f * heads * vd + h * vd + c];
          REQUIRE(row[c] == Approx(ref).margin(1e-5).epsilon(1e-5));
        }
      }
}

template <class Arch, class Weights = tk::packed_matrix>
void check_gemm_epilogue(typeformer::kernels::activation act, bool with_residual,
                         std::size_t rows = 7, std::size_t inputs = 9, std::size_t outputs = 21) {
  const auto x = random_vector(rows * inputs, 21, 2.0f);
  const auto w = random_vector(inputs * outputs, 22);
  const auto residual = random_vector(rows * outputs, 23);
  const auto packed = Weights::pack(
      [&](std::size_t k, std::size_t n) { return w[k * outputs + n]; }, inputs, outputs);
  std::vector<float> y(rows * outputs);
  tk::basic_gemm_args<Weights> args{x.data(), inputs, rows,     &packed,
                                    nullptr,  1.0f,   y.data(), outputs};
  args.act = act;
  if (with_residual) args.residual = residual.data(), args.ld_residual = outputs;
  tk::gemm<Arch>(args);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t n = 0; n < outputs; ++n) {
      double z = 0;
      for (std::size_t k = 0; k < inputs; ++k)
        z += multiplied<Weights>(x[r * inputs + k]) * stored<Weights>(w[k * outputs + n]);
      double ref = z;
      switch (act) {
        case typeformer::kernels::activation::relu:
          ref = std::max(z, 0.0);
          break;
        case typeformer::kernels::activation::gelu:
          ref = 0.5 * z * (1 + std::erf(z / std::sqrt(2.0)));
          break;
        case typeformer::kernels::activation::gelu_tanh:
          ref = 0.5 * z * (1 + std::tanh(std::sqrt(2 / M_PI) * (z + 0.044715 * z * z * z)));
          break;
        case typeformer::kernels::activation::tanh:
          ref = std::tanh(z);
          break;
        case typeformer::kernels::activation::sigmoid:
          ref = 1 / (1 + std::exp(-z));
          break;
        case typeformer::kernels::activation::identity:
        case typeformer::kernels::activation::softmax:  // a row operation, never an epilogue
          break;
      }
      if (with_residual) ref += residual[r * outputs + n];
      // As check_gemm, with products of magnitude ≤ 2.
      const double margin = std::max(2e-5, 2e-6 * std::sqrt(double(inputs)));
      REQUIRE(y[r * outputs + n] == Approx(ref).margin(margin).epsilon(1e-5));
    }
}

template <class Arch>
void check_layer_norm(std::size_t width) {
  const std::size_t rows = 5;
  auto x = random_vector(rows * width, 31, 3.0f);
  for (auto& v : x) v += 100.0f;  // a large mean: the two-pass variance must not cancel
  const auto gamma = random_vector(width, 32), beta = random_vector(width, 33);
  std::vector<float> y(rows * width);
  tk::layer_norm<Arch>({x.data(), width, width, gamma.data(), beta.data(), 1e-5f, y.data(), width},
                       0, rows);
  for (std::size_t r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (std::size_t j = 0; j < width; ++j) mean += x[r * width + j];
    mean /= double(width);
    for (std::size_t j = 0; j < width; ++j)
      var += (x[r * width + j] - mean) * (x[r * width + j] - mean);
    var /= double(width);
    for (std::size_t j = 0; j < width; ++j) {
      const double ref = (x[r * width + j] - mean) / std::sqrt(var + 1e-5) * gamma[j] + beta[j];
      REQUIRE(y[r * width + j] == Approx(ref).margin(5e-5).epsilon(1e-4));
    }
  }
}

// Rotary embedding of (batch 2, heads 3, len, width) strided rows against the formula in double:
// pair m turns by (first + j)·base^(−2m/dims).
template <class Arch>
void check_rotary(tk::rotary_pairs pairing, std::size_t width, std::size_t dims, std::size_t first,
                  std::size_t len) {
  const std::size_t batch = 2, heads = 3, half = dims / 2;
  // Stored (batch, len, heads, width), as a projection writes it.
  const auto x = random_vector(batch * len * heads * width, 21, 2.0f);
  std::vector<float> cos_table(len * half), sin_table(len * half);
  tk::rotary_angles<Arch>(cos_table.data(), sin_table.data(), first, len, dims, 10000.0);
  std::vector<float> out(batch * heads * len * width, std::nanf(""));
  tk::rotate_heads<Arch>(x.data(), {len * heads * width, width, heads * width}, heads, len, width,
                         dims, pairing, cos_table.data(), sin_table.data(), out.data(), 0,
                         batch * heads);
  for (std::size_t b = 0; b < batch; ++b)
    for (std::size_t h = 0; h < heads; ++h)
      for (std::size_t j = 0; j < len; ++j) {
        const float* in = &x[((b * len + j) * heads + h) * width];
        const float* o = &out[((b * heads + h) * len + j) * width];
        for (std::size_t m = 0; m < half; ++m) {
          const double angle =
              double(first + j) * std::pow(10000.0, -2.0 * double(m) / double(dims));
          const std::size_t a = pairing == tk::rotary_pairs::half_split ? m : 2 * m;
          const std::size_t z = pairing == tk::rotary_pairs::half_split ? m + half : 2 * m + 1;
          const double ra = in[a] * std::cos(angle) - in[z] * std::sin(angle);
          const double rz = in[z] * std::cos(angle) + in[a] * std::sin(angle);
          INFO("position " << first + j << ", pair " << m);
          REQUIRE(o[a] == Approx(ra).margin(2e-6).epsilon(1e-6));
          REQUIRE(o[z] == Approx(rz).margin(2e-6).epsilon(1e-6));
        }
        for (std::size_t d = dims; d < width; ++d) REQUIRE(o[d] == in[d]);
      }
}

struct attention_case {
  std::size_t batch = 2, heads = 3, lq = 7, lk = 11, dk = 5, dv = 6;
  causal_alignment causal = causal_alignment::none;
  std::vector<typeformer::extent_t> lengths;
  std::vector<std::uint8_t> keep;       // (batch, lq, lk)
  std::vector<float> bias;              // (lq, lk), broadcast over batch and heads
  std::vector<std::uint8_t> attending;  // (batch, lq): 0 hides every key from the row
  fully_masked_rows policy = fully_masked_rows::zeros;
  float scale = 1.0f;
  typeformer::maths softmax_maths = typeformer::maths::fast;
  std::size_t key_splits = 1;  // > 1: the split-key path and its merge
  // Shaw relative-position terms with tables of 2K+1 rows when max_distance > 0.
  std::size_t max_distance = 0;
  bool relative_values = true;
  std::vector<float> rel_k, rel_v;  // filled by check_attention
  std::size_t kv_heads = 0;         // heads of keys and values; 0: as many as queries
  std::size_t kv() const { return kv_heads ? kv_heads : heads; }
  // Keys and values are (batch, lk, kv(), width); query head h reads head h·kv()/heads.
  std::size_t key_at(std::size_t b, std::size_t j, std::size_t h, std::size_t width) const {
    return ((b * lk + j) * kv() + h * kv() / heads) * width;
  }
};

// Straightforward softmax attention in double precision, straight from the definitions.
std::vector<double> reference(const attention_case& c, const std::vector<float>& q,
                              const std::vector<float>& k, const std::vector<float>& v,
                              std::vector<double>* probabilities = nullptr) {
  std::vector<double> out(c.batch * c.lq * c.heads * c.dv);
  if (probabilities) probabilities->assign(c.batch * c.heads * c.lq * c.lk, 0.0);
  for (std::size_t b = 0; b < c.batch; ++b)
    for (std::size_t h = 0; h < c.heads; ++h)
      for (std::size_t i = 0; i < c.lq; ++i) {
        std::vector<double> s(c.lk);
        std::vector<bool> visible(c.lk, true);
        for (std::size_t j = 0; j < c.lk; ++j) {
          double dot = 0;
          for (std::size_t d = 0; d < c.dk; ++d)
            dot += double(float(q[((b * c.lq + i) * c.heads + h) * c.dk + d] * c.scale)) *
                   k[c.key_at(b, j, h, c.dk) + d];
          if (c.max_distance > 0) {
            const auto r = std::size_t(std::clamp<std::ptrdiff_t>(
                               std::ptrdiff_t(j) - std::ptrdiff_t(i),
                               -std::ptrdiff_t(c.max_distance), std::ptrdiff_t(c.max_distance))) +
                           c.max_distance;
            for (std::size_t d = 0; d < c.dk; ++d)
              dot += double(float(q[((b * c.lq + i) * c.heads + h) * c.dk + d] * c.scale)) *
                     c.rel_k[r * c.dk + d];
          }
          if (!c.bias.empty()) dot += c.bias[i * c.lk + j];
          const auto ji = static_cast<std::ptrdiff_t>(j), ii = static_cast<std::ptrdiff_t>(i);
          if (c.causal == causal_alignment::top_left && ji > ii) visible[j] = false;
          if (c.causal == causal_alignment::bottom_right &&
              ji > ii + static_cast<std::ptrdiff_t>(c.lk) - static_cast<std::ptrdiff_t>(c.lq))
            visible[j] = false;
          if (!c.lengths.empty() && ji >= c.lengths[b]) visible[j] = false;
          if (!c.keep.empty() && !c.keep[(b * c.lq + i) * c.lk + j]) visible[j] = false;
          if (!c.attending.empty() && !c.attending[b * c.lq + i]) visible[j] = false;
          if (!visible[j] && c.policy == fully_masked_rows::minus_1e9_added)
            s[j] = double(float(float(dot) + -1e9f));
          else
            s[j] = visible[j] ? dot : -std::numeric_limits<double>::infinity();
        }
        double max = -std::numeric_limits<double>::infinity();
        for (double x : s) max = std::max(max, x);
        double* o = &out[((b * c.lq + i) * c.heads + h) * c.dv];
        if (max == -std::numeric_limits<double>::infinity()) {
          const double fill = c.policy == fully_masked_rows::nan ? std::nan("") : 0.0;
          for (std::size_t e = 0; e < c.dv; ++e) o[e] = fill;
          continue;
        }
        double sum = 0;
        for (auto& x : s) sum += (x = std::exp(x - max));
        for (std::size_t j = 0; j < c.lk; ++j) {
          if (probabilities)
            (*probabilities)[((b * c.heads + h) * c.lq + i) * c.lk + j] = s[j] / sum;
          for (std::size_t e = 0; e < c.dv; ++e)
            o[e] += s[j] / sum * v[c.key_at(b, j, h, c.dv) + e];
          if (c.max_distance > 0 && c.relative_values) {
            const auto r = std::size_t(std::clamp<std::ptrdiff_t>(
                               std::ptrdiff_t(j) - std::ptrdiff_t(i),
                               -std::ptrdiff_t(c.max_distance), std::ptrdiff_t(c.max_distance))) +
                           c.max_distance;
            for (std::size_t e = 0; e < c.dv; ++e) o[e] += s[j] / sum * c.rel_v[r * c.dv + e];
          }
        }
      }
  return out;
}

// Shaw's relative terms as the kernel runs them: a score function with a query_dot and a value
// function, K bound at the call (the layers write the same with K a constant).
namespace shaw {
namespace fx = typeformer::expr;
constexpr fx::operand<"K", std::int32_t> K;
constexpr fx::operand<"rel_k", float, typeformer::dynamic, typeformer::dynamic> rel_k;
constexpr fx::operand<"rel_v", float, typeformer::dynamic, typeformer::dynamic> rel_v;
constexpr auto bucket = fx::clamp(fx::kv_idx - fx::q_idx, -K, K) + K;
constexpr auto scores = fx::score + fx::query_dot(rel_k[bucket]);
constexpr auto values = rel_v[bucket];
}  // namespace shaw

// One run of the kernel: its operands (pointing into kt and vp, whose buffers a move keeps)
// and its output.
struct flash_run {
  tk::attention_operands o;
  tk::mask_spec m;
  std::vector<float> kt, vp, out;
};

// Runs a case, through the split-key path and its merge when c.key_splits > 1; with
// `values_in_place` the kernel reads v where it is (rows of c.dv, a multiple of 16, as
// expr::evaluate passes contiguous values) rather than a padded copy.
template <class Arch, class Functions = tk::no_attention_functions>
flash_run run_flash(const attention_case& c, const std::vector<float>& q,
                    const std::vector<float>& k, const std::vector<float>& v,
                    const Functions& functions = {}, bool values_in_place = false) {
  flash_run run;
  auto& o = run.o;
  auto& m = run.m;
  auto& kt = run.kt;
  auto& vp = run.vp;
  auto& out = run.out;
  o.batch = c.batch, o.heads = c.heads, o.kv_heads = c.kv_heads, o.query_len = c.lq;
  o.key_len = c.lk, o.key_dim = c.dk, o.value_dim = c.dv;
  o.q_scale = c.scale;
  o.softmax_maths = c.softmax_maths;
  o.q = q.data(), o.q_batch = c.lq * c.heads * c.dk, o.q_head = c.dk, o.q_row = c.heads * c.dk;
  o.key_capacity = tk::attention_operands::key_capacity_for(c.lk);
  o.v_stride = tk::attention_operands::v_stride_for(c.dv);
  const std::size_t kv = c.kv();
  kt.assign(c.batch * kv * c.dk * o.key_capacity, std::nanf(""));  // scatter must zero padding
  vp.assign(c.batch * kv * c.lk * o.v_stride, std::nanf(""));
  tk::scatter_keys_transposed<Arch>(k.data(), {c.lk * kv * c.dk, c.dk, kv * c.dk}, c.batch, kv,
                                    c.lk, c.dk, kt.data(), o.key_capacity);
  tk::scatter_values<Arch>(v.data(), {c.lk * kv * c.dv, c.dv, kv * c.dv}, c.batch, kv, c.lk, c.dv,
                           vp.data(), o.v_stride);
  o.kt = kt.data(), o.v = vp.data();
  if (values_in_place) {
    REQUIRE(c.dv == o.v_stride);
    o.v = v.data(), o.v_batch = c.lk * kv * c.dv, o.v_head = c.dv, o.v_row = kv * c.dv;
  }
  out.assign(c.batch * c.lq * c.heads * c.dv, 7.0f);
  o.out = out.data(), o.out_batch = c.lq * c.heads * c.dv, o.out_head = c.dv;
  o.out_row = c.heads * c.dv;

  m.causal = c.causal;
  m.policy = c.policy;
  if (!c.lengths.empty()) m.key_lengths = c.lengths.data();
  using stride = std::ptrdiff_t;
  if (!c.keep.empty())
    m.add(
        tk::visibility_part{c.keep.data(), {.batch = stride(c.lq * c.lk), .query = stride(c.lk)}});
  if (!c.bias.empty()) m.add(tk::bias_part{c.bias.data(), {.query = stride(c.lk)}});
  if (!c.attending.empty())
    m.attending_queries = c.attending.data(), m.attending_queries_batch = std::ptrdiff_t(c.lq);

  const auto run_kernel = [&](const auto& f) {
    std::vector<float> scratch(tk::attention_scratch_floats(c.dk, c.dv, f.row_term_floats()));
    if constexpr (!std::remove_cvref_t<decltype(f)>::has_value_rows) {
      if (c.key_splits > 1) {
        std::vector<float> partials(tk::attention_split_floats(o, c.key_splits), 99.0f);
        tk::flash_attention_split_keys<Arch>(o, m, scratch.data(), partials.data(), c.key_splits, 0,
                                             c.batch * c.heads * c.key_splits, f);
        tk::merge_attention_splits<Arch>(o, m, partials.data(), c.key_splits, scratch.data(), 0,
                                         c.batch * c.heads * c.lq);
        return;
      }
    }
    tk::flash_attention<Arch>(o, m, scratch.data(), f);
  };
  if (c.max_distance > 0) {
    const auto rows = static_cast<extent_t>(2 * c.max_distance + 1);
    const auto operands = typeformer::expr::bind_all(
        typeformer::expr::bind<"K">(static_cast<std::int32_t>(c.max_distance)),
        typeformer::expr::bind<"rel_k">(c.rel_k.data(), {rows, extent_t(c.dk)}),
        typeformer::expr::bind<"rel_v">(c.rel_v.data(), {rows, extent_t(c.dv)}));
    using B = decltype(operands);
    if (c.relative_values)
      run_kernel(
          tk::attention_functions<shaw::scores, typeformer::expr::no_function{}, B, shaw::values>(
              operands));
    else
      run_kernel(
          tk::attention_functions<shaw::scores, typeformer::expr::no_function{}, B>(operands));
  } else {
    run_kernel(functions);
  }
  return run;
}

template <class Arch>
void check_attention(attention_case c) {
  if (c.max_distance > 0) {
    c.rel_k = random_vector((2 * c.max_distance + 1) * c.dk, 13, 1.5f);
    c.rel_v = random_vector((2 * c.max_distance + 1) * c.dv, 14);
  }
  const auto q = random_vector(c.batch * c.lq * c.heads * c.dk, 10, 1.5f);
  const auto k = random_vector(c.batch * c.lk * c.kv() * c.dk, 11, 1.5f);
  const auto v = random_vector(c.batch * c.lk * c.kv() * c.dv, 12);
  const flash_run run = run_flash<Arch>(c, q, k, v);
  const auto& [o, m, kt, vp, out] = run;
  if (c.dv % tk::attention_value_stride_multiple == 0)  // the same arithmetic: the same bits
    REQUIRE(run_flash<Arch>(c, q, k, v, tk::no_attention_functions{}, true).out == out);
  std::vector<double> probabilities;
  const auto ref = reference(c, q, k, v, &probabilities);
  for (std::size_t e = 0; e < out.size(); ++e) {
    if (std::isnan(ref[e])) {
      REQUIRE(std::isnan(out[e]));
    } else {
      REQUIRE(out[e] == Approx(ref[e]).margin(1e-5).epsilon(1e-4));
    }
  }

  if (c.max_distance > 0) return;  // attention_probabilities has no relative terms
  std::vector<float> weights(c.batch * c.heads * c.lq * c.lk);
  tk::attention_probabilities<Arch>(o, m, weights.data());
  for (std::size_t e = 0; e < weights.size(); ++e) {
    if (std::isnan(probabilities[e]) ||
        (c.policy == fully_masked_rows::nan && std::isnan(weights[e])))
      continue;
    REQUIRE(weights[e] == Approx(probabilities[e]).margin(1e-6).epsilon(1e-4));
  }
}

// Attention with a score function and a mask function written out in double precision:
// score(s, i, j, h, b) replaces each scaled score, and keys where visible(i, j, h, b) is false
// are hidden (or, under Keras's policy, get −1e9 added in float32).
template <class Score, class Visible>
std::vector<double> function_reference(const attention_case& c, const std::vector<float>& q,
                                       const std::vector<float>& k, const std::vector<float>& v,
                                       Score score, Visible visible) {
  std::vector<double> out(c.batch * c.lq * c.heads * c.dv);
  for (std::size_t b = 0; b < c.batch; ++b)
    for (std::size_t h = 0; h < c.heads; ++h)
      for (std::size_t i = 0; i < c.lq; ++i) {
        std::vector<double> s(c.lk);
        bool any = false;
        for (std::size_t j = 0; j < c.lk; ++j) {
          double dot = 0;
          for (std::size_t d = 0; d < c.dk; ++d)
            dot += double(float(q[((b * c.lq + i) * c.heads + h) * c.dk + d] * c.scale)) *
                   k[c.key_at(b, j, h, c.dk) + d];
          s[j] = score(dot, i, j, h, b);
          if (visible(i, j, h, b))
            any = true;
          else
            s[j] = c.policy == fully_masked_rows::minus_1e9_added
                       ? double(float(float(s[j]) + -1e9f))
                       : -std::numeric_limits<double>::infinity();
        }
        double* o = &out[((b * c.lq + i) * c.heads + h) * c.dv];
        if (!any && c.policy != fully_masked_rows::minus_1e9_added) {
          const double fill = c.policy == fully_masked_rows::nan ? std::nan("") : 0.0;
          for (std::size_t e = 0; e < c.dv; ++e) o[e] = fill;
          continue;
        }
        const double max = *std::max_element(s.begin(), s.end());
        double sum = 0;
        for (auto& x : s) sum += (x = std::exp(x - max));
        for (std::size_t j = 0; j < c.lk; ++j)
          for (std::size_t e = 0; e < c.dv; ++e)
            o[e] += s[j] / sum * v[c.key_at(b, j, h, c.dv) + e];
      }
  return out;
}

// The kernel with the functions of `Functions` against function_reference.
template <class Arch, class Functions, class Score, class Visible>
void check_attention_functions(const attention_case& c, const Functions& functions, Score score,
                               Visible visible) {
  const auto q = random_vector(c.batch * c.lq * c.heads * c.dk, 10, 1.5f);
  const auto k = random_vector(c.batch * c.lk * c.heads * c.dk, 11, 1.5f);
  const auto v = random_vector(c.batch * c.lk * c.heads * c.dv, 12);
  const flash_run run = run_flash<Arch>(c, q, k, v, functions);
  const auto ref = function_reference(c, q, k, v, score, visible);
  for (std::size_t e = 0; e < run.out.size(); ++e) {
    if (std::isnan(ref[e])) {
      REQUIRE(std::isnan(run.out[e]));
    } else {
      REQUIRE(run.out[e] == Approx(ref[e]).margin(1e-5).epsilon(1e-4));
    }
  }
}

template <class Arch>
void check_softmax_rows(std::size_t width) {
  const std::size_t rows = 4, ld = width + 3;
  auto y = random_vector(rows * ld, 31, 4.0f);
  y[ld + 1] = 1e30f;  // row 1: one huge logit takes everything, without overflow
  y[2 * ld] = std::numeric_limits<float>::quiet_NaN();  // row 2: NaN spreads to the row
  const auto x = y;
  tk::softmax_rows<Arch>(y.data(), rows, width, ld);
  for (std::size_t r = 0; r < rows; ++r) {
    if (r == 2) {
      for (std::size_t j = 0; j < width; ++j) REQUIRE(std::isnan(y[r * ld + j]));
      continue;
    }
    double max = -1e300, sum = 0;
    for (std::size_t j = 0; j < width; ++j) max = std::max(max, double(x[r * ld + j]));
    for (std::size_t j = 0; j < width; ++j) sum += std::exp(double(x[r * ld + j]) - max);
    for (std::size_t j = 0; j < width; ++j)
      REQUIRE(y[r * ld + j] ==
              Approx(std::exp(double(x[r * ld + j]) - max) / sum).margin(1e-7).epsilon(1e-5));
    for (std::size_t j = width; j < ld; ++j) REQUIRE(y[r * ld + j] == x[r * ld + j]);
  }
}

// exp (or exp2, Base2) under a policy, lane by lane, against float64; returns the largest
// relative error on [lo, hi].
template <class Arch, typeformer::maths M, bool Base2 = false>
double exp_worst_relative_error(float lo, float hi, std::size_t points) {
  using O = simd::ops<Arch>;
  std::vector<float> x(simd::round_up(points, O::width), hi);
  for (std::size_t i = 0; i < points; ++i)
    x[i] = lo + (hi - lo) * static_cast<float>(i) / static_cast<float>(points - 1);
  double worst = 0;
  for (std::size_t i = 0; i < x.size(); i += O::width) {
    alignas(64) float y[O::width];
    const auto in = O::load(x.data() + i);
    O::store(y, Base2 ? tk::exp2<Arch, M>(in) : tk::exp<Arch, M>(in));
    for (std::size_t l = 0; l < O::width; ++l) {
      const double ref = Base2 ? std::exp2(double(x[i + l])) : std::exp(double(x[i + l]));
      worst = std::max(worst, std::fabs(y[l] - ref) / ref);
    }
  }
  return worst;
}

template <class Arch, typeformer::maths M, bool Base2 = false>
float exp_of(float x) {
  using O = simd::ops<Arch>;
  alignas(64) float in[O::width], out[O::width];
  std::fill_n(in, O::width, x);
  O::store(out, Base2 ? tk::exp2<Arch, M>(O::load(in)) : tk::exp<Arch, M>(O::load(in)));
  return out[0];
}

template <class Arch>
void check_exp_policies() {
  using typeformer::maths;
  constexpr float inf = std::numeric_limits<float>::infinity();
  // The bounds docs/performance.md and the `maths` comment state.
  CHECK(exp_worst_relative_error<Arch, maths::fast>(-87.3f, 88.0f, 400001) < 5e-7);
  CHECK(exp_worst_relative_error<Arch, maths::fast>(-20.0f, 20.0f, 400001) < 2.5e-7);
  CHECK(exp_worst_relative_error<Arch, maths::exact>(-87.3f, 88.0f, 400001) < 1.5e-7);
  for (maths m : {maths::fast, maths::exact}) {
    auto e = [m](float x) {
      return m == maths::fast ? exp_of<Arch, maths::fast>(x) : exp_of<Arch, maths::exact>(x);
    };
    CHECK(e(-inf) == 0.0f);
    CHECK(e(-100.0f) < 1e-38f);  // fast: 0; exact: a denormal
    CHECK(e(0.0f) == Approx(1.0f).epsilon(2e-7));
    CHECK(std::isnan(e(std::numeric_limits<float>::quiet_NaN())));
  }
  CHECK(exp_of<Arch, maths::fast>(-100.0f) == 0.0f);
  // The fast policy agrees with its scalar form (bit for bit where the set has FMA).
  for (float x : {-87.0f, -50.25f, -3.3f, -1e-3f, 0.0f, 0.7f, 12.0f, 87.9f})
    CHECK(exp_of<Arch, maths::fast>(x) ==
          Approx(exp_of<simd::scalar, maths::fast>(x)).epsilon(5e-7));

  // exp2, which the tiled attention kernel takes of its base-2 scores under the fast policy.
  CHECK(exp_worst_relative_error<Arch, maths::fast, true>(-126.0f, 127.0f, 400001) < 2.5e-7);
  CHECK(exp_worst_relative_error<Arch, maths::fast, true>(-30.0f, 30.0f, 400001) < 2.5e-7);
  CHECK(exp_worst_relative_error<Arch, maths::exact, true>(-126.0f, 126.0f, 400001) < 1.5e-7);
  for (maths m : {maths::fast, maths::exact}) {
    auto e2 = [m](float x) {
      return m == maths::fast ? exp_of<Arch, maths::fast, true>(x)
                              : exp_of<Arch, maths::exact, true>(x);
    };
    CHECK(e2(-inf) == 0.0f);
    CHECK(e2(-140.0f) < 1e-38f);  // fast: 0; exact: a denormal
    CHECK(e2(0.0f) == Approx(1.0f).epsilon(2e-7));
    CHECK(e2(1.0f) == Approx(2.0f).epsilon(2e-7));
    CHECK(e2(-3.0f) == Approx(0.125f).epsilon(2e-7));
    CHECK(std::isnan(e2(std::numeric_limits<float>::quiet_NaN())));
  }
  CHECK(exp_of<Arch, maths::fast, true>(-128.0f) == 0.0f);
  CHECK(exp_of<Arch, maths::fast, true>(inf) == Approx(std::ldexp(1.0f, 127)).epsilon(2.5e-7));
  for (float x : {-126.5f, -50.25f, -3.3f, -1e-3f, 0.0f, 0.7f, 12.0f, 126.9f})
    CHECK(exp_of<Arch, maths::fast, true>(x) ==
          Approx(exp_of<simd::scalar, maths::fast, true>(x)).epsilon(5e-7));
}

// A GEMM over bfloat16 weights (Matrix picks what it multiplies them with) against float64 on
// the shapes that matter to pairs of inputs: odd K, K blocks, row and panel tails, threads,
// epilogues, no inputs.
template <class Arch, class Matrix>
void check_bf16_gemm() {
  check_gemm<Arch, Matrix>(1, 1, 1);
  check_gemm<Arch, Matrix>(13, 7, 37);
  check_gemm<Arch, Matrix>(29, 30, 16);
  // 2053 inputs: three K blocks of 685 rounded up to 686, so each later block starts at an
  // even input, and an odd last input.
  check_gemm<Arch, Matrix>(tk::gemm_row_block + 7, 2 * tk::gemm_k_block + 5, 53);
  check_gemm<Arch, Matrix>(tk::gemm_row_block + 7, 2 * tk::gemm_k_block + 5, 53, 2);
  for (std::size_t rows : {1, 2, 5, 14})
    for (std::size_t outputs : {13, 35, 64, 131, 144}) check_gemm<Arch, Matrix>(rows, 33, outputs);
  check_gemm<Arch, Matrix>(1, 513, 2 * 96 + 5, 2);  // one row: split over panels
  using typeformer::kernels::activation;
  for (activation act : {activation::identity, activation::relu, activation::gelu})
    check_gemm_epilogue<Arch, Matrix>(act, act == activation::gelu);
  check_gemm_epilogue<Arch, Matrix>(activation::gelu, true, 11, 2 * tk::gemm_k_block + 5, 37);
  check_gemm<Arch, Matrix>(30, 0, 20);  // no inputs: y is the bias, scaled, for every row
}

namespace fx = typeformer::expr;
constexpr fx::operand<"window", std::int32_t> window_size;
constexpr auto sliding_window = fx::kv_idx <= fx::q_idx && fx::q_idx - fx::kv_idx < window_size;
constexpr auto soft_cap = 4.0f * fx::tanh(fx::score / 4.0f);
constexpr fx::operand<"slopes", float, typeformer::dynamic> alibi_slopes;
constexpr auto alibi = fx::score + alibi_slopes[fx::head_idx] * fx::to_real(fx::kv_idx - fx::q_idx);
constexpr auto causal_mask = fx::kv_idx <= fx::q_idx;
constexpr fx::operand<"doc", std::int32_t, typeformer::dynamic, typeformer::dynamic> document;
constexpr auto same_document_causal =
    document(fx::batch_idx, fx::q_idx) == document(fx::batch_idx, fx::kv_idx) &&
    fx::kv_idx <= fx::q_idx;
constexpr auto strided =
    fx::kv_idx <= fx::q_idx && ((fx::q_idx - fx::kv_idx) % 7 == 0 || fx::q_idx - fx::kv_idx < 3);
constexpr auto hides_odd_rows = fx::q_idx % 2 == 0;
// Key bounds in the other forms: a distance bounds both ends; a window written as a start.
constexpr auto symmetric_window = fx::abs(fx::kv_idx - fx::q_idx) <= window_size;
constexpr auto window_as_start =
    fx::kv_idx >= fx::q_idx - window_size + 1 && fx::q_idx >= fx::kv_idx;
// Bottom-right alignment, as when decoding: the query rows are the last of the keys' positions.
constexpr fx::operand<"offset", std::int32_t> query_offset;
constexpr auto decoding_window =
    fx::kv_idx <= fx::q_idx + query_offset && fx::q_idx + query_offset - fx::kv_idx < window_size;

// Typed masks written as mask functions: row conditions and key bounds only, so the kernel takes
// them on the typed masks' path, each row a range of keys (functions/key_ranges.hpp).
constexpr fx::operand<"lengths", std::int32_t, typeformer::dynamic> key_length_list;
constexpr fx::operand<"attends", std::int32_t, typeformer::dynamic, typeformer::dynamic> attends;
constexpr auto written_lengths = fx::kv_idx < key_length_list[fx::batch_idx];
constexpr auto written_lengths_causal = fx::q_idx >= fx::kv_idx && written_lengths;
constexpr auto written_attending_lengths =
    attends(fx::batch_idx, fx::q_idx) != 0 && written_lengths && fx::kv_idx <= fx::q_idx;
constexpr auto written_bottom_right = fx::kv_idx <= fx::q_idx + query_offset;
static_assert(fx::element_conjuncts(written_attending_lengths) == 0 &&
              fx::range_conjuncts(written_attending_lengths) == 3 &&
              !fx::starts_keys(written_attending_lengths));
// A window's start is a key bound too, written either way round, and so is a distance's.
static_assert(fx::element_conjuncts(decoding_window) == 0 && fx::starts_keys(decoding_window));
static_assert(fx::range_conjuncts(fx::abs(fx::q_idx - fx::kv_idx) <= window_size) == 1 &&
              fx::range_conjuncts(window_size > fx::kv_idx - fx::q_idx) == 1 &&
              fx::range_conjuncts(fx::kv_idx >= fx::q_idx - window_size) == 1);
// A distance above a bound keeps keys on both sides of the row, and a product is not a bound.
static_assert(fx::element_conjuncts(fx::abs(fx::q_idx - fx::kv_idx) > window_size) == 1 &&
              fx::element_conjuncts(fx::kv_idx * 2 <= fx::q_idx) == 1);

template <auto Score, auto Mask, class Bindings>
auto functions_of(const Bindings& b, const attention_case& c) {
  fx::check_function_call(
      Score, b,
      {extent_t(c.batch), extent_t(c.heads), extent_t(c.lq), extent_t(c.lk), "kernel test"});
  fx::check_function_call(
      Mask, b,
      {extent_t(c.batch), extent_t(c.heads), extent_t(c.lq), extent_t(c.lk), "kernel test"});
  return tk::attention_functions<Score, Mask, Bindings>(b);
}

template <class Arch>
void kernel_suite() {
  SECTION("exp and exp2: the fast and exact policies against float64, and their edges") {
    check_exp_policies<Arch>();
  }
  SECTION("softmax over rows: odd widths, a huge logit, a NaN") {
    check_softmax_rows<Arch>(2);
    check_softmax_rows<Arch>(19);
    check_softmax_rows<Arch>(40);
  }
  SECTION("gemm: odd rows, inputs and outputs") {
    check_gemm<Arch>(1, 1, 1);
    check_gemm<Arch>(13, 7, 37);
    check_gemm<Arch>(29, 30, 16);
  }
  SECTION("gemm: several K blocks and row blocks, every row and panel tail") {
    // Three K blocks with partial sums kept in y between them; a whole row block and tails of
    // 4, 2 and 1 rows (7 past it); 53 outputs: panel pairs and a lone tail panel.
    check_gemm<Arch>(tk::gemm_row_block + 7, 2 * tk::gemm_k_block + 300, 53);
    check_gemm_epilogue<Arch>(typeformer::kernels::activation::gelu, true, 11,
                              2 * tk::gemm_k_block + 5, 37);
  }
  SECTION("gemm: few rows, each panel count of their wider micro-kernels") {
    // One and two rows take up to 8 panels per call, then half as many for what is left: 1-9
    // panels, the last one partial or whole, cover every step of that ladder; 5 and 14 rows
    // add the 4-, 2- and 1-row tails after full micro-kernels.
    for (std::size_t rows : {1, 2, 3, 5, 14})
      for (std::size_t outputs : {13, 16, 35, 61, 64, 80, 109, 131, 144})
        check_gemm<Arch>(rows, 33, outputs);
    check_gemm_epilogue<Arch>(typeformer::kernels::activation::gelu, true, 1,
                              2 * tk::gemm_k_block + 5, 99);
  }
  SECTION("gemm, bfloat16 weights: pairs of inputs, odd K, K blocks, tails, threads") {
    check_bf16_gemm<Arch, tk::packed_bf16_matrix>();
    check_bf16_widening_paths_agree<Arch>();
    check_gemm<Arch>(30, 0, 20);
  }
  SECTION("gemm, bfloat16 products (vdpbf16ps's arithmetic): shapes, tails, threads, paths") {
    check_bf16_gemm<Arch, tk::packed_bf16_dot_matrix>();
    check_bf16_products_paths_agree<Arch>(typeformer::kernels::activation::identity);
    check_bf16_products_paths_agree<Arch>(typeformer::kernels::activation::gelu);
    check_bf16_products_path_chosen<Arch>();
    if constexpr (tk::detail::has_bf16_dot_kernels<Arch>) check_round_to_pairs<Arch>();
  }
  SECTION("bfloat16 packing: round to nearest, ties to even, and the odd last row") {
    // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: even (1); 1 + 3·2^-8 rounds up to 1 + 2^-6;
    // just above halfway rounds up; a value's sign survives.
    const float values[5] = {1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, 1.0f + 0x1p-8f + 0x1p-20f, -3.0f,
                             0.1f};
    const auto m = tk::packed_bf16_matrix::pack(
        [&](std::size_t k, std::size_t n) { return values[k] * float(n + 1); }, 5, 17);
    REQUIRE(m.pairs() == 3);
    REQUIRE(m.at(0, 0) == 1.0f);
    REQUIRE(m.at(1, 0) == 1.0f + 0x1p-6f);
    REQUIRE(m.at(2, 0) == 1.0f + 0x1p-7f);
    REQUIRE(m.at(3, 16) == -51.0f);
    for (std::size_t k = 0; k < 5; ++k)
      for (std::size_t n = 0; n < 17; ++n)
        REQUIRE(double(m.at(k, n)) == rounded_to_bfloat16(values[k] * float(n + 1)));
    REQUIRE(m.panel(0)[2 * tk::panel_width] >> 16 == 0);  // row 5 of the last pair: zero
  }
  SECTION("keys and values projected into the attention layout, tiles across sequences") {
    check_project_keys_and_values<Arch>(2, 7, 1);    // one tile holding both sequences
    check_project_keys_and_values<Arch>(5, 71, 1);   // tiles of 96 rows ending mid-sequence
    check_project_keys_and_values<Arch>(5, 71, 2);   // two threads, each with its own staging
    check_project_keys_and_values<Arch>(1, 200, 2);  // one sequence over several tiles
  }
  SECTION("gemm epilogues: activations and a residual") {
    using typeformer::kernels::activation;
    for (activation act : {activation::identity, activation::relu, activation::gelu,
                           activation::gelu_tanh, activation::tanh, activation::sigmoid})
      check_gemm_epilogue<Arch>(act, act == activation::gelu);
  }
  SECTION("layer norm: odd widths") {
    check_layer_norm<Arch>(1);
    check_layer_norm<Arch>(37);
    check_layer_norm<Arch>(64);
  }
  SECTION("attention: no mask, under each maths policy") {
    attention_case c;
    check_attention<Arch>(c);
    c.softmax_maths = typeformer::maths::exact;
    check_attention<Arch>(c);
  }
  SECTION("attention: long keys cross several tiles, scores scaled in the kernel") {
    attention_case c;
    c.lq = 9, c.lk = 75, c.dk = 17, c.dv = 19;
    check_attention<Arch>(c);
    c.scale = 0.37f;
    check_attention<Arch>(c);
  }
  SECTION("attention: several query blocks and key blocks, wide heads, tails everywhere") {
    // 262 query rows: two full blocks of 128 and a tail of 6 (a micro-tile of 4 and one of
    // 2); 150 keys: two stored key blocks and a tail; value width 72: four-register column
    // chunks and a one-register tail. Causal masks skip whole micro-tiles and key tiles.
    static_assert(tk::attention_query_block == 128, "the row counts below assume it");
    attention_case c;
    c.batch = 1, c.heads = 2, c.lq = 2 * tk::attention_query_block + 6, c.lk = 150, c.dk = 64,
    c.dv = 72;
    c.scale = 0.125f;
    check_attention<Arch>(c);
    c.causal = causal_alignment::top_left;
    check_attention<Arch>(c);
    c.causal = causal_alignment::bottom_right;
    check_attention<Arch>(c);
    c.lengths = {97};
    check_attention<Arch>(c);
  }
  SECTION("attention: one and two query rows, each value-width ladder, a partial last tile") {
    // Micro-tiles of one row (decoding) and of two take wider passes (eight and four registers
    // on AVX2); value strides of 48, 80 and 144 floats leave every narrower pass a remainder.
    // 150 keys: two whole tiles and a partial third.
    for (std::size_t lq : {1, 2})
      for (std::size_t dv : {40, 72, 130}) {
        attention_case c;
        c.batch = 2, c.heads = 2, c.lq = lq, c.lk = 150, c.dk = 64, c.dv = dv;
        c.scale = 0.125f;
        check_attention<Arch>(c);
        c.dk = 20, c.lengths = {150, 71};
        check_attention<Arch>(c);
      }
  }
  SECTION("attention: values read in place, rows a head apart, whole and split keys") {
    // Value rows need no padding at widths of 16 and 64: the kernel reads them where they are,
    // (batch, key, head, width) here, and gives the padded copy's bits (check_attention).
    for (std::size_t dv : {16, 64}) {
      attention_case c;
      c.batch = 2, c.heads = 4, c.kv_heads = 2, c.lq = 70, c.lk = 150, c.dk = 16, c.dv = dv;
      c.causal = causal_alignment::bottom_right;
      check_attention<Arch>(c);
      c.lq = 2, c.key_splits = 3;
      check_attention<Arch>(c);
    }
  }
  SECTION("attention: keys split into ranges and merged (decoding), under every policy") {
    // 1300 keys in 3 ranges of 448 (7 key blocks) and a shorter last one; bottom-right causal
    // and key lengths leave whole ranges empty for some rows.
    attention_case c;
    c.batch = 2, c.heads = 2, c.lq = 3, c.lk = 1300, c.dk = 16, c.dv = 20;
    c.key_splits = 3;
    check_attention<Arch>(c);
    c.causal = causal_alignment::bottom_right;
    c.lengths = {1300, 700};
    check_attention<Arch>(c);
    c.lengths = {0, 300};  // a fully masked sequence, and ranges past the length
    for (auto policy :
         {fully_masked_rows::zeros, fully_masked_rows::nan, fully_masked_rows::minus_1e9_added}) {
      c.policy = policy;
      check_attention<Arch>(c);
    }
    c.key_splits = 5;  // more ranges than 64-key blocks need: empty ranges at the end
    c.lk = 200;
    c.lengths.clear();
    c.causal = causal_alignment::none;
    c.policy = fully_masked_rows::zeros;
    check_attention<Arch>(c);
  }
  SECTION("attention: key lengths at the edges of the stored key blocks") {
    // 16 and 48 keys fill a lone narrow block; 64 fill one whole block, the first length
    // stored like the long ones; 65 begin a second.
    for (std::size_t lk : {16, 48, 64, 65}) {
      attention_case c;
      c.lk = lk, c.dk = 20;
      check_attention<Arch>(c);
      c.causal = causal_alignment::bottom_right;
      check_attention<Arch>(c);
    }
  }
  SECTION("rotary embedding: both pairings, part of the width, far positions") {
    check_rotary<Arch>(tk::rotary_pairs::half_split, 16, 16, 0, 130);
    check_rotary<Arch>(tk::rotary_pairs::interleaved, 16, 16, 0, 130);
    check_rotary<Arch>(tk::rotary_pairs::half_split, 20, 8, 100000, 70);
    check_rotary<Arch>(tk::rotary_pairs::interleaved, 10, 6, 3, 5);
  }
  SECTION("attention: grouped-query and multi-query heads, whole and split keys") {
    // 6 query heads over 3, 2 and 1 key/value heads: head h reads h·kv/6. 150 keys cross
    // tiles; the split path reads the same blocks.
    for (std::size_t kv : {3, 2, 1}) {
      attention_case c;
      c.batch = 2, c.heads = 6, c.kv_heads = kv, c.lq = 9, c.lk = 150, c.dk = 16, c.dv = 12;
      c.scale = 0.25f;
      check_attention<Arch>(c);
      c.causal = causal_alignment::bottom_right;
      c.key_splits = 3;
      check_attention<Arch>(c);
    }
  }
  SECTION("attention: causal, top-left and bottom-right") {
    attention_case c;
    c.causal = causal_alignment::top_left;
    check_attention<Arch>(c);
    c.lk = 70;
    check_attention<Arch>(c);
    c.causal = causal_alignment::bottom_right;
    check_attention<Arch>(c);
    c.lq = c.lk = 37;
    check_attention<Arch>(c);
  }
  SECTION("attention: key lengths, a zero length under each policy") {
    attention_case c;
    c.lengths = {4, 0};
    check_attention<Arch>(c);
    c.policy = fully_masked_rows::nan;
    check_attention<Arch>(c);
    c.policy = fully_masked_rows::minus_1e9_added;
    check_attention<Arch>(c);
  }
  SECTION("attention: a NaN score stays NaN under every policy, it is not a masked row") {
    for (auto policy : {fully_masked_rows::zeros, fully_masked_rows::nan}) {
      attention_case c;
      c.batch = 1, c.heads = 1, c.lq = 3, c.lk = 5, c.dk = 2, c.dv = 3;
      c.policy = policy;
      c.bias.assign(c.lq * c.lk, 0.0f);
      c.bias[1 * c.lk + 2] = std::numeric_limits<float>::quiet_NaN();  // row 1 sees a NaN
      c.bias[2 * c.lk + 0] = -std::numeric_limits<float>::infinity();  // row 2 hides a key
      check_attention<Arch>(c);
      c.key_splits = 2;  // the merge keeps the NaN too
      check_attention<Arch>(c);
    }
  }
  SECTION("attention: keep mask and additive bias") {
    attention_case c;
    c.keep.resize(c.batch * c.lq * c.lk);
    std::mt19937 gen(5);
    for (auto& x : c.keep) x = static_cast<std::uint8_t>(gen() % 3 != 0);
    for (std::size_t j = 0; j < c.lk; ++j) c.keep[2 * c.lk + j] = 0;  // one fully masked row
    c.bias = random_vector(c.lq * c.lk, 6, 2.0f);
    check_attention<Arch>(c);
    c.policy = fully_masked_rows::minus_1e9_added;
    check_attention<Arch>(c);
  }
  SECTION("attention: relative-position terms in the tiles, near and far from the diagonal") {
    // 70 query rows against 150 keys with K = 5: key tiles wholly left of row i − K, wholly
    // right of i + K, and across the band, with micro-tiles of 4 rows and the tails.
    attention_case c;
    c.batch = 2, c.heads = 2, c.lq = 70, c.lk = 150, c.dk = 24, c.dv = 20;
    c.scale = 0.2f;
    c.max_distance = 5;
    check_attention<Arch>(c);
    c.relative_values = false;
    check_attention<Arch>(c);
    c.relative_values = true;
    c.causal = causal_alignment::top_left;
    c.lengths = {150, 41};
    check_attention<Arch>(c);
    c.lq = c.lk = 9, c.max_distance = 40;  // every key within ±K: one bucket per distance
    c.lengths = {9, 0};
    for (auto policy :
         {fully_masked_rows::zeros, fully_masked_rows::nan, fully_masked_rows::minus_1e9_added}) {
      c.policy = policy;
      check_attention<Arch>(c);
    }
    c.causal = causal_alignment::none, c.policy = fully_masked_rows::zeros, c.lengths.clear();
    c.key_splits = 1, c.lq = 2, c.lk = 1300, c.batch = 1, c.heads = 1, c.max_distance = 3;
    tk::attention_operands split;
    split.batch = 1, split.heads = 1, split.query_len = 2, split.key_len = 1300;
    REQUIRE(tk::attention_key_splits(split) == 2);
    REQUIRE(tk::attention_key_splits(split, true) == 1);  // a value function is not split
    check_attention<Arch>(c);
  }
  SECTION("attention: attending queries (Keras's query mask), with key lengths and causal") {
    attention_case c;
    c.lq = 9;
    c.lengths = {8, 5};
    c.attending = {1, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0};
    for (auto policy :
         {fully_masked_rows::zeros, fully_masked_rows::nan, fully_masked_rows::minus_1e9_added}) {
      c.policy = policy;
      check_attention<Arch>(c);
    }
    c.causal = causal_alignment::top_left;
    check_attention<Arch>(c);
  }
  SECTION("attention: tiles that do not raise a row's maximum leave it exact, over 16384 keys") {
    // Rows that see key 0 alone (through a keep mask, a bias of −∞, or a bias so low that its
    // exponentials are 0) must give v[0]: the tiles after the first raise nothing, so they
    // must not rescale the row. Multiplying by the fast 2^0 = 1.00000012 once per tile, the
    // scalar path drifted by 2e-5 relative at 4096 keys and SIMD paths by up to 2.5e-6.
    for (const std::size_t lk : {std::size_t{8192}, std::size_t{16384}})
      for (const auto maths : {typeformer::maths::fast, typeformer::maths::exact})
        for (const std::size_t splits : {std::size_t{1}, std::size_t{8}})
          for (const int hide : {0, 1, 2}) {
            attention_case c;
            c.batch = 1, c.heads = 1, c.lq = 5, c.lk = lk, c.dk = 4, c.dv = 24;
            c.softmax_maths = maths, c.key_splits = splits;
            if (hide == 0) {
              c.keep.assign(c.lq * c.lk, 0);
              for (std::size_t i = 0; i < c.lq; ++i) c.keep[i * c.lk] = 1;
            } else {
              c.bias.assign(c.lq * c.lk,
                            hide == 1 ? -std::numeric_limits<float>::infinity() : -300.0f);
              for (std::size_t i = 0; i < c.lq; ++i) c.bias[i * c.lk] = 0.0f;
            }
            const std::vector<float> q(c.lq * c.dk, 0.0f);  // every product 0: the mask decides
            const auto k = random_vector(c.lk * c.dk, 11);
            const auto v = random_vector(c.lk * c.dv, 12);
            const flash_run run = run_flash<Arch>(c, q, k, v);
            double worst = 0;
            for (std::size_t i = 0; i < c.lq; ++i)
              for (std::size_t e = 0; e < c.dv; ++e)
                worst = std::max(
                    worst, std::abs(double(run.out[i * c.dv + e]) - v[e]) / std::abs(double(v[e])));
            INFO("keys " << lk << ", exact maths " << (maths == typeformer::maths::exact)
                         << ", splits " << splits << ", hidden by " << hide);
            CHECK(worst <= 1.2e-7);  // the first tile's 2^0 once in the sum and the output
          }
  }
  SECTION("attention: written causal, padding and row masks give the typed masks' bits") {
    // A mask function of row conditions and key limits ends each row where the typed mask
    // does and is never evaluated key by key: the same bits, under every policy and path.
    const auto same_bits = [](const attention_case& typed, const attention_case& written,
                              const auto& functions) {
      const auto q = random_vector(typed.batch * typed.lq * typed.heads * typed.dk, 10, 1.5f);
      const auto k = random_vector(typed.batch * typed.lk * typed.heads * typed.dk, 11, 1.5f);
      const auto v = random_vector(typed.batch * typed.lk * typed.heads * typed.dv, 12);
      const flash_run a = run_flash<Arch>(typed, q, k, v);
      const flash_run b = run_flash<Arch>(written, q, k, v, functions);
      for (std::size_t e = 0; e < a.out.size(); ++e) {
        INFO("element " << e);
        if (std::isnan(a.out[e]))
          REQUIRE(std::isnan(b.out[e]));
        else
          REQUIRE(a.out[e] == b.out[e]);
      }
    };
    attention_case typed;
    typed.batch = 2, typed.heads = 2, typed.lq = 150, typed.lk = 300, typed.dk = 16, typed.dv = 12;
    typed.scale = 0.5f;
    const std::vector<std::int32_t> lengths{300, 77};
    std::vector<std::int32_t> attending_rows(typed.batch * typed.lq, 1);
    for (std::size_t i = 0; i < attending_rows.size(); i += 7) attending_rows[i] = 0;
    for (auto policy :
         {fully_masked_rows::zeros, fully_masked_rows::nan, fully_masked_rows::minus_1e9_added})
      for (const std::size_t splits : {std::size_t{1}, std::size_t{2}}) {
        INFO("policy " << int(policy) << ", key ranges " << splits);
        typed.policy = policy, typed.key_splits = splits;
        typed.causal = causal_alignment::none;
        typed.lengths = {300, 77};
        typed.attending.clear();
        attention_case written = typed;
        written.lengths.clear();
        const auto with_lengths = fx::bind_all(fx::bind<"lengths">(lengths));
        same_bits(typed, written,
                  functions_of<fx::no_function{}, written_lengths>(with_lengths, typed));
        typed.causal = causal_alignment::top_left;
        same_bits(typed, written,
                  functions_of<fx::no_function{}, written_lengths_causal>(with_lengths, typed));
        typed.attending.assign(attending_rows.begin(), attending_rows.end());
        const auto all_three =
            fx::bind_all(fx::bind<"lengths">(lengths),
                         fx::bind<"attends">(attending_rows.data(),
                                             {extent_t(typed.batch), extent_t(typed.lq)}));
        same_bits(typed, written,
                  functions_of<fx::no_function{}, written_attending_lengths>(all_three, typed));
        typed.attending.clear();
        typed.lengths.clear();
        typed.causal = causal_alignment::bottom_right;
        const auto offset =
            fx::bind_all(fx::bind<"offset">(static_cast<std::int32_t>(typed.lk - typed.lq)));
        same_bits(typed, written,
                  functions_of<fx::no_function{}, written_bottom_right>(offset, typed));
      }
  }
  SECTION("attention: score and mask functions, against the formulas in float64") {
    using std::int64_t;
    attention_case c;
    c.batch = 2, c.heads = 2, c.lq = 300, c.lk = 300, c.dk = 16, c.dv = 12;
    c.scale = 0.5f;
    const auto none = [](double s, auto...) { return s; };
    const auto everything = [](auto...) { return true; };
    const auto window_of = [](int64_t w) {
      return [w](std::size_t i, std::size_t j, auto...) {
        return j <= i && int64_t(i) - int64_t(j) < w;
      };
    };
    for (const auto maths : {typeformer::maths::fast, typeformer::maths::exact}) {
      c.softmax_maths = maths;
      INFO("exact maths " << (maths == typeformer::maths::exact));
      {  // a sliding window of 37 keys: tiles empty, full and across both edges
        const auto b = fx::bind_all(fx::bind<"window">(std::int32_t{37}));
        check_attention_functions<Arch>(c, functions_of<fx::no_function{}, sliding_window>(b, c),
                                        none, window_of(37));
      }
      {  // a symmetric window (keys after the row too) and a window written as its start
        const auto b = fx::bind_all(fx::bind<"window">(std::int32_t{29}));
        check_attention_functions<Arch>(c, functions_of<fx::no_function{}, symmetric_window>(b, c),
                                        none, [](std::size_t i, std::size_t j, auto...) {
                                          return std::abs(int64_t(j) - int64_t(i)) <= 29;
                                        });
        const auto w = fx::bind_all(fx::bind<"window">(std::int32_t{150}));
        check_attention_functions<Arch>(c, functions_of<fx::no_function{}, window_as_start>(w, c),
                                        none, window_of(150));
        // An empty window: every row sees nothing.
        const auto nothing = fx::bind_all(fx::bind<"window">(std::int32_t{-3}));
        check_attention_functions<Arch>(
            c, functions_of<fx::no_function{}, symmetric_window>(nothing, c), none,
            [](auto...) { return false; });
      }
      {                  // Gemma 2's soft-capping
        c.scale = 3.0f;  // scores well past the cap
        const auto b = fx::bind_all();
        check_attention_functions<Arch>(
            c, functions_of<soft_cap, fx::no_function{}>(b, c),
            [](double s, auto...) { return 4.0 * std::tanh(s / 4.0); }, everything);
        c.scale = 0.5f;
      }
      {  // ALiBi with a causal mask
        const std::vector<float> slopes{0.25f, 0.0625f};
        const auto b = fx::bind_all(fx::bind<"slopes">(slopes));
        check_attention_functions<Arch>(
            c, functions_of<alibi, causal_mask>(b, c),
            [&](double s, std::size_t i, std::size_t j, std::size_t h, std::size_t) {
              return s + double(float(slopes[h] * float(int64_t(j) - int64_t(i))));
            },
            [](std::size_t i, std::size_t j, auto...) { return j <= i; });
      }
      {  // packed documents, causal within each
        std::vector<std::int32_t> doc(c.batch * c.lq);
        std::mt19937 gen(3);
        for (std::size_t b = 0; b < c.batch; ++b) {
          std::int32_t id = 0;
          for (std::size_t i = 0; i < c.lq; ++i) {
            if (i > 0 && gen() % 40 == 0) ++id;
            doc[b * c.lq + i] = id;
          }
        }
        const auto b =
            fx::bind_all(fx::bind<"doc">(doc.data(), {extent_t(c.batch), extent_t(c.lq)}));
        check_attention_functions<Arch>(
            c, functions_of<fx::no_function{}, same_document_causal>(b, c), none,
            [&](std::size_t i, std::size_t j, std::size_t, std::size_t bb) {
              return doc[bb * c.lq + i] == doc[bb * c.lq + j] && j <= i;
            });
      }
      {  // a strided pattern (modulo): partial tiles everywhere below the diagonal
        const auto b = fx::bind_all();
        check_attention_functions<Arch>(c, functions_of<fx::no_function{}, strided>(b, c), none,
                                        [](std::size_t i, std::size_t j, auto...) {
                                          return j <= i && ((i - j) % 7 == 0 || i - j < 3);
                                        });
      }
      // Rows the mask function hides entirely, under each fully-masked-row policy.
      for (auto policy :
           {fully_masked_rows::zeros, fully_masked_rows::nan, fully_masked_rows::minus_1e9_added}) {
        c.policy = policy;
        const auto b = fx::bind_all();
        check_attention_functions<Arch>(c, functions_of<fx::no_function{}, hides_odd_rows>(b, c),
                                        none, [](std::size_t i, auto...) { return i % 2 == 0; });
        // A key limit and an element conjunct: Keras's −1e9 is added once where either hides.
        const auto w = fx::bind_all(fx::bind<"window">(std::int32_t{37}));
        check_attention_functions<Arch>(c, functions_of<fx::no_function{}, sliding_window>(w, c),
                                        none, window_of(37));
        // With a typed keep mask (element parts: keys masked one by one) as well.
        c.keep.assign(c.batch * c.lq * c.lk, 1);
        for (std::size_t e = 0; e < c.keep.size(); e += 5) c.keep[e] = 0;
        check_attention_functions<Arch>(
            c, functions_of<fx::no_function{}, symmetric_window>(w, c), none,
            [&](std::size_t i, std::size_t j, std::size_t, std::size_t bb) {
              return std::abs(int64_t(j) - int64_t(i)) <= 37 &&
                     c.keep[(bb * c.lq + i) * c.lk + j] != 0;
            });
        c.keep.clear();
        // With typed key lengths as well: a key both hide still gets −1e9 once.
        c.lengths = {300, 123};
        check_attention_functions<Arch>(
            c, functions_of<fx::no_function{}, sliding_window>(w, c), none,
            [&](std::size_t i, std::size_t j, std::size_t, std::size_t bb) {
              return window_of(37)(i, j) && j < std::size_t(c.lengths[bb]);
            });
        c.lengths.clear();
      }
      c.policy = fully_masked_rows::zeros;
    }
    // Decoding: three rows against 1300 keys in two ranges, merged.
    c.lq = 3, c.lk = 1300, c.batch = 1, c.heads = 1, c.key_splits = 2;
    const auto b =
        fx::bind_all(fx::bind<"window">(std::int32_t{700}), fx::bind<"offset">(std::int32_t{1297}));
    check_attention_functions<Arch>(c, functions_of<fx::no_function{}, decoding_window>(b, c), none,
                                    [](std::size_t i, std::size_t j, auto...) {
                                      const std::size_t row =
                                          i + 1297;  // bottom-right: the rows are the newest
                                      return j <= row && row - j < 700;
                                    });
  }
}

}  // namespace

TEST_CASE("transposed keys: one block as wide as the keys up to 64, 64-key blocks beyond") {
  using tk::attention_operands;
  STATIC_REQUIRE(attention_operands::key_capacity_for(0) == 16);
  STATIC_REQUIRE(attention_operands::key_capacity_for(5) == 16);
  STATIC_REQUIRE(attention_operands::key_capacity_for(17) == 32);
  STATIC_REQUIRE(attention_operands::key_capacity_for(64) == 64);
  STATIC_REQUIRE(attention_operands::key_capacity_for(65) == 128);
  STATIC_REQUIRE(tk::stored_key_block(48) == 48);
  STATIC_REQUIRE(tk::stored_key_block(4096) == 64);
  // Key j's features are key_block floats apart, and a block's rows follow one another.
  STATIC_REQUIRE(tk::transposed_key_offset(3, 5, 64, 16) == 3 * 16 + 5);
  STATIC_REQUIRE(tk::transposed_key_offset(3, 70, 64, 64) == (64 + 3) * 64 + 6);
}

TEST_CASE("attention tasks: long query blocks are taken one at a time, short ones in chunks") {
  const auto chunk = [](std::size_t batch, std::size_t heads, std::size_t len,
                        std::size_t threads) {
    tk::attention_operands o;
    o.batch = batch, o.heads = heads, o.query_len = o.key_len = len;
    return tk::attention_chunk_tasks(o, threads);
  };
  CHECK(chunk(1, 8, 4096, 2) == 1);  // 256 blocks of 128 × 4096 pairs
  CHECK(chunk(1, 8, 2048, 1) == 1);  // 128 × 2048 pairs
  CHECK(chunk(8, 12, 128, 2) == 2);  // 96 blocks of 128 × 128 pairs: 2 make 32Ki
  CHECK(chunk(64, 8, 5, 2) == 32);   // 512 blocks of 25 pairs: 8 chunks per thread
  CHECK(chunk(1, 1, 5, 2) == 1);     // fewer tasks than chunks
  CHECK(chunk(64, 8, 5, 0) == 64);   // no threads counts as one
  CHECK(chunk(2, 2, 0, 2) == 1);     // empty queries: no division by zero
}

// One instruction set per executable: kernel_tests_scalar runs the scalar path (compiled with
// TYPEFORMER_FORCE_SCALAR), the others their own, so no path is compiled and run twice.
TEST_CASE("kernels, this build's instruction set") {
  INFO("instruction set: " << simd::best_arch::name());
  REQUIRE(simd::cpu_supports<simd::best_arch>());
  kernel_suite<simd::best_arch>();
}
