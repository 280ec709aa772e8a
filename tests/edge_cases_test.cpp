// Numerical edge cases and exception safety (docs/reliability.md has the table these prove):
// huge logits, NaN and infinity (propagated, or refused in check mode), denormals and the
// caller's floating-point flags, a constant LayerNorm row, lengths 1 and 0, batch 0, and a
// runner or a weight set that stays usable after a call or a load threw.

#include <catch2/catch.hpp>
#include <xtensor/xview.hpp>

#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <vector>

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#define TYPEFORMER_TEST_HAS_MXCSR 1
#endif

#include <typeformer/typeformer.hpp>

namespace tfm = typeformer;
using namespace tfm::dims;
using Catch::Matchers::Contains;

namespace {

using encoder = tfm::model<
    tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<8>, max_batch<3>, max_seq<80>>,
    tfm::transformer_encoder_layer<heads<2>, dim_feedforward<16>>>;

// Deterministic PyTorch-named weights; `poison(name, values)` may edit a tensor.
template <class Model, class Poison>
typename Model::parameters weights_with(Poison poison) {
  const auto specs = Model::expected_weights(tfm::naming::pytorch);
  return Model::from_weights(tfm::naming::pytorch, [&](const std::string& name) {
    std::size_t n = 1;
    for (const auto& spec : specs)
      if (spec.name == name)
        for (const auto e : spec.shape) n *= static_cast<std::size_t>(e);
    std::vector<float> values(n);
    for (std::size_t i = 0; i < n; ++i)
      values[i] = static_cast<float>((i * 13 + name.size() * 7) % 23) / 23.0f - 0.5f;
    poison(name, values);
    return values;
  });
}
template <class Model>
typename Model::parameters plain_weights() {
  return weights_with<Model>([](const std::string&, std::vector<float>&) {});
}

xt::xtensor<float, 3> sample(std::size_t batch, std::size_t seq, std::size_t width) {
  xt::xtensor<float, 3> x = xt::empty<float>({batch, seq, width});
  for (std::size_t i = 0; i < x.size(); ++i)
    x.data()[i] = static_cast<float>((i * 29) % 31) / 31.0f - 0.5f;
  return x;
}

bool all_finite(const xt::xtensor<float, 3>& y) {
  for (const float v : y)
    if (!std::isfinite(v)) return false;
  return true;
}

// Self-attention with identity projections: y_i = Σ_j softmax_j(q_i·k_j / 2) k_j, in float64.
std::vector<double> identity_attention_reference(const std::vector<float>& q,
                                                 const std::vector<float>& k, std::size_t lq,
                                                 std::size_t lk) {
  std::vector<double> y(lq * 4, 0.0);
  for (std::size_t i = 0; i < lq; ++i) {
    std::vector<double> s(lk);
    double top = -std::numeric_limits<double>::infinity();
    for (std::size_t j = 0; j < lk; ++j) {
      double dot = 0;
      for (std::size_t c = 0; c < 4; ++c) dot += double(q[i * 4 + c]) * double(k[j * 4 + c]);
      s[j] = dot / 2.0;
      top = std::max(top, s[j]);
    }
    double sum = 0;
    for (double& v : s) sum += (v = std::exp(v - top));
    for (std::size_t j = 0; j < lk; ++j)
      for (std::size_t c = 0; c < 4; ++c) y[i * 4 + c] += s[j] / sum * double(k[j * 4 + c]);
  }
  return y;
}

}  // namespace

TEST_CASE("edge: scores of ±1e30 do not overflow the online softmax, on the row and tiled paths") {
  using mha = tfm::multi_head_attention<"mha", heads<1>, d_model<4>>;
  // Identity projections, zero biases: q = query, k = v = key.
  const auto params = mha::from_weights(tfm::naming::pytorch, [](const std::string& name) {
    std::vector<float> w;
    if (name == "in_proj_weight" || name == "out_proj.weight") {
      const std::size_t rows = name == "in_proj_weight" ? 12 : 4;
      w.assign(rows * 4, 0.0f);
      for (std::size_t r = 0; r < rows; ++r) w[r * 4 + r % 4] = 1.0f;
    } else {
      w.assign(name == "in_proj_bias" ? 12 : 4, 0.0f);
    }
    return w;
  });
  for (const std::size_t length : {std::size_t{5}, std::size_t{100}}) {
    for (const bool negative : {false, true}) {
      CAPTURE(length, negative);
      // Positive: keys of norm 2e15 in distinct directions and q = k, so scores reach 2e30 and
      // each row's own key wins by at least 1e-3 relative, far beyond float rounding (a near
      // tie would make float32 and float64 pick different winners). Negative: every score is
      // between -4e30 and -2e30 (the query opposes every key).
      std::vector<float> q(length * 4), k(length * 4);
      const double turn = 2 * 3.14159265358979 / static_cast<double>(length);
      for (std::size_t j = 0; j < length; ++j)
        for (std::size_t c = 0; c < 4; ++c) {
          const double angle = turn * static_cast<double>(c < 2 ? j : 3 * j);
          const double unit = c % 2 == 0 ? std::cos(angle) : std::sin(angle);
          const std::size_t i = j * 4 + c;
          k[i] = negative ? 1e15f * (1.0f + static_cast<float>(j) / static_cast<float>(length))
                          : static_cast<float>(std::sqrt(2.0) * 1e15 * unit);
          q[i] = negative ? -1e15f : k[i];
        }
      std::vector<float> y(length * 4);
      const auto n = static_cast<tfm::extent_t>(length);
      tfm::tensor_view<const float, 1, tfm::dynamic, 4> query(q.data(), {1, n, 4});
      tfm::tensor_view<const float, 1, tfm::dynamic, 4> key(k.data(), {1, n, 4});
      tfm::tensor_view<float, 1, tfm::dynamic, 4> out(y.data(), {1, n, 4});
      tfm::workspace ws;
      mha::forward(params, query, key, key, out, ws);
      const auto reference = identity_attention_reference(q, k, length, length);
      for (std::size_t i = 0; i < y.size(); ++i) {
        REQUIRE(std::isfinite(y[i]));
        REQUIRE(std::fabs(y[i] - reference[i]) <= 1e-5 * 2e15);
      }
    }
  }
}

TEST_CASE("edge: NaN and infinity propagate by default; check mode names the layer and position") {
  const auto weights = plain_weights<encoder>();
  auto x = sample(3, 5, 8);
  x(1, 2, 3) = std::numeric_limits<float>::quiet_NaN();
  {
    tfm::runner<encoder> run(weights);
    const auto y = run(x);
    // Attention mixes positions within a sequence, never across the batch.
    for (std::size_t b : {0u, 2u})
      CHECK(all_finite(xt::xtensor<float, 3>(xt::view(y, xt::range(b, b + 1)))));
    for (std::size_t p = 0; p < 5; ++p) CHECK(std::isnan(y(1, p, 0)));
  }
  tfm::runner<encoder> checked(weights, {.threads = 2, .check_finite = true});
  REQUIRE_THROWS_AS(checked(x), tfm::numeric_error);
  REQUIRE_THROWS_WITH(checked(x),
                      "model \"input\": the input holds nan at batch 1, position 2, "
                      "feature 3 (runner_options::check_finite)");
  // Finite input: check mode changes nothing in the result.
  const auto clean = sample(3, 5, 8);
  tfm::runner<encoder> unchecked(weights);
  const auto expected = unchecked(clean);
  CHECK(bool(checked(clean) == expected));

  // An infinite weight: the first layer whose output holds it is named.
  const auto poisoned = weights_with<encoder>([](const std::string& name, std::vector<float>& w) {
    if (name == "linear2.bias") w[5] = std::numeric_limits<float>::infinity();
  });
  tfm::runner<encoder> check_poisoned(poisoned, {.check_finite = true});
  REQUIRE_THROWS_WITH(check_poisoned(clean),
                      "feed_forward \"ff\": its output holds inf at batch "
                      "0, position 0, feature 5 "
                      "(runner_options::check_finite)");
}

TEST_CASE("edge: denormal inputs run, and the caller's FTZ/DAZ flags are left as they were") {
  const auto weights = plain_weights<encoder>();
  auto x = sample(2, 6, 8);
  for (std::size_t i = 0; i < x.size(); i += 2) x.data()[i] *= 1e-38f;  // many denormal
  for (const std::size_t threads : {std::size_t{1}, std::size_t{2}}) {
    tfm::runner<encoder> run(weights, {.threads = threads});
    const auto y = run(x);
    CHECK(all_finite(y));
#ifdef TYPEFORMER_TEST_HAS_MXCSR
    // The library sets no floating-point state: not on the caller's thread, not on the pool's.
    const unsigned int before = _mm_getcsr();
    (void)run(x);
    CHECK(_mm_getcsr() == before);
    const unsigned int flush = before | 0x8040u;  // FTZ | DAZ, as the caller chose them
    _mm_setcsr(flush);
    const auto flushed = run(x);
    CHECK(_mm_getcsr() == flush);
    _mm_setcsr(before);
    // Flushing denormals to zero moves the result by no more than rounding.
    for (std::size_t i = 0; i < y.size(); ++i)
      CHECK(std::fabs(flushed.data()[i] - y.data()[i]) <= 1e-5f);
#endif
  }
}

TEST_CASE("edge: LayerNorm of a constant row is beta, with no division by zero") {
  using norm = tfm::layer_norm<"norm", d_model<8>>;
  const auto p = norm::from_weights(tfm::naming::pytorch, [](const std::string& name) {
    std::vector<float> w(8);
    for (std::size_t i = 0; i < 8; ++i)
      w[i] = name == "weight" ? 1.5f : 0.25f * static_cast<float>(i) - 1.0f;
    return w;
  });
  for (const float constant : {0.0f, 3.5f, -1e30f, 1e-40f}) {
    CAPTURE(constant);
    xt::xtensor<float, 3> x = xt::empty<float>({std::size_t{2}, std::size_t{3}, std::size_t{8}});
    x.fill(constant);
    xt::xtensor<float, 3> y = xt::zeros<float>(x.shape());
    tfm::workspace ws;
    norm::forward(p, x, y, ws);
    for (std::size_t i = 0; i < y.size(); ++i)
      REQUIRE(y.data()[i] == 0.25f * static_cast<float>(i % 8) - 1.0f);
  }
}

TEST_CASE(
    "edge: sequence length 1 equals the first position of a causal call; 0 and batch 0 "
    "give empty outputs") {
  const auto weights = plain_weights<encoder>();
  tfm::runner<encoder> run(weights, {.threads = 2});
  const auto x = sample(3, 6, 8);
  const auto causal = run(x, tfm::masks::causal{});
  const xt::xtensor<float, 3> first = xt::view(x, xt::all(), xt::range(0, 1), xt::all());
  const auto single = run(first);
  REQUIRE(single.shape()[1] == 1);
  for (std::size_t b = 0; b < 3; ++b)
    for (std::size_t c = 0; c < 8; ++c)
      CHECK(single(b, 0, c) == Approx(causal(b, 0, c)).margin(1e-6));
  const xt::xtensor<float, 3> no_positions =
      xt::empty<float>({std::size_t{3}, std::size_t{0}, std::size_t{8}});
  CHECK(run(no_positions).size() == 0);
  const xt::xtensor<float, 3> no_sequences =
      xt::empty<float>({std::size_t{0}, std::size_t{6}, std::size_t{8}});
  CHECK(run(no_sequences).size() == 0);
  const std::vector<tfm::extent_t> zero_lengths = {0, 0, 0};
  CHECK(all_finite(run(x, tfm::masks::key_lengths{zero_lengths})));
}

TEST_CASE("exception safety: a runner whose call threw gives the same results afterwards") {
  const auto weights = plain_weights<encoder>();
  const auto x = sample(3, 5, 8);
  for (const std::size_t threads : {std::size_t{1}, std::size_t{2}}) {
    tfm::runner<encoder> fresh(weights, {.threads = threads});
    const auto expected = fresh(x);
    tfm::runner<encoder> run(weights, {.threads = threads, .check_finite = true});
    // Refused on entry: a key length beyond the sequence.
    const std::vector<tfm::extent_t> bad = {5, 9, 1};
    REQUIRE_THROWS_AS(run(x, tfm::masks::key_lengths{bad}), tfm::shape_error);
    CHECK(bool(run(x) == expected));
    // Refused mid-call, after layers ran: a NaN found in a layer's output.
    const auto poisoned = weights_with<encoder>([](const std::string& name, std::vector<float>& w) {
      if (name == "norm1.weight") w[0] = std::numeric_limits<float>::quiet_NaN();
    });
    tfm::runner<encoder> failing(poisoned, {.threads = threads, .check_finite = true});
    REQUIRE_THROWS_AS(failing(x), tfm::numeric_error);
    // The post-norm runs inside the residual block, which scans it under the norm's name.
    REQUIRE_THROWS_WITH(failing(x),
                        "layer_norm \"norm1\": its output holds nan at batch 0, "
                        "position 0, feature 0 (runner_options::check_finite)");
    auto nan_input = x;
    nan_input(0, 0, 0) = std::numeric_limits<float>::infinity();
    REQUIRE_THROWS_AS(run(nan_input), tfm::numeric_error);
    CHECK(bool(run(x) == expected));
  }
}

TEST_CASE("exception safety: a load that throws leaves the weights already loaded untouched") {
  tfm::io::safetensors_writer good;
  const auto weights = plain_weights<encoder>();
  for (const auto& spec : encoder::expected_weights(tfm::naming::pytorch)) {
    std::size_t n = 1;
    for (const auto e : spec.shape) n *= static_cast<std::size_t>(e);
    good.add_floats(spec.name, spec.shape, std::vector<float>(n, 0.125f));
  }
  auto loaded = tfm::load_weights<encoder>(tfm::io::safetensors_file::from_bytes(good.to_bytes()),
                                           tfm::naming::pytorch);
  tfm::runner<encoder> run(loaded);
  const auto x = sample(2, 4, 8);
  const auto before = run(x);
  auto bytes = good.to_bytes();
  bytes.resize(bytes.size() - 3);  // truncated: the last tensor runs past the end
  REQUIRE_THROWS_AS(loaded = tfm::load_weights<encoder>(
                        tfm::io::safetensors_file::from_bytes(bytes), tfm::naming::pytorch),
                    tfm::format_error);
  CHECK(bool(run(x) == before));
}

TEST_CASE("edge: check mode scans a decoder's memory input and its cross-attention output") {
  using decoder = tfm::model<
      tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<8>, max_batch<2>, max_seq<4>>,
      tfm::memory<seq<tfm::dynamic>, d_model<8>, max_seq<3>>,
      tfm::transformer_decoder_layer<heads<2>, dim_feedforward<16>>>;
  const auto x = sample(2, 4, 8);
  auto memory = sample(2, 3, 8);
  xt::xtensor<float, 3> y = xt::empty<float>({2, 4, 8});
  static_assert(!std::is_constructible_v<tfm::runner<decoder>, decoder::parameters>,
                "a runner keeps a reference: it must not accept temporary weights");
  const auto weights = plain_weights<decoder>();
  tfm::runner<decoder> checked(weights, {.check_finite = true});
  checked.run(x, memory, y);
  CHECK(all_finite(y));

  memory(1, 2, 6) = -std::numeric_limits<float>::infinity();
  REQUIRE_THROWS_WITH(checked.run(x, memory, y),
                      "model \"memory\": the memory input holds -inf at batch 1, position 2, "
                      "feature 6 (runner_options::check_finite)");
  REQUIRE_THROWS_WITH(checked.start_decoding(memory),
                      "model \"memory\": the memory input holds -inf at batch 1, position 2, "
                      "feature 6 (runner_options::check_finite)");

  // A NaN bias in cross-attention's value projection reaches every output of that layer.
  const auto poisoned = weights_with<decoder>([](const std::string& name, std::vector<float>& w) {
    if (name == "multihead_attn.in_proj_bias") w[16] = std::numeric_limits<float>::quiet_NaN();
  });
  tfm::runner<decoder> failing(poisoned, {.check_finite = true});
  REQUIRE_THROWS_WITH(failing.run(x, sample(2, 3, 8), y),
                      Contains("\"multihead_attn\": its output holds nan at batch 0, position 0"));
}
