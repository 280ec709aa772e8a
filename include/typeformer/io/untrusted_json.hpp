#pragma once
// JSON from a file (model.json, a weight manifest) parsed with bounds: nesting depth (nlohmann
// recurses once per level, so a file of a million '[' would overflow the stack), the number of
// values (a parsed value costs 16 to 100 bytes, so a 60 MB file of tiny values would take over
// a gigabyte) and duplicate keys, which nlohmann would resolve silently (the last wins) where
// the safetensors reader refuses them: one rule for every file typeformer reads.

#include <cstddef>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <typeformer/core/errors.hpp>
#include <typeformer/core/text.hpp>
#include <typeformer/io/json_depth.hpp>
#include <typeformer/io/json_sax.hpp>
#include <typeformer/io/quoted_text.hpp>

namespace typeformer::io::detail {

struct json_limits {
  std::size_t max_depth;
  /// Objects, arrays, numbers, strings, booleans and nulls together.
  std::size_t max_values;
};

/// A first pass over untrusted JSON (nlohmann's SAX interface): counts values and finds a key
/// repeated in one object, with no document built. A separate pass, because nlohmann's
/// callback parser rescans the parent container at every object's end (quadratic: 300,000
/// layers took a minute).
class json_bounds_check {
 public:
  using json = nlohmann::json;

  explicit json_bounds_check(std::size_t max_values) : max_values_(max_values) {}

  std::size_t values = 0;
  bool has_duplicate = false;  // a key repeated in one object; the parse stops there
  std::string duplicate_key;
  bool too_many = false;

  bool null() { return count(); }
  bool boolean(bool) { return count(); }
  bool number_integer(json::number_integer_t) { return count(); }
  bool number_unsigned(json::number_unsigned_t) { return count(); }
  bool number_float(json::number_float_t, const json::string_t&) { return count(); }
  bool string(json::string_t&) { return count(); }
  bool binary(json::binary_t&) { return count(); }
  bool start_object(std::size_t) {
    open_objects_.emplace_back();
    return count();
  }
  bool key(json::string_t& name) {
    if (open_objects_.back().insert(name).second) return true;
    has_duplicate = true;
    duplicate_key = name;
    return false;
  }
  bool end_object() {
    open_objects_.pop_back();
    return true;
  }
  bool start_array(std::size_t) { return count(); }
  bool end_array() { return true; }
  bool parse_error(std::size_t, const std::string&, const json::exception&) { return false; }

 private:
  std::size_t max_values_;
  // The keys seen so far in each open object, innermost last.
  std::vector<std::set<std::string, std::less<>>> open_objects_;

  bool count() {
    too_many = ++values > max_values_;
    return !too_many;
  }
};

/// `text` parsed, or a format_error starting with `where` and naming `what` ("model.json"; empty,
/// the messages say "JSON"): not JSON, nested too deep, too many values, or a key twice in one
/// object. A template on the document type only so that units that parse no such file do not
/// compile nlohmann's parser (io/tfjs_layers_model.hpp says why); the calls must depend on it,
/// or clang compiles them anyway.
template <class json = nlohmann::json>
json parse_untrusted_json(std::string_view text, const json_limits& limits,
                          const std::string& where, std::string_view what) {
  using typeformer::detail::concat;
  const std::string subject = what.empty() ? "JSON" : std::string(what);
  const std::string invalid = what.empty() ? "not valid JSON" : concat(what, " is not valid JSON");
  if (const auto at = json_too_deep_at(text, limits.max_depth))
    throw format_error(concat(where, subject, " nests deeper than ",
                              std::to_string(limits.max_depth), " levels at byte ",
                              std::to_string(*at)));
  json_bounds_check check(limits.max_values);
  try {
    (void)sax_parse_json<json>(text, &check);
    if (check.too_many)
      throw format_error(concat(where, subject, " holds more than ",
                                std::to_string(limits.max_values), " JSON values (the limit)"));
    if (check.has_duplicate)
      throw format_error(concat(where, subject, " has the key ", quote_name(check.duplicate_key),
                                " twice in one object (a duplicate key is refused, not resolved)"));
    // Syntax errors are reported by the parse below, with nlohmann's position.
    return json::parse(text, nullptr, /*allow_exceptions=*/true, /*ignore_comments=*/false);
  } catch (const typename json::exception& e) {  // also out_of_range: a number beyond double
    throw format_error(concat(where, invalid, ": ", e.what()));
  }
}

}  // namespace typeformer::io::detail
