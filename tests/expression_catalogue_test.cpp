// The catalogue of attention variants (docs/expressions.md) as score and mask functions, each
// against its paper's formula computed in float64 by tools/make_expression_goldens.py
// (tests/data/expressions/, tolerance in each file). Each variant is what a user writes: an
// expression or two, bound operands, and the expression form of attention.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xtensor.hpp>

#include <typeformer/typeformer.hpp>

namespace {
namespace tfm = typeformer;
using namespace typeformer::expr;
using tfm::dynamic;

const std::string data_dir = std::string(TYPEFORMER_TEST_DATA) + "/expressions/";

// out against the file's "golden.output", within its stated atol + rtol·|ref|.
void require_close_to_golden(const tfm::io::safetensors_file& file, const std::vector<float>& out) {
  const double atol = std::stod(file.metadata().at("atol"));
  const double rtol = std::stod(file.metadata().at("rtol"));
  const auto reference = file.read_floats("golden.output");
  INFO(file.metadata().at("formula"));
  REQUIRE(out.size() == reference.size());
  for (std::size_t i = 0; i < reference.size(); ++i) {
    INFO("element " << i);
    REQUIRE(std::fabs(out[i] - reference[i]) <= atol + rtol * std::fabs(reference[i]));
  }
}

struct golden {
  tfm::io::safetensors_file file;
  std::vector<float> q, k, v, out;
  tfm::extent_t B, H, L, D;
  float scale;

  explicit golden(const std::string& name)
      : file(tfm::io::safetensors_file::open(data_dir + name + ".safetensors")),
        q(file.read_floats("q")),
        k(file.read_floats("k")),
        v(file.read_floats("v")) {
    const auto& shape = file.find("q")->shape;
    B = shape[0], H = shape[1], L = shape[2], D = shape[3];
    scale = std::stof(file.metadata().at("scale"));
    out.assign(q.size(), -7.0f);
  }
  using view = tfm::tensor_view<const float, dynamic, dynamic, dynamic, dynamic>;
  view as_view(const std::vector<float>& x, const char* tensor) const {
    const auto& s = file.find(tensor)->shape;
    return {x.data(), {s[0], s[1], s[2], s[3]}};
  }
  view Q() const { return as_view(q, "q"); }
  view K() const { return as_view(k, "k"); }
  view V() const { return as_view(v, "v"); }
  // Queries and output share a shape in every file (values as wide as queries).
  tfm::tensor_view<float, dynamic, dynamic, dynamic, dynamic> O() {
    return {out.data(), {B, H, L, D}};
  }
  std::vector<std::int32_t> ints(const std::string& name) const {
    const auto values = file.read_integers(name);
    return {values.begin(), values.end()};
  }

  void require_close() const { require_close_to_golden(file, out); }
};

// The catalogue, as docs/expressions.md writes it.
constexpr operand<"window", std::int32_t> window;
constexpr operand<"prefix", std::int32_t, dynamic> prefix;
constexpr operand<"doc", std::int32_t, dynamic, dynamic> doc;
constexpr operand<"slopes", float, dynamic> slopes;
constexpr operand<"table", float, 32, dynamic> t5_table;

constexpr auto causal = kv_idx <= q_idx;
constexpr auto sliding_window = kv_idx <= q_idx && q_idx - kv_idx < window;
constexpr auto symmetric_window = abs(q_idx - kv_idx) <= window;
constexpr auto prefix_lm = kv_idx <= q_idx || kv_idx < prefix[batch_idx];
constexpr auto same_document = doc(batch_idx, q_idx) == doc(batch_idx, kv_idx);
constexpr auto alibi = score + slopes[head_idx] * to_real(kv_idx - q_idx);
constexpr auto t5_bidirectional_bucket =
    select(kv_idx - q_idx > 0, 16, 0) + log_bucket(abs(kv_idx - q_idx), 8, 128, 16);
constexpr auto t5_causal_bucket = log_bucket(max(q_idx - kv_idx, 0), 16, 128, 32);
constexpr auto t5_bidirectional = score + t5_table(t5_bidirectional_bucket, head_idx);
constexpr auto t5_causal = score + t5_table(t5_causal_bucket, head_idx);
constexpr auto soft_cap = 5.0f * tanh(score / 5.0f);
constexpr auto sinks_window = kv_idx < 4 || (kv_idx <= q_idx && q_idx - kv_idx < 32);
constexpr auto sparse_strided =
    kv_idx <= q_idx && (q_idx - kv_idx <= 16 || (q_idx - kv_idx) % 16 == 0);
constexpr auto sparse_fixed =
    kv_idx <= q_idx && (kv_idx / 16 == q_idx / 16 || kv_idx % 16 >= 16 - 4);
constexpr auto document_causal_window = same_document && sliding_window;
// Shaw's relative positions: a query_dot score term and a value function.
constexpr operand<"rel_k", float, 21, dynamic> rel_k;
constexpr operand<"rel_v", float, 21, dynamic> rel_v;
constexpr auto shaw_bucket = clamp(kv_idx - q_idx, -10, 10) + 10;
constexpr auto shaw_scores = score + query_dot(rel_k[shaw_bucket]);
constexpr auto shaw_values = rel_v[shaw_bucket];
// A table per head, 9 rows each.
constexpr operand<"rel_k", float, dynamic, dynamic> head_rel_k;
constexpr operand<"rel_v", float, dynamic, dynamic> head_rel_v;
constexpr auto head_bucket = head_idx * 9 + clamp(kv_idx - q_idx, -4, 4) + 4;
using fx_point_t = function_point<bindings<>>;

template <class Expression>
void run(golden& g, const Expression& e) {
  tfm::workspace ws;
  evaluate(g.O(), e, ws);
  g.require_close();
}
}  // namespace

TEST_CASE("expression catalogue: masks") {
  SECTION("causal") {
    golden g("causal");
    run(g, softmax(g.scale * g.Q() * transpose(g.K()) + mask_function<causal>()) * g.V());
  }
  SECTION("sliding window, one-sided and symmetric") {
    golden g("sliding_window");
    run(g, softmax(g.scale * g.Q() * transpose(g.K()) +
                   mask_function<sliding_window>(bind<"window">(std::int32_t{40}))) *
               g.V());
    golden s("sliding_window_symmetric");
    run(s, softmax(s.scale * s.Q() * transpose(s.K()) +
                   mask_function<symmetric_window>(bind<"window">(std::int32_t{20}))) *
               s.V());
  }
  SECTION("prefix-LM") {
    golden g("prefix_lm");
    const auto p = g.ints("prefix");
    run(g,
        softmax(g.scale * g.Q() * transpose(g.K()) + mask_function<prefix_lm>(bind<"prefix">(p))) *
            g.V());
  }
  SECTION("document masking of packed sequences, alone and causal") {
    golden g("document");
    const auto d = g.ints("doc");
    run(g, softmax(g.scale * g.Q() * transpose(g.K()) +
                   mask_function<same_document>(bind<"doc">(d.data(), {g.B, g.L}))) *
               g.V());
    // A mask function as a part of masks::all, beside a typed mask.
    golden a("document_causal");
    run(a, softmax(a.scale * a.Q() * transpose(a.K()) +
                   tfm::masks::all(mask_function<same_document>(bind<"doc">(d.data(), {a.B, a.L})),
                                   tfm::masks::causal{})) *
               a.V());
    golden c("document_causal");
    run(c, softmax(c.scale * c.Q() * transpose(c.K()) + mask_function < same_document &&
                   causal > (bind<"doc">(d.data(), {c.B, c.L}))) *
               c.V());
  }
  SECTION("attention sinks with a sliding window (StreamingLLM)") {
    golden g("sinks_window");
    run(g, softmax(g.scale * g.Q() * transpose(g.K()) + mask_function<sinks_window>()) * g.V());
  }
  SECTION("Sparse Transformer, strided and fixed") {
    golden g("sparse_strided");
    run(g, softmax(g.scale * g.Q() * transpose(g.K()) + mask_function<sparse_strided>()) * g.V());
    golden f("sparse_fixed");
    run(f, softmax(f.scale * f.Q() * transpose(f.K()) + mask_function<sparse_fixed>()) * f.V());
  }
}

TEST_CASE("expression catalogue: score functions") {
  SECTION("ALiBi at 8 and 12 heads, the authors' slopes") {
    for (const char* name : {"alibi_8", "alibi_12"}) {
      golden g(name);
      const auto s = g.file.read_floats("slopes");
      run(g, softmax(score_function<alibi>(g.scale * g.Q() * transpose(g.K()), bind<"slopes">(s)) +
                     mask_function<causal>()) *
                 g.V());
    }
  }
  SECTION("T5 relative buckets, bidirectional and causal, unscaled") {
    golden g("t5_bidirectional");
    const auto t = g.file.read_floats("table");
    run(g, softmax(score_function<t5_bidirectional>(g.Q() * transpose(g.K()),
                                                    bind<"table">(t.data(), {32, g.H}))) *
               g.V());
    golden c("t5_causal");
    const auto tc = c.file.read_floats("table");
    run(c, softmax(score_function<t5_causal>(c.Q() * transpose(c.K()),
                                             bind<"table">(tc.data(), {32, c.H})) +
                   mask_function<causal>()) *
               c.V());
  }
  SECTION("Gemma 2 soft-capping") {
    golden g("soft_cap");
    run(g, softmax(score_function<soft_cap>(g.scale * g.Q() * transpose(g.K()))) * g.V());
  }
  SECTION("a combination: document, causal and a window, with ALiBi") {
    golden g("document_causal_window_alibi");
    const auto d = g.ints("doc");
    const auto s = g.file.read_floats("slopes");
    run(g, softmax(score_function<alibi>(g.scale * g.Q() * transpose(g.K()), bind<"slopes">(s)) +
                   mask_function<document_causal_window>(bind<"doc">(d.data(), {g.B, g.L}),
                                                         bind<"window">(std::int32_t{48}))) *
               g.V());
  }
}

TEST_CASE("expression catalogue: Shaw's relative positions, a query_dot and a value function") {
  for (int threads : {1, 2}) {
    tfm::workspace ws(threads);
    golden g("shaw");
    const auto k_table = g.file.read_floats("rel_k");
    const auto v_table = g.file.read_floats("rel_v");
    evaluate(g.O(),
             softmax(score_function<shaw_scores>(g.scale * g.Q() * transpose(g.K()),
                                                 bind<"rel_k">(k_table.data(), {21, g.D}))) *
                 (g.V() + value_function<shaw_values>(bind<"rel_v">(v_table.data(), {21, g.D}))),
             ws);
    g.require_close();
    evaluate<tfm::simd::scalar>(
        g.O(),
        softmax(score_function<shaw_scores>(g.scale * g.Q() * transpose(g.K()),
                                            bind<"rel_k">(k_table.data(), {21, g.D}))) *
            (g.V() + value_function<shaw_values>(bind<"rel_v">(v_table.data(), {21, g.D}))),
        ws);
    g.require_close();

    golden h("shaw_per_head_causal");
    const auto hk = h.file.read_floats("rel_k");
    const auto hv = h.file.read_floats("rel_v");
    const tfm::extent_t rows = 9 * h.H;
    evaluate(
        h.O(),
        softmax(score_function<score + query_dot(head_rel_k[head_bucket])>(
                    h.scale * h.Q() * transpose(h.K()), bind<"rel_k">(hk.data(), {rows, h.D})) +
                mask_function<causal>()) *
            (h.V() +
             value_function<head_rel_v[head_bucket]>(bind<"rel_v">(hv.data(), {rows, h.D}))),
        ws);
    h.require_close();
  }
  SECTION("no keys: the rows are fully masked, and no table row is read") {
    constexpr operand<"rows", float, dynamic, dynamic> by_key;
    std::vector<float> q(3 * 8, 1.0f), out(q.size(), -7.0f), table(8, 1.0f);
    using in_view = tfm::tensor_view<const float, dynamic, dynamic, dynamic, dynamic>;
    const in_view Q(q.data(), {1, 1, 3, 8}), K(q.data(), {1, 1, 0, 8}), V(q.data(), {1, 1, 0, 8});
    const tfm::tensor_view<float, dynamic, dynamic, dynamic, dynamic> O(out.data(), {1, 1, 3, 8});
    tfm::workspace ws;
    evaluate(O,
             softmax(score_function<score + query_dot(by_key[kv_idx])>(
                 Q * transpose(K), bind<"rows">(table.data(), {1, 8}))) *
                 V,
             ws);
    for (float x : out) REQUIRE(x == 0.0f);
  }
  SECTION("a table of the wrong width or too few rows is refused at the call") {
    golden g("shaw");
    const std::vector<float> narrow(21 * 4, 0.0f);
    const auto v_table = g.file.read_floats("rel_v");
    tfm::workspace ws;
    REQUIRE_THROWS_WITH(
        evaluate(
            g.O(),
            softmax(score_function<shaw_scores>(g.scale * g.Q() * transpose(g.K()),
                                                bind<"rel_k">(narrow.data(), {21, 4}))) *
                (g.V() + value_function<shaw_values>(bind<"rel_v">(v_table.data(), {21, g.D}))),
            ws),
        Catch::Contains("operand \"rel_k\" are 4 wide") && Catch::Contains("must be 8"));
    const std::vector<float> short_table(5 * 8, 0.0f);
    REQUIRE_THROWS_WITH(evaluate(g.O(),
                                 softmax(score_function<score + query_dot(head_rel_k[head_bucket])>(
                                     g.scale * g.Q() * transpose(g.K()),
                                     bind<"rel_k">(short_table.data(), {5, 8}))) *
                                     g.V(),
                                 ws),
                        Catch::Contains("\"rel_k\" has extent 5 on axis 0"));
  }
}

TEST_CASE("expression catalogue: grouped-query and multi-query heads") {
  // 8 query heads over 2 (causal) and over 1 key/value head.
  golden g("grouped_query");
  REQUIRE(g.K().extent(1) == 2);
  run(g, softmax(g.scale * g.Q() * transpose(g.K()) + mask_function<causal>()) * g.V());
  golden m("multi_query");
  REQUIRE(m.K().extent(1) == 1);
  run(m, scaled_dot_product_attention(m.Q(), m.K(), m.V()));
}

TEST_CASE("expression catalogue: rotary position embedding") {
  // 40 queries at positions first_q.., 77 keys at first_k..: the queries are the last 40
  // positions, so bottom-right causal lets each see the keys at or before it.
  for (const char* name :
       {"rotary_half_split", "rotary_interleaved", "rotary_half_split_partial"}) {
    golden g(name);
    const auto& meta = g.file.metadata();
    const rotary_embedding base{.pairs = meta.at("pairs") == "interleaved"
                                             ? rotary_pairs::interleaved
                                             : rotary_pairs::half_split,
                                .dims = std::stoul(meta.at("dims"))};
    rotary_embedding at_q = base, at_k = base;
    at_q.first_position = std::stoul(meta.at("first_q"));
    at_k.first_position = std::stoul(meta.at("first_k"));
    run(g, softmax(g.scale * rotary(g.Q(), at_q) * transpose(rotary(g.K(), at_k)) +
                   tfm::masks::causal_bottom_right{}) *
               g.V());
  }
}

TEST_CASE("expression catalogue: LLaMA's attention from (batch, length, heads·width) projections") {
  // 8 query heads over 2 key/value heads, rotate_half, causal; every tensor as a projection
  // writes it, read in place.
  const auto file = tfm::io::safetensors_file::open(data_dir + "llama_grouped_rotary.safetensors");
  const auto q = file.read_floats("q"), k = file.read_floats("k"), v = file.read_floats("v");
  const auto& qs = file.find("q")->shape;
  const auto& ks = file.find("k")->shape;
  const tfm::tensor_view<const float, dynamic, dynamic, 128> Q(q.data(), {qs[0], qs[1], qs[2]});
  const tfm::tensor_view<const float, dynamic, dynamic, 32> K(k.data(), {ks[0], ks[1], ks[2]});
  const tfm::tensor_view<const float, dynamic, dynamic, 32> V(v.data(), {ks[0], ks[1], ks[2]});
  std::vector<float> out(q.size(), -7.0f);
  const tfm::tensor_view<float, dynamic, dynamic, 128> O(out.data(), {qs[0], qs[1], qs[2]});
  tfm::workspace ws;
  const rotary_embedding rope{.pairs = rotary_pairs::half_split};
  evaluate(
      split_heads<8>(O),
      softmax(0.25f * rotary(split_heads<8>(Q), rope) * transpose(rotary(split_heads<2>(K), rope)) +
              tfm::masks::causal{}) *
          split_heads<2>(V),
      ws);
  require_close_to_golden(file, out);
}

TEST_CASE("expression catalogue: keras-multi-head's relu on each projection, as activated()") {
  // The projections (batch, length, 3 heads of 8) before the relu, as the layer's GEMMs leave
  // them; activated() applies it as the kernel's copies are made.
  const auto file = tfm::io::safetensors_file::open(data_dir + "keras_multi_head_relu.safetensors");
  const auto q = file.read_floats("q"), k = file.read_floats("k"), v = file.read_floats("v");
  const auto& s = file.find("q")->shape;
  using in_view = tfm::tensor_view<const float, dynamic, dynamic, 24>;
  const in_view Q(q.data(), {s[0], s[1], s[2]}), K(k.data(), {s[0], s[1], s[2]}),
      V(v.data(), {s[0], s[1], s[2]});
  std::vector<float> out(q.size(), -7.0f);
  const tfm::tensor_view<float, dynamic, dynamic, 24> O(out.data(), {s[0], s[1], s[2]});
  const float scale = std::stof(file.metadata().at("scale"));
  for (int threads : {1, 2}) {
    tfm::workspace ws(threads);
    evaluate(split_heads<3>(O),
             softmax(scale * activated(split_heads<3>(Q), tfm::activations::relu) *
                     transpose(activated(split_heads<3>(K), tfm::activations::relu))) *
                 activated(split_heads<3>(V), tfm::activations::relu),
             ws);
    require_close_to_golden(file, out);
    std::fill(out.begin(), out.end(), -7.0f);
    evaluate<tfm::simd::scalar>(
        split_heads<3>(O),
        softmax(scale * activated(split_heads<3>(Q), tfm::activations::relu) *
                transpose(activated(split_heads<3>(K), tfm::activations::relu))) *
            activated(split_heads<3>(V), tfm::activations::relu),
        ws);
    require_close_to_golden(file, out);
  }
  REQUIRE_THROWS_WITH(activated(split_heads<3>(Q), tfm::activations::softmax),
                      Catch::Contains("element-wise"));
}

namespace {
/// Smooth queries, keys and values of no particular pattern, the same in every section.
void fill_inputs(std::span<float> q, std::span<float> k, std::span<float> v) {
  for (std::size_t i = 0; i < q.size(); ++i) {
    q[i] = 0.25f * std::sin(0.37f * float(i));
    k[i] = std::cos(0.11f * float(i));
    v[i] = std::sin(0.05f * float(i) + 1.0f);
  }
}
}  // namespace

TEST_CASE("expression inputs: xtensor containers through node(), and the per-call checks") {
  SECTION("xt::xarray and xt::xtensor operands and output, against the causal golden") {
    golden g("causal");
    const std::vector<std::size_t> shape{std::size_t(g.B), std::size_t(g.H), std::size_t(g.L),
                                         std::size_t(g.D)};
    xt::xarray<float> q = xt::adapt(g.q, shape), k = xt::adapt(g.k, shape);
    xt::xtensor<float, 4> v = xt::adapt(g.v, shape);
    xt::xarray<float> out = xt::zeros<float>(shape);
    tfm::workspace ws;
    evaluate(out, softmax(g.scale * node(q) * transpose(node(k)) + tfm::masks::causal{}) * node(v),
             ws);
    std::copy(out.begin(), out.end(), g.out.begin());
    g.require_close();
  }
  SECTION("values read in place, heads in place, and an output written over the values") {
    // Contiguous values of width 16 on cache lines are read where they are; the same values
    // one float off the line, and with heads in place (rows 32 apart), are copied for the
    // kernel; an output over the values makes the kernel copy them first. The arithmetic is
    // the same: so are the bits.
    const tfm::extent_t B = 2, H = 2, L = 70, D = 16;
    std::vector<float> q(std::size_t(B * H * L * D)), k(q.size());
    tfm::aligned_buffer<float> v_storage(q.size() + 16);  // 64-byte aligned
    const std::span<float> v(v_storage.data(), q.size());
    fill_inputs(q, k, v);
    using view4 = tfm::tensor_view<const float, dynamic, dynamic, dynamic, dynamic>;
    using out4 = tfm::tensor_view<float, dynamic, dynamic, dynamic, dynamic>;
    const view4 Q(q.data(), {B, H, L, D}), K(k.data(), {B, H, L, D}), V(v.data(), {B, H, L, D});
    tfm::workspace ws(2);
    std::vector<float> in_place(q.size());
    evaluate(out4(in_place.data(), {B, H, L, D}),
             softmax(Q * transpose(K) + tfm::masks::causal{}) * V, ws);
    // (batch, length, heads·width) copies of the values, read through split_heads.
    std::vector<float> v_rows(v.size());
    for (tfm::extent_t b = 0; b < B; ++b)
      for (tfm::extent_t h = 0; h < H; ++h)
        for (tfm::extent_t j = 0; j < L; ++j)
          std::copy_n(v.data() + ((b * H + h) * L + j) * D, D,
                      v_rows.data() + ((b * L + j) * H + h) * D);
    std::vector<float> copied(q.size());
    evaluate(out4(copied.data(), {B, H, L, D}),
             softmax(Q * transpose(K) + tfm::masks::causal{}) *
                 split_heads<2>(tfm::tensor_view<const float, dynamic, dynamic, dynamic>(
                     v_rows.data(), {B, L, H * D})),
             ws);
    REQUIRE(copied == in_place);
    std::copy_backward(v.begin(), v.end(), v_storage.data() + q.size() + 1);  // off the line
    std::vector<float> off_line(q.size());
    evaluate(out4(off_line.data(), {B, H, L, D}),
             softmax(Q * transpose(K) + tfm::masks::causal{}) *
                 view4(v_storage.data() + 1, {B, H, L, D}),
             ws);
    REQUIRE(off_line == in_place);
    // One thread takes the four (batch, head) pairs one after the other, copying each pair's
    // keys and values into the same buffers just before its query blocks: the same bits.
    tfm::workspace one_thread(1);
    std::fill(copied.begin(), copied.end(), 0.0f);
    evaluate(out4(copied.data(), {B, H, L, D}),
             softmax(Q * transpose(K) + tfm::masks::causal{}) *
                 split_heads<2>(tfm::tensor_view<const float, dynamic, dynamic, dynamic>(
                     v_rows.data(), {B, L, H * D})),
             one_thread);
    REQUIRE(copied == in_place);
    std::fill(off_line.begin(), off_line.end(), 0.0f);
    evaluate(out4(off_line.data(), {B, H, L, D}),
             softmax(Q * transpose(K) + tfm::masks::causal{}) *
                 view4(v_storage.data() + 1, {B, H, L, D}),
             one_thread);
    REQUIRE(off_line == in_place);
    tfm::aligned_buffer<float> over_values(q.size());  // on cache lines, as read in place
    std::copy_n(v_storage.data() + 1, q.size(), over_values.data());
    const out4 O(over_values.data(), {B, H, L, D});
    evaluate(
        O,
        softmax(Q * transpose(K) + tfm::masks::causal{}) * view4(over_values.data(), {B, H, L, D}),
        ws);
    REQUIRE(std::equal(in_place.begin(), in_place.end(), over_values.data()));
  }
  SECTION("pairs copied into one buffer per thread, which an earlier call left dirty") {
    // One thread with four (batch, head) pairs copies each pair's keys into the same buffer
    // just before its query blocks; two threads copy every pair first, each into its own. The
    // one thread's buffer first holds NaN keys of a longer call, which must not leak into the
    // next (a window's query blocks skip most key blocks): the same bits as the fresh copies.
    const tfm::extent_t B = 2, H = 2, L = 300, D = 16;
    std::vector<float> q(std::size_t(B * H * L * D)), k(q.size()), v(q.size());
    fill_inputs(q, k, v);
    using view4 = tfm::tensor_view<const float, dynamic, dynamic, dynamic, dynamic>;
    using out4 = tfm::tensor_view<float, dynamic, dynamic, dynamic, dynamic>;
    const view4 Q(q.data(), {B, H, L, D}), K(k.data(), {B, H, L, D}), V(v.data(), {B, H, L, D});
    const auto windowed = [&] {
      return softmax(Q * transpose(K) +
                     mask_function<sliding_window>(bind<"window">(std::int32_t{20}))) *
             V;
    };
    tfm::workspace two(2);
    std::vector<float> own_buffers(q.size()), one_buffer(q.size());
    evaluate(out4(own_buffers.data(), {B, H, L, D}), windowed(), two);
    tfm::workspace one(1);
    const tfm::extent_t longer = 320;
    std::vector<float> nan_keys(std::size_t(B * H * longer * D),
                                std::numeric_limits<float>::quiet_NaN());
    std::vector<float> q_longer(nan_keys.size(), 0.5f), v_longer(nan_keys.size(), 1.0f),
        out_longer(nan_keys.size());
    evaluate(out4(out_longer.data(), {B, H, longer, D}),
             softmax(view4(q_longer.data(), {B, H, longer, D}) *
                     transpose(view4(nan_keys.data(), {B, H, longer, D}))) *
                 view4(v_longer.data(), {B, H, longer, D}),
             one);
    evaluate(out4(one_buffer.data(), {B, H, L, D}), windowed(), one);
    REQUIRE(one_buffer == own_buffers);
    REQUIRE(
        std::none_of(one_buffer.begin(), one_buffer.end(), [](float x) { return std::isnan(x); }));
  }
  using dynamic4 = tfm::tensor_view<const float, dynamic, dynamic, dynamic, dynamic>;
  using dynamic3 = tfm::tensor_view<const float, dynamic, dynamic, dynamic>;
  std::vector<float> data(4096, 0.5f), out(4096);
  tfm::workspace ws;
  const tfm::tensor_view<float, dynamic, dynamic, dynamic, dynamic> O(out.data(), {1, 6, 5, 8});
  SECTION("key heads that do not divide the query heads") {
    const dynamic4 Q(data.data(), {1, 6, 5, 8}), K(data.data(), {1, 4, 5, 8});
    REQUIRE_THROWS_WITH(evaluate(O, softmax(Q * transpose(K)) * K, ws),
                        Catch::Contains("key and value heads (4) do not divide the query's "
                                        "heads (6)"));
    const dynamic4 K2(data.data(), {1, 2, 5, 8}), V3(data.data(), {1, 3, 5, 8});
    REQUIRE_THROWS_WITH(evaluate(O, softmax(Q * transpose(K2)) * V3, ws),
                        Catch::Contains("value heads (3) differ from key heads (2)"));
  }
  SECTION("split_heads of a width the heads do not divide") {
    const dynamic3 X(data.data(), {1, 5, 50});
    REQUIRE_THROWS_AS(split_heads<6>(X), tfm::shape_error);
    REQUIRE_THROWS_WITH(split_heads<6>(X),
                        Catch::Contains("d_model (50) is not divisible by heads (6)"));
  }
  SECTION("rotary embeddings that cannot turn the head width") {
    const dynamic4 Q(data.data(), {1, 6, 5, 8});
    const dynamic4 odd(data.data(), {1, 6, 5, 7});
    REQUIRE_THROWS_WITH(evaluate(O, softmax(rotary(Q, {.dims = 10}) * transpose(Q)) * Q, ws),
                        Catch::Contains("dims (10) must be even and at most the head width (8)"));
    const tfm::tensor_view<float, dynamic, dynamic, dynamic, dynamic> O7(out.data(), {1, 6, 5, 7});
    REQUIRE_THROWS_WITH(evaluate(O7, softmax(odd * transpose(rotary(odd, {}))) * odd, ws),
                        Catch::Contains("rotary embedding of the keys"));
    REQUIRE_THROWS_WITH(evaluate(O, softmax(rotary(Q, {.base = 0.5}) * transpose(Q)) * Q, ws),
                        Catch::Contains("base must be finite and above 1"));
  }
}

TEST_CASE("expression catalogue: T5's bucket function, as Hugging Face computes it") {
  for (const bool bidirectional : {true, false}) {
    const auto file = tfm::io::safetensors_file::open(
        data_dir + (bidirectional ? "t5_bidirectional" : "t5_causal") + "_buckets.safetensors");
    const auto distance = file.read_integers("distance");
    const auto bucket = file.read_integers("bucket");
    std::size_t wrong = 0;
    for (std::size_t n = 0; n < distance.size(); ++n) {
      // kv_idx − q_idx = distance, at q_idx = 5000.
      const fx_point_t point{0, 5000, std::int32_t(5000 + distance[n]), 0, 0, nullptr};
      const std::int32_t ours = bidirectional ? evaluate_function(t5_bidirectional_bucket, point)
                                              : evaluate_function(t5_causal_bucket, point);
      if (ours != bucket[n]) {
        ++wrong;
        UNSCOPED_INFO("distance " << distance[n] << ": ours " << ours << ", Hugging Face "
                                  << bucket[n]);
      }
    }
    CHECK(wrong == 0);
  }
}
