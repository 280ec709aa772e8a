#pragma once
// summary<Model>() and to_dot<Model>(): what a model is made of, for people.
//
// summary prints a Keras-style table: one row per layer (its path in the model, kind, output
// shape with None for a dynamic extent, parameter count), then the totals. to_dot writes the
// same graph for Graphviz, with residual additions as nodes: `dot -Tsvg model.dot`.

#include <algorithm>
#include <cstddef>
#include <sstream>
#include <string>
#include <vector>

#include <typeformer/core/extent.hpp>
#include <typeformer/core/text.hpp>
#include <typeformer/model/model.hpp>

namespace typeformer {

/// What a model's blocks report about themselves, in the order they run; layer paths are
/// scoped as `Naming` scopes weight names (`layers.0.self_attn`, `layers_0/self_attn`).
template <class Naming>
class basic_model_description {
 public:
  using naming_type = Naming;
  struct layer {
    std::string path, kind;
    std::vector<extent_t> shape;  // the output's, batch first
    extent_t parameter_count;
  };

  /// The batch of the shapes, and the sequence length at the layer being added: blocks that
  /// change it (model/block.hpp) update it before adding their layer.
  extent_t batch = dynamic, length = dynamic;
  bool sequence_axis = true;

  /// A layer at `path` fed by the node `from`, its output (batch, length, width); returns its
  /// node.
  std::size_t add_layer(std::string path, std::string kind, extent_t width, extent_t params,
                        std::size_t from) {
    std::vector<extent_t> shape{batch};
    if (sequence_axis) shape.push_back(length);
    shape.push_back(width);
    return add_node({std::move(path), std::move(kind), std::move(shape), params}, from);
  }
  /// The same for an output of several feature axes, with or without the sequence axis.
  std::size_t add_layer(std::string path, std::string kind, const detail::feature_axes& features,
                        bool has_sequence_axis, extent_t params, std::size_t from) {
    std::vector<extent_t> shape{batch};
    if (has_sequence_axis) shape.push_back(length);
    for (std::size_t i = 0; i < features.count; ++i) shape.push_back(features.extents[i]);
    return add_node({std::move(path), std::move(kind), std::move(shape), params}, from);
  }
  /// One more input of node `to` (a merge of several heads).
  void add_edge(std::size_t from, std::size_t to) { edges_.push_back({from, to}); }
  /// A residual addition of the nodes `a` and `b`; returns its node.
  std::size_t add_sum(std::size_t a, std::size_t b) {
    nodes_.push_back(sum_node);
    const std::size_t id = nodes_.size() - 1;
    edges_.push_back({a, id});
    edges_.push_back({b, id});
    return id;
  }
  /// The node of the model's input (node 0).
  std::size_t input_node() {
    if (nodes_.empty()) nodes_.push_back(input_marker);
    return 0;
  }

  const std::vector<layer>& layers() const noexcept { return layers_; }

  /// `input_text` labels the input.
  std::string dot(const std::string& input_text) const {
    std::ostringstream out;
    out << "digraph model {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\"];\n";
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      out << "  n" << i << " [";
      if (nodes_[i] == input_marker)
        out << "label=\"input\\n" << input_text << "\", shape=oval";
      else if (nodes_[i] == sum_node)
        out << "label=\"+\", shape=circle";
      else {
        const layer& l = layers_[nodes_[i]];
        out << "label=\"" << l.path << "\\n" << l.kind << "\\n" << shape_text(l.shape) << "\"";
      }
      out << "];\n";
    }
    for (const auto& [from, to] : edges_) out << "  n" << from << " -> n" << to << ";\n";
    out << "}\n";
    return out.str();
  }

  /// An extent as Keras prints it: None when dynamic.
  static std::string extent_text(extent_t e) {
    return e == dynamic ? std::string("None") : std::to_string(e);
  }
  static std::string shape_text(const std::vector<extent_t>& shape) {
    std::string out = "(";
    for (std::size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + extent_text(shape[i]);
    return out + ")";
  }

 private:
  std::size_t add_node(layer l, std::size_t from) {
    layers_.push_back(std::move(l));
    nodes_.push_back(layers_.size() - 1);
    const std::size_t id = nodes_.size() - 1;
    edges_.push_back({from, id});
    return id;
  }

  static constexpr std::size_t input_marker = static_cast<std::size_t>(-1);
  static constexpr std::size_t sum_node = static_cast<std::size_t>(-2);
  std::vector<layer> layers_;
  std::vector<std::size_t> nodes_;  // an index into layers_, or one of the markers
  std::vector<std::pair<std::size_t, std::size_t>> edges_;
};

using model_description = basic_model_description<naming::pytorch_t>;

namespace detail {
inline std::string with_thousands(extent_t n) {
  std::string digits = std::to_string(n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

template <class Model, class Naming = naming::pytorch_t>
basic_model_description<Naming> describe() {
  basic_model_description<Naming> d;
  d.batch = Model::input_shape[0];
  d.length = Model::input_shape[1];
  std::size_t from = d.input_node();
  if constexpr (Model::has_tokens) {
    using E = typename Model::embedding_type;
    from = d.add_layer(std::string(E::name), std::string(E::kind), E::output_width,
                       E::parameter_count, from);
  }
  Model::body::describe(d, std::string(), from);
  return d;
}

/// The input's shape as Keras prints it: (None, 128) for tokens, (None, 128, 512) for vectors.
template <class Model>
std::string input_shape_text() {
  if constexpr (Model::has_tokens) {
    // concat sizes the string once; chained operator+ here made GCC 12 warn of a memcpy
    // beyond any object's size (-Wstringop-overflow, a false positive once inlined).
    return detail::concat("(", model_description::extent_text(Model::input_shape[0]), ", ",
                          model_description::extent_text(Model::input_shape[1]), ")");
  } else {
    return model_description::shape_text(
        {Model::input_shape[0], Model::input_shape[1], Model::input_shape[2]});
  }
}

/// One error for a bare layer, and nothing after it: the callers' bodies are discarded.
template <class Model>
constexpr bool describes_a_model() {
  // Named: clang prints a static_assert's condition.
  constexpr bool is_a_model = is_model_v<Model>;
  static_assert(is_a_model,
                "summary and to_dot describe a model<...>: wrap the layer, as in "
                "model<input<batch<B>, seq<S>, d_model<D>>, the_layer>");
  return is_a_model;
}
}  // namespace detail

/// The Keras-style table of a model's layers, shapes and parameter counts; each layer by its
/// path as `naming` scopes its weights (PyTorch's by default: `layers.0.self_attn`; Keras's:
/// `layers_0/self_attn`).
template <class Model, class Naming = naming::pytorch_t>
std::string summary(Naming = {}) {
  if constexpr (!detail::describes_a_model<Model>()) {
    return {};
  } else {
    const auto d = detail::describe<Model, Naming>();
    struct row {
      std::string layer, shape, params;
    };
    std::vector<row> rows;
    rows.push_back({"input (input)", detail::input_shape_text<Model>(), "0"});
    for (const auto& l : d.layers())
      rows.push_back({l.path + " (" + l.kind + ")", model_description::shape_text(l.shape),
                      detail::with_thousands(l.parameter_count)});
    std::size_t w0 = std::string("Layer (type)").size(), w1 = std::string("Output Shape").size(),
                w2 = std::string("Param #").size();
    for (const row& r : rows) {
      w0 = std::max(w0, r.layer.size());
      w1 = std::max(w1, r.shape.size());
      w2 = std::max(w2, r.params.size());
    }
    const std::size_t width = w0 + w1 + w2 + 5;
    auto line = [&](const std::string& a, const std::string& b, const std::string& c) {
      return " " + a + std::string(w0 - a.size() + 2, ' ') + b +
             std::string(w1 - b.size() + 2, ' ') + std::string(w2 - c.size(), ' ') + c + "\n";
    };
    std::string out = std::string(width, '_') + "\n";
    out += line("Layer (type)", "Output Shape", "Param #");
    out += std::string(width, '=') + "\n";
    for (const row& r : rows) out += line(r.layer, r.shape, r.params);
    out += std::string(width, '=') + "\n";
    out += "Total params: " + detail::with_thousands(Model::parameter_count) + "\n";
    out += std::string(width, '_') + "\n";
    return out;
  }
}

/// The model as a Graphviz digraph: input, layers, residual additions.
template <class Model, class Naming = naming::pytorch_t>
std::string to_dot(Naming = {}) {
  if constexpr (!detail::describes_a_model<Model>())
    return {};
  else
    return detail::describe<Model, Naming>().dot(detail::input_shape_text<Model>());
}

}  // namespace typeformer
