// core/: named dimensions, layer names, the sentences of shape rules; the layer-level
// compile-time properties of multi_head_attention and its run-time shape checks.

#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include <typeformer/core/diagnostics.hpp>
#include <typeformer/core/dims.hpp>
#include <typeformer/core/fixed_string.hpp>
#include <typeformer/expr/evaluate.hpp>
#include <typeformer/layers/multi_head_attention.hpp>

namespace tfm = typeformer;
using namespace tfm::dims;

TEST_CASE("named dimensions: static, dynamic, found among options") {
  STATIC_REQUIRE(heads<8>::extent == 8);
  STATIC_REQUIRE(heads<8>::is_static);
  STATIC_REQUIRE(!batch<>::is_static);
  STATIC_REQUIRE(tfm::is_dim_kind_v<heads<8>, heads>);
  STATIC_REQUIRE(!tfm::is_dim_kind_v<heads<8>, d_model>);
  STATIC_REQUIRE(tfm::extent_of_v<d_model, 0, heads<8>, d_model<512>> == 512);
  STATIC_REQUIRE(tfm::extent_of_v<key_dim_per_head, 64, heads<8>, d_model<512>> == 64);
  STATIC_REQUIRE(tfm::has_dim_v<heads, heads<8>, d_model<512>>);
  STATIC_REQUIRE(tfm::extents_may_agree(tfm::dynamic, 5));
  STATIC_REQUIRE(!tfm::extents_may_agree(4, 5));
}

TEST_CASE("layer names travel as character packs") {
  using name = tfm::layer_name_of<"self_attn">;
  STATIC_REQUIRE(
      std::is_same_v<name, tfm::layer_name<'s', 'e', 'l', 'f', '_', 'a', 't', 't', 'n'>>);
  REQUIRE(name::view() == "self_attn");
  constexpr tfm::fixed_string s = "abc";
  STATIC_REQUIRE(s.size() == 3);
  REQUIRE(s.view() == "abc");
}

TEST_CASE("a shape rule has one sentence, with the layer and the numbers") {
  const auto text = tfm::diagnostics::format_rule(
      "multi_head_attention", "self_attn",
      tfm::diagnostics::sentence<tfm::diagnostics::heads_do_not_divide_d_model>, 500, 8);
  REQUIRE(text ==
          "multi_head_attention \"self_attn\": d_model (500) is not divisible by heads (8)");
  REQUIRE_THROWS_AS(tfm::diagnostics::check<tfm::diagnostics::heads_do_not_divide_d_model>(
                        false, "multi_head_attention", "x", 500, 8),
                    tfm::shape_error);
  REQUIRE_NOTHROW(tfm::diagnostics::check<tfm::diagnostics::heads_do_not_divide_d_model>(
      true, "multi_head_attention", "x", 512, 8));
}

TEST_CASE("multi_head_attention: dimensions and parameter count at compile time") {
  // PyTorch: nn.MultiheadAttention(512, 8) has 4·512² + 4·512 = 1'050'624 parameters.
  using aiayn = tfm::multi_head_attention<"self_attn", heads<8>, d_model<512>>;
  STATIC_REQUIRE(aiayn::key_dim_per_head == 64);
  STATIC_REQUIRE(aiayn::value_dim_per_head == 64);
  STATIC_REQUIRE(aiayn::output_features == 512);
  STATIC_REQUIRE(aiayn::parameter_count == 1'050'624);
  STATIC_REQUIRE(aiayn::pytorch_packs_in_proj);

  // Keras: MultiHeadAttention(num_heads=4, key_dim=20, value_dim=24, output_shape=17) on a
  // 30-wide query and 26-wide key/value: 30·80+80 + 26·80+80 + 26·96+96 + 96·17+17 = 9'361.
  using keras =
      tfm::multi_head_attention<"mha", heads<4>, d_model<30>, key_dim_per_head<20>,
                                value_dim_per_head<24>, key_features<26>, output_features<17>>;
  STATIC_REQUIRE(keras::value_features == 26);
  STATIC_REQUIRE(keras::parameter_count ==
                 30 * 80 + 80 + 26 * 80 + 80 + 26 * 96 + 96 + 96 * 17 + 17);
  STATIC_REQUIRE(!keras::pytorch_expressible);

  using no_bias = tfm::multi_head_attention<"m", heads<3>, d_model<30>, tfm::use_bias<false>>;
  STATIC_REQUIRE(no_bias::parameter_count == 4 * 30 * 30);
}

TEST_CASE("multi_head_attention: a dynamic extent that breaks a rule throws the rule's sentence") {
  using mha = tfm::multi_head_attention<"self_attn", heads<2>, d_model<6>>;
  const auto weights = mha::expected_weights(tfm::naming::pytorch);
  REQUIRE(weights.size() == 4);
  REQUIRE(weights[0].name == "in_proj_weight");
  auto params = mha::from_weights(tfm::naming::pytorch, [](const std::string& name) {
    if (name == "in_proj_weight") return std::vector<float>(18 * 6, 0.1f);
    if (name == "in_proj_bias") return std::vector<float>(18, 0.0f);
    if (name == "out_proj.weight") return std::vector<float>(36, 0.1f);
    return std::vector<float>(6, 0.0f);
  });
  std::vector<float> q(2 * 3 * 5), y(2 * 3 * 6);
  tfm::tensor_view<const float, tfm::dynamic, tfm::dynamic, tfm::dynamic> query(q.data(),
                                                                                {2, 3, 5});
  tfm::tensor_view<float, tfm::dynamic, tfm::dynamic, tfm::dynamic> out(y.data(), {2, 3, 6});
  tfm::workspace ws;
  try {
    mha::forward(params, query, query, query, out, ws);
    FAIL("no shape_error");
  } catch (const tfm::shape_error& e) {
    REQUIRE(std::string(e.what()) ==
            "multi_head_attention \"self_attn\": query feature dim (5) does not match d_model (6)");
  }
}

TEST_CASE("expressions: softmax(s·q·kᵀ + mask)·v evaluates through the fused kernel") {
  constexpr std::size_t B = 2, H = 3, Lq = 5, Lk = 9, D = 7, DV = 4;
  std::vector<float> q(B * H * Lq * D), k(B * H * Lk * D), v(B * H * Lk * DV);
  for (std::size_t i = 0; i < q.size(); ++i) q[i] = std::sin(0.37f * float(i));
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = std::cos(0.21f * float(i));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = std::sin(0.11f * float(i) + 1.0f);
  std::vector<float> o1(B * H * Lq * DV), o2(o1.size());
  tfm::tensor_view<const float, B, H, Lq, D> Q(q.data());
  tfm::tensor_view<const float, B, H, Lk, D> K(k.data());
  tfm::tensor_view<const float, B, H, Lk, DV> V(v.data());
  tfm::tensor_view<float, B, H, Lq, DV> O1(o1.data()), O2(o2.data());
  tfm::workspace ws;
  using tfm::expr::softmax;
  using tfm::expr::transpose;
  tfm::expr::evaluate(O1, tfm::expr::scaled_dot_product_attention(Q, K, V, tfm::masks::causal{}),
                      ws);
  tfm::expr::evaluate(
      O2, softmax(1.0f / std::sqrt(7.0f) * Q * transpose(K) + tfm::masks::causal{}) * V, ws);
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t h = 0; h < H; ++h)
      for (std::size_t i = 0; i < Lq; ++i) {
        double s[Lk], max = -1e300, sum = 0;
        for (std::size_t j = 0; j <= i; ++j) {
          double dot = 0;
          for (std::size_t e = 0; e < D; ++e)
            dot += double(q[((b * H + h) * Lq + i) * D + e]) * k[((b * H + h) * Lk + j) * D + e];
          s[j] = dot / std::sqrt(7.0);
          max = std::max(max, s[j]);
        }
        for (std::size_t j = 0; j <= i; ++j) sum += (s[j] = std::exp(s[j] - max));
        for (std::size_t c = 0; c < DV; ++c) {
          double ref = 0;
          for (std::size_t j = 0; j <= i; ++j)
            ref += s[j] / sum * v[((b * H + h) * Lk + j) * DV + c];
          const std::size_t at = ((b * H + h) * Lq + i) * DV + c;
          REQUIRE(o1[at] == Approx(ref).margin(1e-6));
          REQUIRE(o2[at] == o1[at]);
        }
      }
}

TEST_CASE(
    "multi_head_attention: parameters that do not fit, and attention weights of the wrong shape") {
  using mha = tfm::multi_head_attention<"self_attn", heads<2>, d_model<6>>;
  std::vector<float> x(2 * 3 * 6, 0.5f), y(x.size());
  tfm::tensor_view<const float, tfm::dynamic, tfm::dynamic, 6> in(x.data(), {2, 3, 6});
  tfm::tensor_view<float, tfm::dynamic, tfm::dynamic, 6> out(y.data(), {2, 3, 6});
  tfm::workspace ws;
  REQUIRE_THROWS_AS(mha::forward(mha::parameters{}, in, in, in, out, ws), tfm::weight_error);

  const auto params = mha::from_weights(tfm::naming::pytorch, [](const std::string& name) {
    if (name == "in_proj_weight") return std::vector<float>(18 * 6, 0.1f);
    if (name == "in_proj_bias") return std::vector<float>(18, 0.0f);
    if (name == "out_proj.weight") return std::vector<float>(36, 0.1f);
    return std::vector<float>(6, 0.0f);
  });
  std::vector<float> w(2 * 2 * 3 * 4);
  tfm::tensor_view<float, tfm::dynamic, tfm::dynamic, tfm::dynamic, tfm::dynamic> wrong(
      w.data(), {2, 2, 3, 4});
  REQUIRE_THROWS_WITH(
      mha::forward(params, in, in, in, out, ws, tfm::masks::none{},
                   tfm::attention_weights_per_head{wrong}),
      "multi_head_attention \"self_attn\": attention weights extent (4) does not match the "
      "expected extent (3)");
}

TEST_CASE("tensor_view converts to const elements and between static and dynamic extents") {
  std::vector<float> data(2 * 3, 1.0f);
  tfm::tensor_view<float, tfm::dynamic, 3> mutable_view(data.data(), {2, 3});
  tfm::tensor_view<const float, 2, 3> fixed = mutable_view;  // adds const, fixes the batch
  REQUIRE(fixed.extent(0) == 2);
  tfm::tensor_view<const float, tfm::dynamic, tfm::dynamic> loose = fixed;
  REQUIRE(loose.extent(1) == 3);
  using wrong = tfm::tensor_view<const float, 4, 3>;
  REQUIRE_THROWS_AS(wrong(mutable_view), tfm::shape_error);
  STATIC_REQUIRE(
      !std::is_convertible_v<tfm::tensor_view<const float, 2, 3>, tfm::tensor_view<float, 2, 3>>);
}

// Found by the weight_conversion fuzzer (corpus: crash-from-weights-reads-past-a-short-tensor):
// from_weights read past a tensor shorter than its declared shape.
TEST_CASE(
    "from_weights: a tensor with the wrong number of values is a weight_error, not a read "
    "past its end") {
  using mha = tfm::multi_head_attention<"self_attn", heads<2>, d_model<6>>;
  const auto give = [](std::size_t in_proj_values) {
    return [=](const std::string& name) {
      if (name == "in_proj_weight") return std::vector<float>(in_proj_values, 0.1f);
      if (name == "in_proj_bias") return std::vector<float>(18, 0.0f);
      if (name == "out_proj.weight") return std::vector<float>(36, 0.1f);
      return std::vector<float>(6, 0.0f);
    };
  };
  CHECK_NOTHROW(mha::from_weights(tfm::naming::pytorch, give(18 * 6)));
  for (const std::size_t wrong :
       {std::size_t{0}, std::size_t{18 * 6 - 1}, std::size_t{18 * 6 + 1}}) {
    try {
      (void)mha::from_weights(tfm::naming::pytorch, give(wrong));
      FAIL("no weight_error");
    } catch (const tfm::weight_error& e) {
      CHECK(std::string(e.what()) ==
            "multi_head_attention \"self_attn\": tensor \"in_proj_weight\" has " +
                std::to_string(wrong) + " values, expected 108 (shape [18, 6])");
    }
  }
}
