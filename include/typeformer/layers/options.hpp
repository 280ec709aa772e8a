#pragma once
// Options a layer declaration takes besides its dimensions.

#include <type_traits>

#include <typeformer/kernels/attention_mask.hpp>
#include <typeformer/kernels/exp.hpp>
#include <typeformer/kernels/packed_weights.hpp>

namespace typeformer {

namespace option_kinds {
struct use_bias {};
struct on_fully_masked_rows {};
struct epsilon {};
struct maths_policy {};
struct weight_storage {};
}  // namespace option_kinds

/// Whether the projections have biases (PyTorch `bias`, Keras `use_bias`). Default true.
template <bool Enabled>
struct use_bias {
  using kind = option_kinds::use_bias;
  static constexpr bool value = Enabled;
};

/// What a query row with every key masked yields; see `fully_masked_rows`. Default zeros.
template <fully_masked_rows Policy>
struct on_fully_masked_rows {
  using kind = option_kinds::on_fully_masked_rows;
  static constexpr fully_masked_rows value = Policy;
};

/// How the attention softmax evaluates exp; see `maths`. Default `maths::fast`.
template <maths M>
struct maths_policy {
  using kind = option_kinds::maths_policy;
  static constexpr maths value = M;
};

/// How the layer stores its weight matrices; see `weight_format`. Default float32.
/// `weights_stored_as<weight_format::bfloat16>` halves their memory and the bytes each product
/// reads; biases, norms, activations and sums stay float32.
template <weight_format Format>
struct weights_stored_as {
  using kind = option_kinds::weight_storage;
  static constexpr weight_format value = Format;
};

/// The packed matrix type of a layer declared with `Options...`: packed_matrix, or
/// packed_bf16_matrix under weights_stored_as<weight_format::bfloat16>, packed_bf16_dot_matrix
/// under weights_stored_as<weight_format::bfloat16_products>.
template <class... Options>
using weight_matrix_for =
    kernels::packed_weights<option_value<option_kinds::weight_storage, Options...>(
        weight_format::float32)>;

/// A small constant as mantissa · 10^exponent: `epsilon<1, -6>` is 1e-6. Integer-encoded
/// because clang 14 has no floating-point template arguments.
template <int Mantissa, int Exponent>
struct epsilon {
  using kind = option_kinds::epsilon;
  static constexpr double value = [] {
    static_assert(Exponent >= -22 && Exponent <= 22, "powers of ten beyond 1e22 are not exact");
    double power = 1.0;  // 10^|Exponent|, exact: one rounding in total, as in the literal
    for (int e = 0; e < (Exponent < 0 ? -Exponent : Exponent); ++e) power *= 10.0;
    return Exponent < 0 ? Mantissa / power : Mantissa * power;
  }();
};

namespace detail {
template <class T, class Kind, class = void>
struct option_is : std::false_type {};
template <class T, class Kind>
struct option_is<T, Kind, std::void_t<typename T::kind>> : std::is_same<typename T::kind, Kind> {};

template <class Kind, class T, class... Options>
constexpr T find_value_option(T fallback) {
  T found = fallback;
  [[maybe_unused]] auto take = [&found]<class O>(O*) {
    if constexpr (option_is<O, Kind>::value) found = O::value;
  };
  (take(static_cast<Options*>(nullptr)), ...);
  return found;
}
}  // namespace detail

/// The option of kind `Kind` among `Options...` (the first), or `Fallback`: for options that
/// carry more than a value, such as names.
template <class Kind, class Fallback, class... Options>
struct option_type {
  using type = Fallback;
};
template <class Kind, class Fallback, class First, class... Rest>
struct option_type<Kind, Fallback, First, Rest...>
    : std::conditional_t<detail::option_is<First, Kind>::value, std::type_identity<First>,
                         option_type<Kind, Fallback, Rest...>> {};

/// The value of the option of kind `Kind` among `Options...`, or `fallback`:
/// `option_value<option_kinds::use_bias, Options...>(true)`. A function rather than a variable
/// template with the default as a template argument: clang 14 has no `double` ones.
template <class Kind, class... Options, class T>
constexpr T option_value(T fallback) {
  return detail::find_value_option<Kind, T, Options...>(fallback);
}

}  // namespace typeformer
