#pragma once
// Building messages.

#include <cstdio>
#include <string>

namespace typeformer::detail {

/// A message from its parts (strings, string_views, C strings), appended in order. Building
/// with `"literal" + std::string&&` instead inserts at the front, which GCC 12 at -O2 and above
/// misreports as an overlapping memcpy (a known -Wrestrict false positive).
template <class... Parts>
std::string concat(const Parts&... parts) {
  std::string text;
  (text.append(parts), ...);
  return text;
}

/// A number as messages show it: 7 significant digits, the shortest form.
inline std::string number_text(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.7g", v);
  return text;
}

}  // namespace typeformer::detail
