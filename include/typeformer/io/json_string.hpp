#pragma once
// A JSON string literal written by hand, as nlohmann's dump() writes one: the safetensors
// writer's header needs only strings and integers, and building it as an nlohmann document
// instantiated the library's ordered variant in every unit that includes typeformer.

#include <optional>
#include <string>
#include <string_view>

#include <typeformer/io/quoted_text.hpp>

namespace typeformer::io::detail {

/// `text` in double quotes with `"`, `\` and the control characters escaped (\b \f \n \r \t,
/// the others as \u00XX) and UTF-8 kept as it is; nullopt when `text` is not valid UTF-8.
inline std::optional<std::string> json_string(std::string_view text) {
  if (first_invalid_utf8(text) != std::string_view::npos) return std::nullopt;
  constexpr std::string_view hex = "0123456789abcdef";
  std::string out = "\"";
  for (const char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20u) {
          out += "\\u00";
          out += hex[static_cast<unsigned char>(c) >> 4];
          out += hex[static_cast<unsigned char>(c) & 0xFu];
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

}  // namespace typeformer::io::detail
