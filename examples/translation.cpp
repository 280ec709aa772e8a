// Greedy translation with an encoder–decoder transformer trained in PyTorch: the
// Seq2SeqTransformer of PyTorch's "Language Translation with nn.Transformer" tutorial (token
// embeddings scaled by √d, sinusoidal positions, nn.Transformer, a generator onto the target
// vocabulary), trained by tools/export_translation_pytorch.py on a toy language pair that a CPU
// learns in two minutes: the target is the source's digits reversed.
//
// The source is encoded once; the decoder then produces one token at a time from a key/value
// cache (runner::decode), taking the most likely token at each step until every sentence has
// produced its end token. The tokens and every step's logits are compared with PyTorch's own
// greedy decoding of the same sources.
//
//   ./run-example.sh translation        (trains and exports the model first if it is missing)

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include <typeformer/typeformer.hpp>

#include "example_support.hpp"

namespace tfm = typeformer;
using namespace tfm::dims;

constexpr tfm::extent_t vocabulary = 13, width = 64, longest = 16;
constexpr std::int32_t pad = 0, begin = 1, end = 2, first_digit = 3;

// The tutorial's names: src_tok_emb.embedding.weight, transformer.encoder.layers.0.…,
// transformer.encoder.norm.weight, …
using source_encoder = tfm::model<
    tfm::tokens<batch<tfm::dynamic>, seq<tfm::dynamic>, max_batch<8>, max_seq<longest>>,
    tfm::embedding<"src_tok_emb.embedding", vocabulary, width, tfm::scale_by_sqrt_dim>,
    tfm::sinusoidal_position_encoding<>,
    tfm::scope<
        "transformer.encoder",
        tfm::repeat<"layers", 2, tfm::transformer_encoder_layer<heads<4>, dim_feedforward<128>>>,
        tfm::layer_norm<"norm">>>;

using target_decoder = tfm::model<
    tfm::tokens<batch<tfm::dynamic>, seq<tfm::dynamic>, max_batch<8>, max_seq<longest>>,
    tfm::memory<seq<tfm::dynamic>, d_model<width>, max_seq<longest>>,
    tfm::embedding<"tgt_tok_emb.embedding", vocabulary, width, tfm::scale_by_sqrt_dim>,
    tfm::sinusoidal_position_encoding<>,
    tfm::scope<
        "transformer.decoder",
        tfm::repeat<"layers", 2, tfm::transformer_decoder_layer<heads<4>, dim_feedforward<128>>>,
        tfm::layer_norm<"norm">>,
    tfm::dense<"generator", vocabulary>>;

static_assert(target_decoder::output_shape[2] == vocabulary);

namespace {
std::string text_of(const std::int32_t* tokens, std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) {
    if (tokens[i] == begin)
      s += "<s> ";
    else if (tokens[i] == end)
      s += " </s>";
    else if (tokens[i] >= first_digit)
      s += char('0' + tokens[i] - first_digit);
  }
  return s;
}
}  // namespace

int main(int argc, char** argv) try {
  const std::string path =
      argc > 1 ? argv[1]
               : std::string(TYPEFORMER_EXAMPLE_DATA) + "/generated/translation.safetensors";
  std::cout << "encoder\n"
            << tfm::summary<source_encoder>() << "decoder\n"
            << tfm::summary<target_decoder>();

  // One file holds both halves: each model skips the other's tensors.
  const auto file = tfm::io::safetensors_file::open(path);
  const auto encoder_weights = tfm::load_weights<source_encoder>(
      file, tfm::naming::pytorch,
      {.ignore_prefixes = {"selftest.", "transformer.decoder.", "tgt_tok_emb.", "generator."}});
  const auto decoder_weights = tfm::load_weights<target_decoder>(
      file, tfm::naming::pytorch,
      {.ignore_prefixes = {"selftest.", "transformer.encoder.", "src_tok_emb."}});

  const auto* source_info = file.find("selftest.source");
  const auto B = static_cast<std::size_t>(source_info->shape[0]);
  const auto S = static_cast<std::size_t>(source_info->shape[1]);
  xt::xtensor<std::int32_t, 2> source = xt::empty<std::int32_t>({B, S});
  const auto source_read = file.read_integers("selftest.source");
  std::copy(source_read.begin(), source_read.end(), source.begin());
  std::vector<tfm::extent_t> lengths;
  for (auto n : file.read_integers("selftest.source_lengths")) lengths.push_back(n);
  const auto reference_tokens = file.read_integers("selftest.tokens");
  const auto reference_logits = file.read_floats("selftest.logits");
  const std::size_t T = reference_tokens.size() / B;  // begin token + decoded steps
  const double atol = example::stated_tolerance(file, "selftest.atol");
  const double rtol = example::stated_tolerance(file, "selftest.rtol");

  tfm::runner<source_encoder> encode(encoder_weights);
  tfm::runner<target_decoder> decode(decoder_weights);
  xt::xtensor<float, 3> memory = xt::empty<float>({B, S, std::size_t(width)});
  xt::xtensor<std::int32_t, 2> next = xt::empty<std::int32_t>({B, std::size_t(1)});
  xt::xtensor<float, 3> logits = xt::empty<float>({B, std::size_t(1), std::size_t(vocabulary)});
  std::vector<std::int32_t> tokens(B * T, pad);
  const tfm::masks::key_lengths source_mask{lengths};

  double worst = 0.0;
  std::size_t outside = 0, steps = 0;
  const auto start = std::chrono::steady_clock::now();
  encode(source, memory, source_mask);
  decode.start_decoding(memory, source_mask);
  std::vector<bool> done(B, false);
  for (std::size_t b = 0; b < B; ++b) next(b, 0) = tokens[b * T] = begin;
  for (std::size_t t = 1; t < T && !std::all_of(done.begin(), done.end(), [](bool d) { return d; });
       ++t, ++steps) {
    decode.decode(next, logits, source_mask);
    for (std::size_t b = 0; b < B; ++b) {
      const float* row = &logits(b, 0, 0);
      for (std::size_t v = 0; v < std::size_t(vocabulary); ++v) {
        const double ref = reference_logits[(b * (T - 1) + (t - 1)) * vocabulary + v];
        worst = std::max(worst, std::fabs(row[v] - ref));
        if (std::fabs(row[v] - ref) > atol + rtol * std::fabs(ref)) ++outside;
      }
      const auto best = static_cast<std::int32_t>(std::max_element(row, row + vocabulary) - row);
      next(b, 0) = done[b] ? pad : best;
      tokens[b * T + t] = next(b, 0);
      done[b] = done[b] || best == end;
    }
  }
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();

  std::size_t agree = 0;
  for (std::size_t b = 0; b < B; ++b) {
    const bool same = std::equal(tokens.begin() + b * T, tokens.begin() + (b + 1) * T,
                                 reference_tokens.begin() + b * T);
    agree += same;
    std::printf("%-14s -> %-18s PyTorch: %-18s %s\n",
                text_of(&source(b, 0), static_cast<std::size_t>(lengths[b])).c_str(),
                text_of(tokens.data() + b * T, T).c_str(),
                text_of(std::vector<std::int32_t>(reference_tokens.begin() + b * T,
                                                  reference_tokens.begin() + (b + 1) * T)
                            .data(),
                        T)
                    .c_str(),
                same ? "same" : "DIFFERENT");
  }
  std::printf(
      "%zu of %zu sentences decoded to PyTorch's tokens; %zu steps in %.2f ms (encoder "
      "included, first call)\n",
      agree, B, steps, ms);
  std::printf("max |ours - PyTorch| over the logits = %.2e; %zu outside atol %.0e + rtol %.0e\n",
              worst, outside, atol, rtol);
  return agree == B && outside == 0 ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "translation: %s\n", e.what());
  return 2;
}
