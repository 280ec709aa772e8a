#pragma once
// check_keras_topology<Layer>(model, where): a Keras topology (tfjs model.json) against a C++
// declaration, before any weight is read. Every declared layer must appear in the file under its
// name, with its Keras class and the config values it computes with (keras_equivalent); every
// layer of the file must be declared, except inference no-ops (InputLayer, Dropout, ...) and
// one Add per residual sum. A difference is a weight_error naming the layer and both values.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <typeformer/core/errors.hpp>
#include <typeformer/core/extent.hpp>
#include <typeformer/core/text.hpp>
#include <typeformer/io/compiled_io.hpp>
#include <typeformer/io/tfjs_layers_model.hpp>
#include <typeformer/layers/keras_equivalent.hpp>

namespace typeformer::detail {

/// Collects what a declaration is made of: blocks report to it as to a model_description
/// (model/introspection.hpp), and leaf layers also report their type. This file's classes and
/// functions are templates only so that a unit that never checks a Keras topology does not
/// compile them and the JSON code they use (io/tfjs_layers_model.hpp says why).
template <class = void>
class basic_keras_declaration {
 public:
  static constexpr bool visits_layer_types = true;
  extent_t batch = dynamic, length = dynamic;
  bool sequence_axis = true;

  struct entry {
    std::string path, kind;
    bool visited = false;
    keras::layer_config keras;
  };
  std::vector<entry> layers;
  std::size_t sums = 0;

  std::size_t add_layer(std::string path, std::string kind, extent_t, extent_t, std::size_t) {
    return record(std::move(path), std::move(kind));
  }
  template <class Features>
  std::size_t add_layer(std::string path, std::string kind, const Features&, bool, extent_t,
                        std::size_t) {
    return record(std::move(path), std::move(kind));
  }
  void add_edge(std::size_t, std::size_t) {}
  std::size_t add_sum(std::size_t, std::size_t) {
    ++sums;
    return 0;
  }
  std::size_t input_node() { return 0; }

  /// Called by a leaf layer's block before it adds itself.
  template <class L>
  void visit_layer(const std::string& path) {
    pending_ = entry{path, std::string(L::kind), true, keras::keras_equivalent<L>()};
  }

 private:
  std::size_t record(std::string path, std::string kind) {
    if (pending_.visited && pending_.path == path) {
      layers.push_back(std::move(pending_));
    } else {
      entry e{std::move(path), std::move(kind), false, {}};
      e.keras.no_equivalent = "typeformer knows no Keras layer for it";
      layers.push_back(std::move(e));
    }
    pending_ = entry{};
    return 0;
  }
  entry pending_;
};
using keras_declaration = basic_keras_declaration<>;

template <class Layer>
keras_declaration declaration_of() {
  keras_declaration d;
  if constexpr (requires { typename Layer::body; }) {  // a model
    if constexpr (Layer::has_tokens) {
      using E = typename Layer::embedding_type;
      d.template visit_layer<E>(std::string(E::name));
      d.add_layer(std::string(E::name), std::string(E::kind), 0, 0, 0);
    }
    Layer::body::describe(d, std::string(), d.input_node());
  } else if constexpr (requires { &Layer::template describe<keras_declaration>; }) {
    Layer::describe(d, std::string(), d.input_node());
  } else {
    d.template visit_layer<Layer>(std::string(Layer::name));
    d.add_layer(std::string(Layer::name), std::string(Layer::kind), 0, 0, 0);
  }
  return d;
}

/// The topology check on a declaration's layers (below); one function for every model type, so
/// that under TYPEFORMER_COMPILED_IO=1 it is compiled in src/compiled_io.cpp alone.
template <class Unused = void>
void check_declared_topology(const basic_keras_declaration<Unused>& declared,
                             const io::tfjs_layers_model& model, const std::string& where);

/// See the top of this file. `where` starts each message.
template <class Layer>
void check_keras_topology(const io::tfjs_layers_model& model, const std::string& where) {
  check_declared_topology(declaration_of<Layer>(), model, where);
}

// The check and the helpers it alone uses, whose JSON code neither compiler then checks in a unit
// under TYPEFORMER_COMPILED_IO=1.
#if TYPEFORMER_IO_DEFINITIONS

/// A value from model.json for a message: ASCII only (JSON's own \u escapes), at most 200
/// characters.
template <class = void>
std::string json_text(const nlohmann::json& j) {
  std::string text =
      j.dump(-1, ' ', /*ensure_ascii=*/true, nlohmann::json::error_handler_t::replace);
  if (text.size() > 200) text = concat(text.substr(0, 200), "...");
  return text;
}

// Keras writes a 1-tuple option as [3] or 3, a float as 0.001 or 1e-3.
template <class = void>
bool same_keras_value(const nlohmann::json& a, const nlohmann::json& b) {
  const auto unwrap = [](const nlohmann::json& j) -> const nlohmann::json& {
    return j.is_array() && j.size() == 1 ? j[0] : j;
  };
  const nlohmann::json &x = unwrap(a), &y = unwrap(b);
  if (x.is_number() && y.is_number()) {
    const double p = x.get<double>(), q = y.get<double>();
    return p == q || std::fabs(p - q) <= 1e-6 * std::max(std::fabs(p), std::fabs(q));
  }
  return x == y;
}

/// Layers that compute nothing at inference.
inline bool is_inference_no_op(const std::string& class_name) {
  for (const char* c : {"InputLayer", "Dropout", "SpatialDropout1D", "GaussianNoise",
                        "GaussianDropout", "AlphaDropout", "ActivityRegularization"})
    if (class_name == c) return true;
  return false;
}

/// LayerNormalization's axis: -1, [-1] or the last axis by number ([2] for a rank-3 input).
template <class = void>
nlohmann::json normalised_axis(const nlohmann::json& axis) {
  const nlohmann::json& a = axis.is_array() && axis.size() == 1 ? axis[0] : axis;
  if (a.is_number_integer() && a.get<long long>() == 2) return nlohmann::json::array({-1});
  return nlohmann::json::array({a});
}

template <class = void>
void check_layer_config(const keras_declaration::entry& declared, const nlohmann::json& layer,
                        const std::string& where) {
  const std::string file_class = layer.at("class_name").get<std::string>();
  const std::string who = concat(where, "layer \"", declared.path, "\": ");
  if (file_class != declared.keras.class_name)
    throw weight_error(concat(who, "model.json has a ", io::detail::escaped_text(file_class),
                              ", the declaration a ", declared.kind, " (Keras ",
                              declared.keras.class_name, ")"));
  const nlohmann::json& config = layer.at("config");
  for (const keras::option& o : declared.keras.options) {
    const auto found = config.find(o.key);
    // Our own text (keras::value), so a parse error would be a bug here, not a bad file.
    const nlohmann::json keras_default = nlohmann::json::parse(o.keras_default.json_text());
    nlohmann::json expected = nlohmann::json::parse(o.expected.json_text());
    const bool absent = found == config.end() || (found->is_null() && !keras_default.is_null());
    nlohmann::json value = absent ? keras_default : *found;
    if (o.key == "axis") value = normalised_axis(value);
    if (!same_keras_value(value, expected))
      throw weight_error(concat(who, file_class, " ", o.key, " is ", json_text(value),
                                absent ? " (Keras's default)" : "",
                                " in model.json, the declaration has ", json_text(expected)));
  }
  for (auto item = config.begin(); item != config.end(); ++item) {
    // Named copies: clang 14 cannot capture structured bindings in a lambda.
    const std::string key = item.key();
    const nlohmann::json& value = item.value();
    const auto named = [&](const std::string& k) { return k == key; };
    if (std::any_of(declared.keras.options.begin(), declared.keras.options.end(),
                    [&](const keras::option& o) { return o.key == key; }) ||
        std::any_of(declared.keras.harmless.begin(), declared.keras.harmless.end(), named) ||
        value.is_null())
      continue;
    throw weight_error(concat(who, file_class, " option ", io::detail::escaped_text(key), " = ",
                              json_text(value),
                              " is not one typeformer implements (it would be dropped)"));
  }
}

template <class Unused>
void check_declared_topology(const basic_keras_declaration<Unused>& declared,
                             const io::tfjs_layers_model& model, const std::string& where) {
  const nlohmann::json& layers = model.layers();
  const auto file_layer = [&](const std::string& name) -> const nlohmann::json* {
    for (const nlohmann::json& l : layers)
      if (l["config"]["name"] == name) return &l;
    return nullptr;
  };
  const auto names_in_file = [&] {  // the first 20: a hostile file may hold a million
    std::string out;
    std::size_t listed = 0;
    for (const nlohmann::json& l : layers) {
      if (listed++ == 20) return concat(out, " and ", std::to_string(layers.size() - 20), " more");
      out += concat(out.empty() ? "" : ", ",
                    io::detail::escaped_text(l["config"]["name"].get<std::string>()), " (",
                    io::detail::escaped_text(l["class_name"].get<std::string>()), ")");
    }
    return out;
  };
  for (const auto& d : declared.layers) {
    if (!d.keras.no_equivalent.empty())
      throw weight_error(
          concat(where, "the declaration's ", d.kind, " \"", d.path,
                 "\" cannot be checked against a Keras topology: ", d.keras.no_equivalent));
    const nlohmann::json* l = file_layer(d.path);
    if (!l)
      throw weight_error(concat(where, "the declaration's ", d.kind, " \"", d.path, "\" (Keras ",
                                d.keras.class_name, ") is not in model.json, whose layers are ",
                                names_in_file()));
    check_layer_config(d, *l, where);
  }
  std::size_t adds = 0;
  for (const nlohmann::json& l : layers) {
    const std::string name = l["config"]["name"].get<std::string>();
    const std::string class_name = l["class_name"].get<std::string>();
    const bool declared_here = std::any_of(declared.layers.begin(), declared.layers.end(),
                                           [&](const auto& d) { return d.path == name; });
    if (declared_here || is_inference_no_op(class_name)) continue;
    if (class_name == "Add" && ++adds <= declared.sums) continue;
    throw weight_error(concat(where, "model.json's layer ", io::detail::quote_name(name), " (",
                              io::detail::escaped_text(class_name),
                              ") has no counterpart in the declaration",
                              class_name == "Add" ? " (more Add layers than residual sums)" : ""));
  }
  if (adds < declared.sums)
    throw weight_error(concat(where, "the declaration has ", std::to_string(declared.sums),
                              " residual sums, model.json ", std::to_string(adds), " Add layers"));
}

#endif  // TYPEFORMER_IO_DEFINITIONS

#if TYPEFORMER_COMPILED_IO && !defined(TYPEFORMER_DEFINE_COMPILED_IO)
extern template void check_declared_topology<>(const keras_declaration&,
                                               const io::tfjs_layers_model&, const std::string&);
#endif

}  // namespace typeformer::detail
