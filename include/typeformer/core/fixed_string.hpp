#pragma once
// Compile-time strings for layer names: `multi_head_attention<"self_attn", ...>`.

#include <cstddef>
#include <string_view>
#include <utility>

namespace typeformer {

/// A string literal usable as a template argument. Holds exactly N characters.
template <std::size_t N>
struct fixed_string {
  char chars[N + 1] = {};

  constexpr fixed_string(const char (&text)[N + 1]) noexcept {
    for (std::size_t i = 0; i < N; ++i) chars[i] = text[i];
  }
  static constexpr std::size_t size() noexcept { return N; }
  constexpr std::string_view view() const noexcept { return {chars, N}; }

  template <std::size_t M>
  constexpr bool operator==(const fixed_string<M>& other) const noexcept {
    return view() == other.view();
  }
};

template <std::size_t N>
fixed_string(const char (&)[N]) -> fixed_string<N - 1>;

/// A layer's name as a character pack. clang 14 prints a string template argument as an
/// array of character codes, but prints a `char` pack as characters, so diagnostics carry
/// names in this form: `layer_name<'s', 'e', 'l', 'f'>`.
template <char... Chars>
struct layer_name {
  static constexpr char text[sizeof...(Chars) + 1] = {Chars..., '\0'};
  static constexpr std::string_view view() noexcept { return {text, sizeof...(Chars)}; }
};

namespace detail {
template <fixed_string Name, class Indices = std::make_index_sequence<Name.size()>>
struct to_layer_name;
template <fixed_string Name, std::size_t... I>
struct to_layer_name<Name, std::index_sequence<I...>> {
  using type = layer_name<Name.chars[I]...>;
};
}  // namespace detail

template <fixed_string Name>
using layer_name_of = typename detail::to_layer_name<Name>::type;

}  // namespace typeformer
