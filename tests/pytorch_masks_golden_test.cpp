// PyTorch's masks as its two APIs take them, against PyTorch 1.13 (written by
// tools/make_pytorch_mask_goldens.py, float64 references rounded to F32):
//   masks::pytorch_attn_mask and masks::pytorch_key_padding through multi_head_attention, as
//   nn.MultiheadAttention takes its attn_mask and key_padding_mask (bool, uint8 and float);
//   masks::pytorch_sdpa_mask through scaled_dot_product_attention, every shape that broadcasts
//   to (batch, heads, Lq, Lk), bool and float.
// Masks are read in their own dtype from the file and passed as xtensor containers, as a user
// holding PyTorch's tensors would. Each case runs on this build's instruction set (2 threads)
// and on the scalar path.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <xtensor/xview.hpp>

#include <typeformer/typeformer.hpp>

#include "golden_files.hpp"

namespace tfm = typeformer;
using namespace tfm::dims;

namespace {

const std::string data_dir = std::string(TYPEFORMER_TEST_DATA) + "/mha/";

// How the generator stores a mask of element type T.
template <class T>
constexpr tfm::io::dtype stored_as = std::is_same_v<T, bool>           ? tfm::io::dtype::boolean
                                     : std::is_same_v<T, std::uint8_t> ? tfm::io::dtype::u8
                                                                       : tfm::io::dtype::f32;

struct golden : golden_data::golden_file {
  explicit golden(const std::string& name) : golden_file(data_dir + name + ".safetensors") {}

  // A tensor of the file as an xtensor container of T, checked to be stored in T's dtype.
  template <class T>
  xt::xarray<T> read(const std::string& name) const {
    const tfm::io::dtype stored = stored_as<T>;
    const auto* info = file.find(name);
    INFO(name);
    REQUIRE(info);
    REQUIRE(info->type == stored);
    std::vector<std::size_t> shape(info->shape.begin(), info->shape.end());
    xt::xarray<T> t = xt::zeros<T>(shape);
    if constexpr (std::is_same_v<T, float>) {
      const auto values = file.read_floats(name);
      std::copy(values.begin(), values.end(), t.begin());
    } else {
      const auto values = file.read_integers(name);
      std::transform(values.begin(), values.end(), t.begin(),
                     [](std::int64_t x) { return static_cast<T>(x); });
    }
    return t;
  }
  xt::xarray<bool> bools(const std::string& name) const { return read<bool>(name); }
  xt::xarray<float> floats(const std::string& name) const { return read<float>(name); }
};

// |ours − reference| <= atol + rtol·|reference|, NaN exactly where the reference has NaN.
void require_close(const float* ours, const std::vector<float>& reference, double atol,
                   double rtol) {
  for (std::size_t i = 0; i < reference.size(); ++i) {
    INFO("element " << i << ": ours " << ours[i] << ", PyTorch " << reference[i]);
    if (std::isnan(reference[i])) {
      REQUIRE(std::isnan(ours[i]));
      continue;
    }
    REQUIRE(std::fabs(double(ours[i]) - reference[i]) <= atol + rtol * std::fabs(reference[i]));
  }
}

using nan_rows_mha =
    tfm::multi_head_attention<"mha", heads<3>, d_model<24>,
                              tfm::on_fully_masked_rows<tfm::fully_masked_rows::nan>>;

// nn.MultiheadAttention's case `name` with our layer and the given mask.
template <class Mask>
void check_mha(const golden& g, const std::string& name, const Mask& mask) {
  const auto params = tfm::load_weights<nan_rows_mha>(
      g.file, tfm::naming::pytorch, {.prefix = "", .ignore_prefixes = {"golden.", "case."}});
  const auto q = golden_data::floats3(g.file, "golden.query"),
             k = golden_data::floats3(g.file, "golden.key"),
             v = golden_data::floats3(g.file, "golden.value");
  const auto reference = g.file.read_floats("case." + name + ".output");
  xt::xtensor<float, 3> y = xt::zeros<float>(q.shape());
  {
    INFO(name << " on " << tfm::simd::best_arch::name());
    tfm::workspace ws(2);
    nan_rows_mha::forward(params, q, k, v, y, ws, mask);
    require_close(y.data(), reference, g.atol, g.rtol);
  }
  {
    INFO(name << " on the scalar path");
    tfm::workspace ws(1);
    y.fill(7.0f);
    nan_rows_mha::forward<tfm::simd::scalar>(params, q, k, v, y, ws, mask);
    require_close(y.data(), reference, g.atol, g.rtol);
  }
}

// nn.MultiheadAttention's case `name`, its attn_mask read as T of rank R.
template <class T, std::size_t R>
void check_attn_mask(const golden& g, const std::string& name) {
  const auto m = g.read<T>("case." + name + ".attn_mask");
  check_mha(g, name, tfm::masks::pytorch_attn_mask{tfm::as_view<R>(m)});
}

// scaled_dot_product_attention's case `name` with the given mask.
template <class Mask>
void check_sdpa(const golden& g, const std::string& name, const Mask& mask) {
  const auto q = g.floats("golden.query"), k = g.floats("golden.key"), v = g.floats("golden.value");
  const auto reference = g.file.read_floats("case." + name + ".output");
  xt::xtensor<float, 4> out =
      xt::zeros<float>({q.shape()[0], q.shape()[1], q.shape()[2], v.shape()[3]});
  const auto attention = tfm::expr::scaled_dot_product_attention(q, k, v, mask);
  {
    INFO(name << " on " << tfm::simd::best_arch::name());
    tfm::workspace ws(2);
    tfm::expr::evaluate(out, attention, ws, tfm::fully_masked_rows::nan);
    require_close(out.data(), reference, g.atol, g.rtol);
  }
  {
    INFO(name << " on the scalar path");
    tfm::workspace ws(1);
    out.fill(7.0f);
    tfm::expr::evaluate<tfm::simd::scalar>(out, attention, ws, tfm::fully_masked_rows::nan);
    require_close(out.data(), reference, g.atol, g.rtol);
  }
}

// scaled_dot_product_attention's case `name`, its mask read as T of rank R.
template <class T, std::size_t R>
void check_sdpa_mask(const golden& g, const std::string& name) {
  const auto m = g.read<T>("case." + name + ".attn_mask");
  check_sdpa(g, name, tfm::masks::pytorch_sdpa_mask{tfm::as_view<R>(m)});
}

}  // namespace

TEST_CASE("nn.MultiheadAttention's attn_mask and key_padding_mask as PyTorch takes them") {
  using tfm::as_view;
  using tfm::masks::pytorch_attn_mask, tfm::masks::pytorch_key_padding;
  const golden g("pytorch_mha_masks");
  REQUIRE(g.config.at("cases").size() == 11);
  const auto attn = [&](const std::string& c) { return "case." + c + ".attn_mask"; };
  const auto padding = [&](const std::string& c) { return "case." + c + ".key_padding_mask"; };

  check_attn_mask<bool, 2>(g, "attn_bool_2d");
  check_attn_mask<std::uint8_t, 2>(g, "attn_uint8_2d");
  check_attn_mask<bool, 3>(g, "attn_bool_3d");
  check_attn_mask<float, 2>(g, "attn_float_2d");
  check_attn_mask<float, 3>(g, "attn_float_3d");

  // A mask takes the container itself (an xarray here: its rank is checked at the call) or
  // as_view of it.
  const auto pad_bool = g.bools(padding("padding_bool"));
  check_mha(g, "padding_bool", pytorch_key_padding{pad_bool});
  check_mha(g, "padding_bool", pytorch_key_padding{as_view<2>(pad_bool)});
  const auto pad_float = g.floats(padding("padding_float"));
  check_mha(g, "padding_float", pytorch_key_padding{pad_float});

  // Both at once, as nn.MultiheadAttention merges them: bool masks hide, float ones add.
  const auto both_attn = g.bools(attn("attn_bool_and_padding_bool")),
             both_pad = g.bools(padding("attn_bool_and_padding_bool"));
  check_mha(g, "attn_bool_and_padding_bool",
            tfm::masks::all(pytorch_attn_mask{as_view<2>(both_attn)},
                            pytorch_key_padding{as_view<2>(both_pad)}));
  // An attn_mask's rank (2 or 3) comes from the container's type: an xtensor, not an xarray.
  const xt::xtensor<bool, 2> both_attn_2d = both_attn;
  const xt::xtensor<bool, 2> both_pad_2d = both_pad;
  check_mha(g, "attn_bool_and_padding_bool",
            tfm::masks::all(pytorch_attn_mask{both_attn_2d}, pytorch_key_padding{both_pad_2d}));
  const auto mixed_attn = g.floats(attn("attn_float_and_padding_bool"));
  const auto mixed_pad = g.bools(padding("attn_float_and_padding_bool"));
  check_mha(g, "attn_float_and_padding_bool",
            tfm::masks::all(pytorch_attn_mask{as_view<2>(mixed_attn)},
                            pytorch_key_padding{as_view<2>(mixed_pad)}));
  const auto sum_attn = g.floats(attn("attn_float_3d_and_padding_float")),
             sum_pad = g.floats(padding("attn_float_3d_and_padding_float"));
  check_mha(g, "attn_float_3d_and_padding_float",
            tfm::masks::all(pytorch_attn_mask{as_view<3>(sum_attn)},
                            pytorch_key_padding{as_view<2>(sum_pad)}));

  // A query row with every key masked: NaN, as PyTorch gives (the layer declares that policy).
  check_attn_mask<bool, 2>(g, "attn_bool_fully_masked_row");
}

TEST_CASE("scaled_dot_product_attention's attn_mask in every shape PyTorch broadcasts") {
  const golden g("pytorch_sdpa_masks");
  REQUIRE(g.config.at("cases").size() == 12);
  for (const char* c :
       {"bool_N_1_L_S", "bool_1_H_L_S", "bool_N_H_L_S", "bool_N_1_1_S", "bool_N_1_L_1"})
    check_sdpa_mask<bool, 4>(g, c);
  check_sdpa_mask<bool, 3>(g, "bool_1_L_S");
  check_sdpa_mask<bool, 3>(g, "bool_H_1_S");
  check_sdpa_mask<bool, 2>(g, "bool_L_S");
  check_sdpa_mask<bool, 1>(g, "bool_S");
  check_sdpa_mask<float, 4>(g, "float_N_H_L_S");
  check_sdpa_mask<float, 3>(g, "float_1_L_S");
  check_sdpa_mask<float, 2>(g, "float_L_S");
}

TEST_CASE("PyTorch masks: shapes that do not broadcast are refused with the axis") {
  using tfm::as_view;
  xt::xtensor<float, 4> q = xt::ones<float>({2, 3, 7, 8}), k = xt::ones<float>({2, 3, 9, 8});
  xt::xtensor<float, 4> out = xt::zeros<float>({2, 3, 7, 8});
  tfm::workspace ws;
  xt::xtensor<bool, 4> two_heads = xt::ones<bool>({2, 2, 7, 9});
  REQUIRE_THROWS_WITH(
      tfm::expr::evaluate(out,
                          tfm::expr::scaled_dot_product_attention(
                              q, k, k, tfm::masks::pytorch_sdpa_mask{as_view<4>(two_heads)}),
                          ws),
      Catch::Contains("heads axis (2) is neither 3 nor 1"));
  // nn.MultiheadAttention's 3-D mask is (batch·heads, Lq, Lk).
  using layer = tfm::multi_head_attention<"mha", heads<3>, d_model<24>>;
  const auto params = tfm::random_parameters<layer>(1, tfm::naming::pytorch);
  xt::xtensor<float, 3> x = xt::ones<float>({2, 7, 24}), y = xt::zeros<float>({2, 7, 24});
  xt::xtensor<bool, 3> per_batch = xt::zeros<bool>({2, 7, 7});
  REQUIRE_THROWS_WITH(
      layer::forward(params, x, x, x, y, ws, tfm::masks::pytorch_attn_mask{as_view<3>(per_batch)}),
      Catch::Contains("(batch·heads, Lq, Lk); its first extent (2) is not 2 × 3"));
  // A mask that is not all false leaves the output unchanged by where it is read from.
  xt::xtensor<std::uint8_t, 2> none_masked = xt::zeros<std::uint8_t>({7, 7});
  xt::xtensor<float, 3> unmasked = xt::zeros<float>({2, 7, 24});
  layer::forward(params, x, x, x, unmasked, ws);
  layer::forward(params, x, x, x, y, ws, tfm::masks::pytorch_attn_mask{as_view<2>(none_masked)});
  const bool same = y == unmasked;
  REQUIRE(same);
}

TEST_CASE("scaled_dot_product_attention of (batch, length, heads·width) containers") {
  // Against the rank-4 form on the same numbers: heads<H> splits in place, kv_heads groups.
  const golden g("pytorch_sdpa_masks");
  const auto q4 = g.floats("golden.query"), k4 = g.floats("golden.key"),
             v4 = g.floats("golden.value");
  // (N, H, L, d) -> (N, L, H·d)
  const auto merged = [](const xt::xarray<float>& x) {
    xt::xtensor<float, 3> m =
        xt::zeros<float>({x.shape()[0], x.shape()[2], x.shape()[1] * x.shape()[3]});
    for (std::size_t b = 0; b < x.shape()[0]; ++b)
      for (std::size_t h = 0; h < x.shape()[1]; ++h)
        for (std::size_t i = 0; i < x.shape()[2]; ++i)
          for (std::size_t d = 0; d < x.shape()[3]; ++d)
            m(b, i, h * x.shape()[3] + d) = x(b, h, i, d);
    return m;
  };
  const auto q3 = merged(q4), k3 = merged(k4), v3 = merged(v4);
  tfm::workspace ws;
  xt::xtensor<float, 4> expected = xt::zeros<float>({2, 3, 7, 8});
  tfm::expr::evaluate(expected, tfm::expr::scaled_dot_product_attention(q4, k4, v4), ws);
  xt::xtensor<float, 3> out = xt::zeros<float>({2, 7, 24});
  tfm::expr::evaluate(out, tfm::expr::scaled_dot_product_attention<heads<3>>(q3, k3, v3), ws);
  bool same = out == merged(expected);
  REQUIRE(same);
  // Grouped: one key/value head (its first) for all three query heads.
  const xt::xtensor<float, 3> k1 = xt::view(k3, xt::all(), xt::all(), xt::range(0, 8)),
                              v1 = xt::view(v3, xt::all(), xt::all(), xt::range(0, 8));
  xt::xarray<float> k_repeated = k4, v_repeated = v4;
  for (std::size_t h = 1; h < 3; ++h) {
    xt::view(k_repeated, xt::all(), h) = xt::view(k4, xt::all(), 0);
    xt::view(v_repeated, xt::all(), h) = xt::view(v4, xt::all(), 0);
  }
  tfm::expr::evaluate(expected, tfm::expr::scaled_dot_product_attention(q4, k_repeated, v_repeated),
                      ws);
  tfm::expr::evaluate(
      out, tfm::expr::scaled_dot_product_attention<heads<3>, kv_heads<1>>(q3, k1, v1), ws);
  same = out == merged(expected);
  REQUIRE(same);
}
