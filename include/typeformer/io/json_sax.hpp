#pragma once
// Strict JSON text to SAX events, without nlohmann's binary readers.
//
// `basic_json::sax_parse` picks its reader at run time from an `input_format_t` argument, so
// every call compiles the CBOR, MessagePack, UBJSON, BJData and BSON readers too: in a program
// that loads safetensors, a fifth of the object code and about a second of compile time
// (docs/compile-time.md). The text parser it calls for JSON has been `detail::parser` with
// this constructor since nlohmann 3.9; other versions take the public call.

#include <string_view>

#include <nlohmann/json.hpp>

namespace typeformer::io::detail {

/// Feeds `text` to `handler` as JSON (no comments, the whole text one value); false where the
/// text is not JSON and the handler's parse_error returned false.
template <class Json = nlohmann::json, class Handler>
bool sax_parse_json(std::string_view text, Handler* handler) {
#if NLOHMANN_JSON_VERSION_MAJOR == 3 && NLOHMANN_JSON_VERSION_MINOR >= 9
  using adapter = nlohmann::detail::iterator_input_adapter<const char*>;
  nlohmann::detail::parser<Json, adapter> parser(adapter(text.data(), text.data() + text.size()),
                                                 nullptr, /*allow_exceptions=*/true,
                                                 /*skip_comments=*/false);
  return parser.sax_parse(handler, /*strict=*/true);
#else
  return Json::sax_parse(text.begin(), text.end(), handler, Json::input_format_t::json,
                         /*strict=*/true, /*ignore_comments=*/false);
#endif
}

}  // namespace typeformer::io::detail
