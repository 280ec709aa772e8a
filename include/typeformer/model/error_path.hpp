#pragma once
// A run-time error raised inside a scope or a repeated block names its layer by the path its
// weights have, as the compile-time rules do (detail::at_path), and with the copy that raised it:
// `multi_head_attention "encoder.layers.3.self_attn": key length (9) is outside [0, 8]`. Each
// named composite catches what its parts throw and puts its name in front; nothing is built
// unless an error is thrown, so the call itself pays nothing.

#include <string>
#include <string_view>

#include <typeformer/core/errors.hpp>
#include <typeformer/core/text.hpp>

namespace typeformer::detail {

/// `message` with `prefix` before the layer's name when it begins `kind "name": ` (a kind is a
/// lower-case identifier such as `multi_head_attention`); any other message unchanged.
inline std::string with_path_prefix(std::string_view message, std::string_view prefix) {
  const auto quote = message.find(" \"");
  if (quote == 0 || quote == std::string_view::npos) return std::string(message);
  for (const char c : message.substr(0, quote))
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
      return std::string(message);
  return concat(message.substr(0, quote + 2), prefix, message.substr(quote + 2));
}

/// Runs `run`; an error it throws is thrown again, of the same type, with `prefix()` (called only
/// then) before the layer's name.
template <class Prefix, class Run>
void run_under_path(const Prefix& prefix, Run&& run) {
  try {
    run();
  } catch (const shape_error& e) {
    throw shape_error(with_path_prefix(e.what(), prefix()));
  } catch (const numeric_error& e) {
    throw numeric_error(with_path_prefix(e.what(), prefix()));
  } catch (const weight_error& e) {
    throw weight_error(with_path_prefix(e.what(), prefix()));
  }
}

}  // namespace typeformer::detail
