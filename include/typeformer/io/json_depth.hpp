#pragma once
// nlohmann's parser recurses once per nesting level, so a file of a million '[' overflows the
// stack. Readers of untrusted JSON bound the depth with this scan before parsing.

#include <cstddef>
#include <optional>
#include <string_view>

namespace typeformer::io::detail {

/// The byte offset of the first '[' or '{' nested deeper than `max_depth`, if any.
inline std::optional<std::size_t> json_too_deep_at(std::string_view text, std::size_t max_depth) {
  std::size_t depth = 0;
  bool in_string = false, escaped = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return i;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return std::nullopt;
}

}  // namespace typeformer::io::detail
