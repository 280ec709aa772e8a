#pragma once
// The comparison between the tensors a layer expects and those a weight file holds, as a list
// of findings in one order: every expected tensor's problem (missing, non-floating dtype, wrong
// shape) in the layer's order, then every unexpected tensor in the file's order. load_weights
// throws the first finding; typeformer-inspect prints them all, so both say the same sentence.

#include <algorithm>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include <typeformer/core/naming.hpp>
#include <typeformer/core/text.hpp>
#include <typeformer/core/weight_source.hpp>
#include <typeformer/io/compiled_io.hpp>
#include <typeformer/io/safetensors_reader.hpp>

namespace typeformer {

struct load_options {
  /// Prepended to every name the layer expects: "layers.0.self_attn." (PyTorch), "mha/" (Keras).
  /// Unset: the layer's own, standalone_prefix (core/naming.hpp): under Keras names a lone
  /// layer's weights are under its name (`dense/kernel`), under PyTorch names under none.
  std::optional<std::string> prefix = {};
  /// Tensors under these prefixes are not weights and are not "unexpected": the exporter's
  /// self-test sample ("selftest.") and reference data kept beside the weights.
  std::vector<std::string> ignore_prefixes = {"selftest."};
  /// The file holds other layers' weights too (a whole model's file, read one layer at a time):
  /// only tensors under `prefix` must belong to the layer, the rest are left alone.
  bool file_holds_other_layers = false;
  /// A TensorFlow.js model.json's shards may be symbolic links only to files inside this
  /// directory. Empty: the model.json's directory, or the repository folder when model.json
  /// sits in a Hugging Face cache snapshot (`models--*/snapshots/<revision>/`, whose files link
  /// to ../../blobs/). See io/contained_path.hpp and docs/reliability.md.
  std::filesystem::path symlink_root = {};
};

namespace detail {

inline bool starts_with_any(const std::string& name, const std::vector<std::string>& prefixes) {
  return std::any_of(prefixes.begin(), prefixes.end(),
                     [&](const std::string& p) { return name.rfind(p, 0) == 0; });
}

/// What every weight message starts with: `multi_head_attention "mha" (pytorch names) in f: `.
std::string weight_check_context(std::string_view layer, std::string_view naming_name,
                                 std::string_view source);

/// The layer as messages name it: its kind, and its name when it has one.
template <class Layer>
std::string layer_title() {
  return Layer::name.empty() ? std::string(Layer::kind)
                             : concat(Layer::kind, " \"", Layer::name, "\"");
}

/// `options` with the prefix `Layer`'s names take under `Naming` when the options leave it unset.
template <class Layer, class Naming>
load_options resolved_options(const load_options& options) {
  load_options resolved = options;
  if (!resolved.prefix) resolved.prefix = standalone_prefix<Naming>(Layer::name);
  return resolved;
}

/// When a file's names look like the other framework's (a Keras `/` path or `kernel`, `gamma`,
/// `embeddings`; PyTorch's `.` paths ending in `weight` or `bias`) and none of the expected
/// names is in it, the sentence that says so; empty otherwise.
std::string other_naming_hint(const std::vector<weight_spec>& expected,
                              const io::safetensors_file& file, std::string_view naming_name,
                              const std::vector<std::string>& ignored);

/// Every mismatch between `expected` and `file`, each a sentence without the context prefix.
/// `naming_name` is "pytorch" or "keras": PyTorch files get a hint for add_bias_kv tensors.
std::vector<std::string> weight_mismatches(const std::vector<weight_spec>& expected,
                                           const io::safetensors_file& file,
                                           std::string_view naming_name,
                                           const load_options& options);

// The definitions: in every unit when typeformer is used header-only, in src/compiled_io.cpp
// alone when TYPEFORMER_COMPILED_IO is 1 (io/compiled_io.hpp).
#if TYPEFORMER_IO_DEFINITIONS

TYPEFORMER_IO_INLINE std::string weight_check_context(std::string_view layer,
                                                      std::string_view naming_name,
                                                      std::string_view source) {
  return concat(layer, " (", naming_name, " names) in ", source, ": ");
}

TYPEFORMER_IO_INLINE std::string other_naming_hint(const std::vector<weight_spec>& expected,
                                                   const io::safetensors_file& file,
                                                   std::string_view naming_name,
                                                   const std::vector<std::string>& ignored) {
  for (const weight_spec& w : expected)
    if (file.find(w.name)) return {};
  std::size_t keras_like = 0, torch_like = 0, names = 0;
  std::string example;
  for (const io::tensor_info& t : file.tensors()) {
    if (starts_with_any(t.name, ignored)) continue;
    if (names++ == 0) example = t.name;
    const std::string_view n = t.name;
    const std::string_view last = n.substr(n.find_last_of("./") + 1);
    if (n.find('/') != std::string_view::npos || last == "kernel" || last == "gamma" ||
        last == "beta" || last == "embeddings" || last == "recurrent_kernel")
      ++keras_like;
    else if (last.ends_with("weight") || last.ends_with("bias"))
      ++torch_like;
  }
  if (names == 0) return {};
  if (naming_name == naming::keras_t::name && torch_like == names)
    return concat(" (the file's ", std::to_string(names),
                  " tensors are named as PyTorch names them, e.g. ",
                  io::detail::quote_name(example), ": load it with naming::pytorch)");
  if (naming_name == naming::pytorch_t::name && keras_like == names)
    return concat(" (the file's ", std::to_string(names),
                  " tensors are named as Keras names them, e.g. ", io::detail::quote_name(example),
                  ": load it with naming::keras)");
  return {};
}

TYPEFORMER_IO_INLINE std::vector<std::string> weight_mismatches(
    const std::vector<weight_spec>& expected, const io::safetensors_file& file,
    std::string_view naming_name, const load_options& options) {
  std::vector<std::string> findings;
  const std::string prefix = options.prefix.value_or(std::string());
  for (const std::string& p : options.ignore_prefixes)
    if (p.empty())
      return {
          "load_options::ignore_prefixes holds an empty prefix, which would ignore every "
          "tensor of the file"};
  std::unordered_set<std::string_view> expected_names;
  for (const weight_spec& w : expected) {
    expected_names.insert(w.name);
    const io::tensor_info* t = file.find(w.name);
    if (!t)
      findings.push_back(concat("missing tensor ", io::detail::quote_name(w.name),
                                ", expected shape ", shape_text(w.shape)));
    else if (!io::is_floating_dtype(t->type))
      findings.push_back(concat("tensor ", io::detail::quote_name(w.name), " has dtype ",
                                io::dtype_name(t->type),
                                ", expected a floating dtype (F32, F16, BF16, F64)"));
    else if (t->shape != w.shape)
      findings.push_back(concat("tensor ", io::detail::quote_name(w.name), " has shape ",
                                shape_text(t->shape), ", expected ", shape_text(w.shape)));
  }
  for (const io::tensor_info& t : file.tensors()) {
    if (starts_with_any(t.name, options.ignore_prefixes)) continue;
    if (options.file_holds_other_layers && t.name.rfind(prefix, 0) != 0) continue;
    if (expected_names.contains(t.name)) continue;
    const auto ends_with = [&](std::string_view tail) {
      return t.name.size() >= tail.size() &&
             std::string_view(t.name).substr(t.name.size() - tail.size()) == tail;
    };
    if (naming_name == naming::pytorch_t::name && (ends_with("bias_k") || ends_with("bias_v")))
      findings.push_back(
          concat("tensor ", io::detail::quote_name(t.name),
                 " comes from nn.MultiheadAttention(add_bias_kv=True), which typeformer does not "
                 "support (a learned key and value appended to every sequence); export the model "
                 "with add_bias_kv=False"));
    else
      findings.push_back(concat(
          "unexpected tensor ", io::detail::quote_name(t.name), " with shape ", shape_text(t.shape),
          " (the layer expects ", std::to_string(expected.size()), " tensors",
          prefix.empty() ? std::string() : concat(" under ", io::detail::quote_name(prefix)), ")"));
  }
  return findings;
}

#endif  // TYPEFORMER_IO_DEFINITIONS

}  // namespace detail
}  // namespace typeformer
