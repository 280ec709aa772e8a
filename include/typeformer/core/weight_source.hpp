#pragma once
// checked_weight_source: the `get(name)` a layer's from_weights reads its tensors through,
// checked against the layer's expected_weights. from_weights is public (a user may feed it from
// their own store), so a tensor with the wrong number of values is a weight_error naming the
// layer, the tensor, the expected shape and the count found, never an out-of-bounds read.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <typeformer/core/errors.hpp>
#include <typeformer/core/naming.hpp>
#include <typeformer/core/text.hpp>

namespace typeformer {

namespace detail {
inline std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

inline std::size_t element_count(const std::vector<std::int64_t>& shape) noexcept {
  std::size_t n = 1;
  for (const std::int64_t e : shape) n *= static_cast<std::size_t>(e);
  return n;
}
}  // namespace detail

template <class Get>
class checked_weight_source {
 public:
  checked_weight_source(std::vector<weight_spec> expected, Get& get, std::string_view kind,
                        std::string_view name)
      : expected_(std::move(expected)), get_(get), kind_(kind), name_(name) {}

  std::vector<float> operator()(const std::string& tensor) const {
    const weight_spec* spec = nullptr;
    for (const weight_spec& w : expected_)
      if (w.name == tensor) spec = &w;
    if (!spec)  // a layer reading a name it did not declare: a library bug, reported, not UB
      throw weight_error(detail::concat(who(), ": reads tensor \"", tensor,
                                        "\", which its expected_weights does not list"));
    std::vector<float> values = get_(tensor);
    const std::size_t count = detail::element_count(spec->shape);
    if (values.size() != count)
      throw weight_error(detail::concat(who(), ": tensor \"", tensor, "\" has ",
                                        std::to_string(values.size()), " values, expected ",
                                        std::to_string(count), " (shape ",
                                        detail::shape_text(spec->shape), ")"));
    return values;
  }

 private:
  std::string who() const {
    return name_.empty() ? std::string(kind_) : detail::concat(kind_, " \"", name_, "\"");
  }

  std::vector<weight_spec> expected_;
  Get& get_;
  std::string_view kind_, name_;
};

/// The checked source of `Layer`'s tensors under `prefix`.
template <class Layer, class Naming, class Get>
checked_weight_source<Get> checked_weights(Naming naming, Get& get, const std::string& prefix) {
  return {Layer::expected_weights(naming, prefix), get, Layer::kind, Layer::name};
}

}  // namespace typeformer
