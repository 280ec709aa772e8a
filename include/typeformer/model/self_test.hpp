#pragma once
// Verify on load: load_weights<Model>(file, naming, verify::on) loads the weights, then runs the
// model on the self-test the exporter stored beside them and compares with the framework's
// output. The file's contract (tools/export_*.py write it):
//
//   selftest.input         (batch, seq, width) floats, or (batch, seq) integer ids for a model
//                          whose input is tokens<...>
//   selftest.output        the framework's output for it, shaped as the model's output
//   selftest.key_lengths   optional (batch,) integers: masks::key_lengths for the call
//   selftest.memory        a model with a memory<...> input (a decoder): the memory, (batch,
//                          memory seq, width) floats
//   selftest.memory_key_lengths
//                          optional (batch,) integers: the memory's padding (masks::key_lengths
//                          for cross-attention)
//   __metadata__           selftest.atol and selftest.rtol (decimal numbers; required), and
//                          optionally selftest.causal = "true" to add masks::causal, and
//                          selftest.padding_zeroed_after (the PyTorch encoders whose fast path
//                          zeroed the padded positions, comma-separated; only for the message)
//
// A sequence_first model takes (seq, batch, ...) input and memory, as PyTorch's default layout.
//
// A value passes when |found - expected| <= atol + rtol × |expected|; a NaN passes only where
// the framework gave NaN. Any failure is a weight_error naming the file, the output, the first
// mismatching position, the expected and found values.

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include <typeformer/core/errors.hpp>
#include <typeformer/core/text.hpp>
#include <typeformer/core/weight_source.hpp>
#include <typeformer/expr/masks.hpp>
#include <typeformer/io/load_weights.hpp>
#include <typeformer/io/safetensors_reader.hpp>
#include <typeformer/model/introspection.hpp>
#include <typeformer/model/runner.hpp>

namespace typeformer {

/// Whether load_weights runs the file's self-test after loading.
enum class verify { off, on };

namespace detail {

inline double self_test_tolerance(const io::safetensors_file& file, const std::string& key,
                                  const std::string& where) {
  const auto& metadata = file.metadata();
  const auto it = metadata.find(key);
  if (it == metadata.end())
    throw weight_error(
        concat(where, "the self-test has no tolerance: __metadata__ lacks \"", key, "\""));
  // A decimal number and nothing else: from_chars takes no leading space, no sign '+', no hex
  // (chars_format::general) and does not depend on the locale, as strtod does.
  const std::string& text = it->second;
  double value = std::numeric_limits<double>::quiet_NaN();
  const auto [end, error] =
      std::from_chars(text.data(), text.data() + text.size(), value, std::chars_format::general);
  if (error != std::errc{} || end != text.data() + text.size() || !(value >= 0) ||
      !std::isfinite(value))
    throw weight_error(concat(where, "__metadata__ \"", key, "\" is ", io::detail::quote_name(text),
                              ", expected a non-negative decimal number"));
  return value;
}

/// Where a model declares no maximum batch or sequence length, a self-test's sample is at most
/// this large: the runner that checks it is sized from the sample, so a file stating
/// (2^40, 0, 512) must not size it.
struct self_test_limits {
  static constexpr extent_t max_batch = 256;
  static constexpr extent_t max_seq = 8192;
  /// batch × seq, where either is undeclared.
  static constexpr extent_t max_tokens = 16384;
};

/// The self-test's extent along `axis`, checked against the model's: equal to a static one,
/// at most a declared maximum, otherwise at most `cap`; never 0.
inline extent_t self_test_extent(std::int64_t found, extent_t declared, extent_t declared_max,
                                 extent_t cap, const char* tensor, const char* axis,
                                 const std::string& where) {
  const auto refuse = [&](const std::string& rule) {
    throw weight_error(
        concat(where, tensor, " has ", axis, " ", std::to_string(found), ", ", rule));
  };
  if (found <= 0) refuse("expected at least 1 (a self-test needs a sample)");
  if (declared != dynamic) {
    if (found != declared) refuse(concat("the model's ", axis, " is ", std::to_string(declared)));
  } else if (declared_max > 0) {
    if (found > declared_max)
      refuse(concat("more than the model's max_", axis, " (", std::to_string(declared_max), ")"));
  } else if (found > cap) {
    refuse(concat("more than a self-test may have where the model declares no max_", axis, " (",
                  std::to_string(cap), ")"));
  }
  return static_cast<extent_t>(found);
}

/// Optional (batch,) lengths: present, they must be one per sequence.
inline std::vector<extent_t> self_test_lengths(const io::safetensors_file& file,
                                               const std::string& name, extent_t batch,
                                               const std::string& where) {
  std::vector<extent_t> lengths;
  const io::tensor_info* t = file.find(name);
  if (!t) return lengths;
  if (t->shape != std::vector<std::int64_t>{batch})
    throw weight_error(concat(where, name, " has shape ", shape_text(t->shape), ", expected [",
                              std::to_string(batch), "] (one length per sequence)"));
  for (const std::int64_t n : file.read_integers(name)) {
    if (n < 0 || n > std::numeric_limits<extent_t>::max())
      throw weight_error(
          concat(where, name, " holds ", std::to_string(n), ", not a sequence length"));
    lengths.push_back(static_cast<extent_t>(n));
  }
  return lengths;
}

/// "[1, 3, 17]": the multi-index of flat position `at` in `shape`.
inline std::string position_text(std::size_t at, const std::vector<std::int64_t>& shape) {
  std::vector<std::int64_t> index(shape.size());
  for (std::size_t a = shape.size(); a-- > 0;) {
    const auto extent = static_cast<std::size_t>(shape[a]);
    index[a] = static_cast<std::int64_t>(at % extent);
    at /= extent;
  }
  return shape_text(index);
}

/// What a failed self-test adds when the file says where PyTorch's encoder fast path zeroed the
/// padded positions and the declaration disagrees: the commonest cause of a failure at a padded
/// position, and one the numbers alone do not name.
template <class Model>
std::string padding_zeroed_hint(const io::safetensors_file& file) {
  const auto it = file.metadata().find("selftest.padding_zeroed_after");
  if (it == file.metadata().end()) return {};
  const model_description description = describe<Model>();
  const auto& layers = description.layers();
  const bool declared = std::any_of(layers.begin(), layers.end(), [](const auto& l) {
    return l.kind == "zero_padded_positions";
  });
  if (!it->second.empty() && !declared)
    return concat(". PyTorch's encoder fast path zeroed the padded positions at the output of ",
                  it->second,
                  " (before its final norm and whatever follows it), and the declaration has no "
                  "tfm::zero_padded_positions: declare it right after that encoder's layers "
                  "(docs/model.md, \"PyTorch's encoder fast path\")");
  if (it->second.empty() && declared)
    return ". The declaration has tfm::zero_padded_positions, but PyTorch's encoder fast path did "
           "not run for this self-test (its general path keeps the padded positions' values): "
           "leave it out (docs/model.md, \"PyTorch's encoder fast path\")";
  return {};
}

template <class Model>
void run_self_test(const io::safetensors_file& file, const typename Model::parameters& weights,
                   const std::string& where) {
  const io::tensor_info* input = file.find("selftest.input");
  const io::tensor_info* output = file.find("selftest.output");
  if (!input || !output)
    throw weight_error(concat(where, "verify::on, but the file has no self-test (",
                              input ? "" : "selftest.input", !input && !output ? " and " : "",
                              output ? "" : "selftest.output", " missing)"));
  const double atol = self_test_tolerance(file, "selftest.atol", where);
  const double rtol = self_test_tolerance(file, "selftest.rtol", where);
  const auto causal = file.metadata().find("selftest.causal");
  const bool is_causal = causal != file.metadata().end() && causal->second == "true";

  constexpr std::size_t rank = Model::has_tokens ? 2 : 3;
  if (input->shape.size() != rank)
    throw weight_error(concat(where, "selftest.input has shape ", shape_text(input->shape),
                              ", expected rank ", std::to_string(rank),
                              Model::has_tokens ? " (batch, seq) ids" : " (batch, seq, width)"));
  using in = typename Model::input_type;
  // A sequence_first model's input is (seq, batch, width).
  const extent_t batch =
      self_test_extent(input->shape[in::is_sequence_first ? 1 : 0], in::batch, in::max_batch,
                       self_test_limits::max_batch, "selftest.input", "batch", where);
  const extent_t seq =
      self_test_extent(input->shape[in::is_sequence_first ? 0 : 1], in::seq, in::max_seq,
                       self_test_limits::max_seq, "selftest.input", "seq", where);
  if constexpr (!Model::has_tokens)
    if (input->shape[2] != in::width)
      throw weight_error(concat(where, "selftest.input has width ", std::to_string(input->shape[2]),
                                ", the model's input width is ", std::to_string(in::width)));
  // An undeclared maximum is dynamic (negative).
  if ((in::batch == dynamic && in::max_batch <= 0) || (in::seq == dynamic && in::max_seq <= 0))
    if (std::int64_t{batch} * seq > self_test_limits::max_tokens)
      throw weight_error(concat(where, "selftest.input has ",
                                std::to_string(std::int64_t{batch} * seq),
                                " positions (batch × seq), more than a self-test may have where "
                                "the model declares no maximum (",
                                std::to_string(self_test_limits::max_tokens), ")"));

  // A decoder's memory, read before the runner is built (it sizes the memory buffers).
  xt::xtensor<float, 3> memory;
  std::vector<extent_t> memory_lengths;
  extent_t memory_seq = 0;
  if constexpr (Model::has_memory) {
    const io::tensor_info* m = file.find("selftest.memory");
    if (!m)
      throw weight_error(concat(where,
                                "the model reads a memory, but the self-test has no "
                                "selftest.memory (batch, memory seq, width)"));
    if (m->shape.size() != 3)
      throw weight_error(concat(where, "selftest.memory has shape ", shape_text(m->shape),
                                ", expected rank 3 (batch, memory seq, width)"));
    using memory_in = typename Model::memory_type;
    if (m->shape[in::is_sequence_first ? 1 : 0] != batch || m->shape[2] != memory_in::width)
      throw weight_error(concat(where, "selftest.memory has shape ", shape_text(m->shape),
                                ", expected (", in::is_sequence_first ? "memory seq, " : "",
                                std::to_string(batch), in::is_sequence_first ? "" : ", memory seq",
                                ", ", std::to_string(memory_in::width), ")"));
    memory_seq = self_test_extent(m->shape[in::is_sequence_first ? 0 : 1], memory_in::seq,
                                  memory_in::max_seq, self_test_limits::max_seq, "selftest.memory",
                                  "seq", where);
    memory = xt::xtensor<float, 3>({static_cast<std::size_t>(m->shape[0]),
                                    static_cast<std::size_t>(m->shape[1]),
                                    static_cast<std::size_t>(m->shape[2])});
    const auto values = file.read_floats("selftest.memory");
    std::copy(values.begin(), values.end(), memory.data());
    memory_lengths = self_test_lengths(file, "selftest.memory_key_lengths", batch, where);
    if (memory_lengths.empty()) memory_lengths.assign(static_cast<std::size_t>(batch), memory_seq);
  }
  using memory_in = typename Model::memory_type;
  runner<Model> run(
      weights, {.threads = 1,
                .max_batch = in::batch == dynamic ? batch : 0,
                .max_seq = in::seq == dynamic ? seq : 0,
                .max_memory_seq = Model::has_memory && memory_in::seq == dynamic ? memory_seq : 0});

  std::vector<extent_t> lengths = self_test_lengths(file, "selftest.key_lengths", batch, where);
  // Without selftest.key_lengths every sequence is full length. The call always passes
  // key lengths, so a model that needs them (zero_padded_positions) runs its self-test too.
  if (lengths.empty()) lengths.assign(static_cast<std::size_t>(batch), seq);
  const auto call = [&](const auto& x) -> xt::xtensor<float, Model::output_rank> {
    const masks::key_lengths by_length{lengths};
    if constexpr (Model::has_memory) {
      // (seq, batch, ...) for a sequence_first model, which keeps the sequence's shape.
      const auto shape = in::is_sequence_first ? runner<Model>::output_shape_for(seq, batch)
                                               : runner<Model>::output_shape_for(batch, seq);
      std::array<std::size_t, Model::output_rank> extents{};
      for (std::size_t a = 0; a < extents.size(); ++a)
        extents[a] = static_cast<std::size_t>(std::max<extent_t>(shape[a], 0));
      xt::xtensor<float, Model::output_rank> y(extents);
      const masks::key_lengths memory_mask{memory_lengths};
      if (is_causal)
        run(x, memory, y, masks::all(masks::causal{}, by_length), memory_mask);
      else
        run(x, memory, y, by_length, memory_mask);
      return y;
    } else {
      if (is_causal) return run(x, masks::all(masks::causal{}, by_length));
      return run(x, by_length);
    }
  };

  xt::xtensor<float, Model::output_rank> found;
  try {
    if constexpr (Model::has_tokens) {
      xt::xtensor<std::int32_t, 2> ids(
          {static_cast<std::size_t>(batch), static_cast<std::size_t>(seq)});
      const auto values = file.read_integers("selftest.input");
      for (std::size_t i = 0; i < values.size(); ++i) {
        if (values[i] < std::numeric_limits<std::int32_t>::min() ||
            values[i] > std::numeric_limits<std::int32_t>::max())
          throw weight_error(concat(where, "selftest.input id ", std::to_string(values[i]), " at ",
                                    position_text(i, input->shape), " does not fit 32 bits"));
        ids.data()[i] = static_cast<std::int32_t>(values[i]);
      }
      found = call(ids);
    } else {
      xt::xtensor<float, 3> x({static_cast<std::size_t>(input->shape[0]),
                               static_cast<std::size_t>(input->shape[1]),
                               static_cast<std::size_t>(input->shape[2])});
      const auto values = file.read_floats("selftest.input");
      std::copy(values.begin(), values.end(), x.data());
      found = call(x);
    }
  } catch (const shape_error& e) {
    throw weight_error(concat(where, "the self-test does not fit the model: ", e.what()));
  }

  std::vector<std::int64_t> found_shape(found.shape().begin(), found.shape().end());
  if (found_shape != output->shape)
    throw weight_error(concat(where, "selftest.output has shape ", shape_text(output->shape),
                              ", but the model gives ", shape_text(found_shape),
                              " for selftest.input"));
  const std::vector<float> expected = file.read_floats("selftest.output");
  std::size_t differing = 0, first = expected.size();
  double worst = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const double e = expected[i], f = found.data()[i];
    const bool ok = std::isnan(e) ? std::isnan(f)
                                  : !std::isnan(f) &&
                                        (e == f || std::fabs(f - e) <= atol + rtol * std::fabs(e));
    if (ok) continue;
    if (differing++ == 0) first = i;
    worst = std::isnan(f) || std::isnan(e) ? std::numeric_limits<double>::infinity()
                                           : std::max(worst, std::fabs(f - e));
  }
  if (differing == 0) return;
  const double e = expected[first], f = found.data()[first];
  throw weight_error(concat(
      where, "self-test failed: selftest.output differs at ", position_text(first, output->shape),
      ": expected ", number_text(e), ", found ", number_text(f), " (tolerance atol ",
      number_text(atol), " + rtol ", number_text(rtol), " × |expected|); ",
      std::to_string(differing), " of ", std::to_string(expected.size()),
      " values differ, the largest by ", number_text(worst), padding_zeroed_hint<Model>(file)));
}

/// The self-test runs the model: a bare layer gets one error that says how to wrap it, and the
/// callers compile nothing after it.
template <class Model>
constexpr bool self_test_takes_a_model() {
  // Named: clang prints a static_assert's condition.
  constexpr bool is_a_model = is_model_v<Model>;
  static_assert(is_a_model,
                "verify::on runs the file's self-test, which takes a model<...>: wrap the layer, "
                "as in model<input<batch<B>, seq<S>, d_model<D>>, the_layer>, or load it without "
                "verify");
  return is_a_model;
}

}  // namespace detail

/// load_weights, then, with verify::on, the file's self-test (see above): a model whose weights
/// load but give other numbers than the framework is refused, not returned.
template <class Model, class Naming>
typename Model::parameters load_weights(const io::safetensors_file& file, Naming naming,
                                        verify check, const load_options& options = {}) {
  if constexpr (!detail::self_test_takes_a_model<Model>()) {
    return load_weights<Model>(file, naming, options);  // only after the assertion's error
  } else {
    auto weights = load_weights<Model>(file, naming, options);
    if (check == verify::on) {
      const std::string where =
          detail::concat("model (", Naming::name, " names) in ", file.source(), ": ");
      detail::run_self_test<Model>(file, weights, where);
    }
    return weights;
  }
}

/// The same for a Keras model saved by TensorFlow.js: the topology check, the weights, then
/// the self-test from model.json's userDefinedMetadata.
template <class Model, class Naming>
typename Model::parameters load_weights(const io::tfjs_layers_model& model, Naming naming,
                                        verify check, const load_options& options = {}) {
  if constexpr (!detail::self_test_takes_a_model<Model>()) {
    return load_weights<Model>(model, naming, options);  // only after the assertion's error
  } else {
    auto weights = load_weights<Model>(model, naming, options);
    if (check == verify::on)
      detail::run_self_test<Model>(
          model.weights(), weights,
          detail::concat("model (", Naming::name, " names) in ", model.source(), ": "));
    return weights;
  }
}

/// A safetensors file, or a TensorFlow.js model.json (by its extension).
template <class Model, class Naming>
typename Model::parameters load_weights(const std::filesystem::path& path, Naming naming,
                                        verify check, const load_options& options = {}) {
  if constexpr (!detail::self_test_takes_a_model<Model>()) {
    return load_weights<Model>(path, naming, options);  // only after the assertion's error
  } else {
    if (detail::is_tfjs_model_json(path)) {
      if constexpr (std::is_same_v<Naming, naming::keras_t>)
        return load_weights<Model>(io::tfjs_layers_model::open(path, options.symlink_root), naming,
                                   check, options);
      else
        throw weight_error(detail::concat(path.string(),
                                          ": a TensorFlow.js model.json holds Keras "
                                          "names: pass naming::keras"));
    }
    return load_weights<Model>(io::safetensors_file::open(path), naming, check, options);
  }
}

}  // namespace typeformer
