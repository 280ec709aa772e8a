#pragma once
// Text from a file, made safe to print: names in a hostile header can hold anything, and
// messages and listings reach terminals, where control and bidirectional characters act
// instead of showing (U+009B starts a terminal command; U+202E makes a name read backwards).

#include <cstddef>
#include <string>
#include <string_view>

namespace typeformer::io::detail {

/// The length of the UTF-8 sequence at the start of `text` (1-4), or 0 when it is not one as
/// RFC 3629 defines UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
constexpr std::size_t utf8_sequence_length(std::string_view text) noexcept {
  if (text.empty()) return 0;
  const auto lead = static_cast<unsigned char>(text[0]);
  if (lead < 0x80u) return 1;
  // The sequence length, and the range of the second byte that excludes overlong forms,
  // surrogates and code points past U+10FFFF; later bytes are always 0x80..0xBF.
  std::size_t length = 0;
  unsigned char low = 0x80, high = 0xBF;
  if (lead >= 0xC2u && lead <= 0xDFu) {
    length = 2;
  } else if (lead >= 0xE0u && lead <= 0xEFu) {
    length = 3;
    if (lead == 0xE0u) low = 0xA0;
    if (lead == 0xEDu) high = 0x9F;
  } else if (lead >= 0xF0u && lead <= 0xF4u) {
    length = 4;
    if (lead == 0xF0u) low = 0x90;
    if (lead == 0xF4u) high = 0x8F;
  } else {
    return 0;
  }
  if (text.size() < length) return 0;
  const auto second = static_cast<unsigned char>(text[1]);
  if (second < low || second > high) return 0;
  for (std::size_t k = 2; k < length; ++k) {
    const auto next = static_cast<unsigned char>(text[k]);
    if (next < 0x80u || next > 0xBFu) return 0;
  }
  return length;
}

/// The code point of one valid UTF-8 sequence (as utf8_sequence_length measured it).
constexpr char32_t decode_utf8(std::string_view sequence) noexcept {
  const auto lead = static_cast<unsigned char>(sequence[0]);
  if (sequence.size() == 1) return lead;
  char32_t c = lead & (0x7Fu >> sequence.size());
  for (std::size_t k = 1; k < sequence.size(); ++k)
    c = (c << 6) | (static_cast<unsigned char>(sequence[k]) & 0x3Fu);
  return c;
}

/// The offset of the first byte that breaks UTF-8, or npos when `text` is valid.
constexpr std::size_t first_invalid_utf8(std::string_view text) noexcept {
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t length = utf8_sequence_length(text.substr(i));
    if (length == 0) return i;
    i += length;
  }
  return std::string_view::npos;
}

/// Whether code point `c` is one a terminal would act on rather than show: C0 and C1 controls,
/// DEL, and the bidirectional and line-breaking format characters (U+061C, U+200E, U+200F,
/// U+2028-U+202E, U+2066-U+2069), which can make a printed name read as another.
constexpr bool is_control_code_point(char32_t c) noexcept {
  return c < 0x20 || (c >= 0x7F && c <= 0x9F) || c == 0x061C || c == 0x200E || c == 0x200F ||
         (c >= 0x2028 && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069);
}

/// `text` escaped for a message or a listing: `"` and `\` escaped, ASCII controls and bytes
/// that are not UTF-8 as \xNN, other control and bidirectional characters as \u{NNNN}, and cut
/// (at a character boundary, marked "...") after `limit` bytes, since a hostile file's names can
/// be anything and messages reach terminals.
inline std::string escaped_text(std::string_view text, std::size_t limit = 200) {
  constexpr std::string_view hex = "0123456789abcdef";
  std::string out;
  std::size_t i = 0;
  while (i < text.size() && i < limit) {
    const std::size_t length = utf8_sequence_length(text.substr(i));
    if (length == 0) {  // not UTF-8: the byte itself
      const auto byte = static_cast<unsigned char>(text[i]);
      out += "\\x";
      out += hex[byte >> 4];
      out += hex[byte & 0xFu];
      ++i;
      continue;
    }
    const char32_t c = decode_utf8(text.substr(i, length));
    if (c == U'"' || c == U'\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (is_control_code_point(c)) {  // ASCII ones as \xNN, others as \u{NNNN}
      out += c < 0x80 ? "\\x" : "\\u{";
      for (int shift = c < 0x80 ? 4 : 12; shift >= 0; shift -= 4) out += hex[(c >> shift) & 0xFu];
      if (c >= 0x80) out += "}";
    } else {
      out.append(text.substr(i, length));
    }
    i += length;
  }
  if (i < text.size()) out += "...";
  return out;
}

/// escaped_text in double quotes: a name from a file, as messages show it.
inline std::string quote_name(std::string_view text, std::size_t limit = 200) {
  std::string out = "\"";  // appended, not `"\"" + ...`: GCC 12 misreports that (-Wrestrict)
  out += escaped_text(text, limit);
  out += '"';
  return out;
}

}  // namespace typeformer::io::detail
