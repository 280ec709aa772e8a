#pragma once
// Hostile safetensors files built byte by byte, each with the text its format_error must carry:
// checked by tests/io_safetensors_test.cpp and written into the fuzzers' seed corpus.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace typeformer_test {

using bytes = std::vector<std::byte>;

inline bytes text_bytes(std::string_view text) {
  bytes out;
  for (const char c : text) out.push_back(static_cast<std::byte>(c));
  return out;
}

inline bytes length_prefix(std::uint64_t length) {
  bytes out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::byte>((length >> (8 * i)) & 0xFFu));
  return out;
}

inline bytes operator+(bytes a, const bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// A file whose header is `header` (its true length) followed by `data_size` data bytes.
inline bytes file_with(std::string_view header, std::size_t data_size = 0) {
  return length_prefix(header.size()) + text_bytes(header) + bytes(data_size, std::byte{0});
}

struct hostile_file {
  const char* what;
  bytes file;
  std::string message;  // a part of the format_error's message
};

inline std::vector<hostile_file> hostile_files() {
  const std::string t = R"("t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  // A tensor entry for "t" with the given fields' JSON, e.g. tensor(R"("dtype":"F32")").
  const auto tensor = [](std::string_view fields) {
    return "{\"t\":{" + std::string(fields) + "}}";
  };
  const std::string f32_shape = R"("dtype":"F32","shape":[2])";
  const std::string deep_array = std::string(100'000, '[') + std::string(100'000, ']');

  return {
      {"empty file", {}, "file is 0 bytes, shorter than the 8-byte header length"},
      {"7 bytes", bytes(7), "file is 7 bytes, shorter than the 8-byte header length"},
      {"header length 2^63", length_prefix(std::uint64_t{1} << 63) + text_bytes("{}"),
       "header length 9223372036854775808 exceeds the limit of 100000000 bytes"},
      {"header length 2^64 - 1", length_prefix(~std::uint64_t{0}) + text_bytes("{}"),
       "header length 18446744073709551615 exceeds the limit"},
      {"header length 100 MB + 1", length_prefix(100'000'001) + text_bytes("{}"),
       "header length 100000001 exceeds the limit of 100000000 bytes"},
      {"header length 100 MB, larger than the file", length_prefix(100'000'000) + text_bytes("{}"),
       "header length 100000000 runs past the end of the file (10 bytes)"},
      {"header length larger than the file", length_prefix(3) + text_bytes("{}"),
       "header length 3 runs past the end of the file (10 bytes)"},
      {"empty header", length_prefix(0), "header does not start with '{'"},
      {"header starting with a space", file_with(" {}"), "header does not start with '{'"},
      {"header starting with a byte-order mark", file_with("\xEF\xBB\xBF{}"),
       "header does not start with '{'"},
      {"JSON array instead of an object", file_with("[]"), "header does not start with '{'"},
      {"invalid JSON", file_with(R"({"t":})"), "header is not valid JSON"},
      {"truncated JSON", file_with(R"({"t":{"dtype":"F32")"), "header is not valid JSON"},
      {"a second JSON value after the object", file_with("{}{}"), "header is not valid JSON"},
      {"garbage after the object", file_with("{}  x"), "header is not valid JSON"},
      {"NUL padding after the object", file_with(std::string_view("{}\0\0", 4)),
       "header is not valid JSON"},
      {"a NUL byte hiding a second object", file_with(std::string_view("{}\0{\"t\":1}", 10)),
       "header is not valid JSON: NUL byte at byte 2 of the header"},
      {"a comment", file_with("{/* no */}"), "header is not valid JSON"},
      {"a trailing comma", file_with(R"({"__metadata__":{"a":"b",}})"), "header is not valid JSON"},
      {"an unpaired surrogate escape", file_with(R"({"\ud800":{}})"), "header is not valid JSON"},
      {"invalid UTF-8: byte 0xFF", file_with("{\"\xFF\":1}"),
       "header is not valid UTF-8 (byte 2 of the header)"},
      {"invalid UTF-8: overlong '/'", file_with("{\"\xC0\xAF\":1}"), "header is not valid UTF-8"},
      {"invalid UTF-8: encoded surrogate", file_with("{\"\xED\xA0\x80\":1}"),
       "header is not valid UTF-8"},
      {"invalid UTF-8: above U+10FFFF", file_with("{\"\xF4\x90\x80\x80\":1}"),
       "header is not valid UTF-8"},
      {"invalid UTF-8: truncated at the header's end", file_with("{}\xE2\x82"),
       "header is not valid UTF-8 (byte 2 of the header)"},
      {"invalid UTF-8: lone continuation byte", file_with("{\"\x80\":1}"),
       "header is not valid UTF-8"},
      {"duplicate tensor key", file_with("{" + t + "," + t + "}", 8),
       "duplicate key \"t\" in the header"},
      {"duplicate __metadata__", file_with(R"({"__metadata__":{},"__metadata__":{}})"),
       "duplicate key \"__metadata__\" in the header"},
      {"duplicate key inside a tensor entry",
       file_with(tensor(R"("dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8])"), 8),
       "tensor \"t\": duplicate field \"dtype\""},
      {"duplicate key inside __metadata__", file_with(R"({"__metadata__":{"a":"1","a":"2"}})"),
       "__metadata__: duplicate key \"a\""},
      {"__metadata__ with a number value", file_with(R"({"__metadata__":{"a":1}})"),
       "__metadata__: value of \"a\" is a JSON number, expected a string"},
      {"__metadata__ with an object value", file_with(R"({"__metadata__":{"a":{}}})"),
       "__metadata__: value of \"a\" is a JSON object, expected a string"},
      {"__metadata__ with a deeply nested value",
       file_with(R"({"__metadata__":{"a":)" + deep_array + "}}"),
       "__metadata__: value of \"a\" is a JSON array, expected a string"},
      {"__metadata__ a string", file_with(R"({"__metadata__":"x"})"),
       "__metadata__ is a JSON string, expected an object of strings"},
      {"__metadata__ null", file_with(R"({"__metadata__":null})"),
       "__metadata__ is a JSON null, expected an object of strings"},
      {"tensor entry an array", file_with(R"({"t":[0,8]})"),
       "tensor \"t\": entry is a JSON array, expected an object"},
      {"tensor entry a string", file_with(R"({"t":"F32"})"),
       "tensor \"t\": entry is a JSON string, expected an object"},
      {"unknown dtype",
       file_with(tensor(R"("dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2])"), 2),
       "tensor \"t\": unknown dtype \"F8_E4M3\""},
      {"lower-case dtype",
       file_with(tensor(R"("dtype":"f32","shape":[2],"data_offsets":[0,8])"), 8),
       "tensor \"t\": unknown dtype \"f32\""},
      {"dtype a number", file_with(tensor(R"("dtype":4,"shape":[2],"data_offsets":[0,8])"), 8),
       "tensor \"t\": dtype is a JSON number, expected a string"},
      {"missing dtype", file_with(tensor(R"("shape":[2],"data_offsets":[0,8])"), 8),
       "tensor \"t\": missing field \"dtype\""},
      {"missing shape", file_with(tensor(R"("dtype":"F32","data_offsets":[0,8])"), 8),
       "tensor \"t\": missing field \"shape\""},
      {"missing data_offsets", file_with(tensor(f32_shape), 8),
       "tensor \"t\": missing field \"data_offsets\""},
      {"empty tensor entry", file_with(R"({"t":{}})"), "tensor \"t\": missing field \"dtype\""},
      {"extra unknown field",
       file_with(tensor(f32_shape + R"(,"data_offsets":[0,8],"offsets":[0,8])"), 8),
       "tensor \"t\": unknown field \"offsets\" (an entry has only dtype, shape and data_offsets)"},
      {"field name in another case",
       file_with(tensor(R"("Dtype":"F32","shape":[2],"data_offsets":[0,8])"), 8),
       "tensor \"t\": unknown field \"Dtype\""},
      {"negative shape element",
       file_with(tensor(R"("dtype":"F32","shape":[-1],"data_offsets":[0,0])")),
       "tensor \"t\": shape element -1 is negative"},
      {"fractional shape element",
       file_with(tensor(R"("dtype":"F32","shape":[1.5],"data_offsets":[0,4])"), 4),
       "tensor \"t\": shape element 1.5 is not a 64-bit integer"},
      {"shape element in exponent notation",
       file_with(tensor(R"("dtype":"F32","shape":[2e0],"data_offsets":[0,8])"), 8),
       "tensor \"t\": shape element 2e0 is not a 64-bit integer"},
      {"shape element beyond 64 bits",
       file_with(tensor(R"("dtype":"U8","shape":[18446744073709551616],"data_offsets":[0,0])")),
       "tensor \"t\": shape element 18446744073709551616 is not a 64-bit integer"},
      {"shape element above INT64_MAX",
       file_with(tensor(R"("dtype":"U8","shape":[9223372036854775808],"data_offsets":[0,0])")),
       "tensor \"t\": shape element 9223372036854775808 exceeds INT64_MAX"},
      {"shape element a string",
       file_with(tensor(R"("dtype":"F32","shape":["2"],"data_offsets":[0,8])"), 8),
       "tensor \"t\": shape element is a JSON string, expected a non-negative integer"},
      {"shape element null",
       file_with(tensor(R"("dtype":"F32","shape":[null],"data_offsets":[0,8])"), 8),
       "tensor \"t\": shape element is a JSON null, expected a non-negative integer"},
      {"shape nested 100000 deep",
       file_with(tensor(R"("dtype":"F32","shape":)" + deep_array + R"(,"data_offsets":[0,8])"), 8),
       "tensor \"t\": shape element is a JSON array, expected a non-negative integer"},
      {"shape a number", file_with(tensor(R"("dtype":"F32","shape":2,"data_offsets":[0,8])"), 8),
       "tensor \"t\": shape is a JSON number, expected an array of non-negative integers"},
      {"shape whose product overflows size_t",
       file_with(tensor(R"("dtype":"F32","shape":[4294967296,4294967296,2],"data_offsets":[0,8])"),
                 8),
       "tensor \"t\": dtype F32 × shape [4294967296, 4294967296, 2] overflows"},
      {"shape whose byte size overflows size_t",
       file_with(tensor(R"("dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,8])"), 8),
       "tensor \"t\": dtype F64 × shape [2305843009213693952] overflows"},
      {"overflow before a zero extent",
       file_with(tensor(R"("dtype":"U8","shape":[4294967296,4294967296,0],"data_offsets":[0,0])")),
       "overflows"},
      {"data_offsets reversed", file_with(tensor(f32_shape + R"(,"data_offsets":[8,0])"), 8),
       "tensor \"t\": data_offsets [8, 0] are reversed (begin > end)"},
      {"data_offsets past the data section",
       file_with(tensor(R"("dtype":"F32","shape":[4],"data_offsets":[0,16])"), 8),
       "tensor \"t\": data_offsets [0, 16] run past the end of the data section (8 bytes)"},
      {"data_offsets near 2^64",
       file_with(
           tensor(f32_shape + R"(,"data_offsets":[18446744073709551608,18446744073709551615])"), 8),
       "tensor \"t\": data_offsets [18446744073709551608, 18446744073709551615] run past the end"},
      {"data_offsets with one element", file_with(tensor(f32_shape + R"(,"data_offsets":[8])"), 8),
       "tensor \"t\": data_offsets must have exactly 2 elements, found 1"},
      {"data_offsets with three elements",
       file_with(tensor(f32_shape + R"(,"data_offsets":[0,8,8])"), 8),
       "tensor \"t\": data_offsets must have exactly 2 elements, found more"},
      {"data_offsets negative", file_with(tensor(f32_shape + R"(,"data_offsets":[-8,0])"), 8),
       "tensor \"t\": data_offsets element -8 is negative"},
      {"data_offsets an object", file_with(tensor(f32_shape + R"(,"data_offsets":{"0":8})"), 8),
       "tensor \"t\": data_offsets is a JSON object, expected an array of 2 non-negative integers"},
      {"data_offsets not matching dtype × shape",
       file_with(tensor(R"("dtype":"F32","shape":[3],"data_offsets":[0,8])"), 8),
       "tensor \"t\": data_offsets [0, 8] do not match dtype F32 × shape [3] = 12 bytes"},
      {"overlapping tensors",
       file_with(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                 R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                 12),
       "tensor \"b\": data_offsets [4, 12] overlap tensor \"a\" at [0, 8]"},
      {"two tensors at the same offsets",
       file_with(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                 R"("b":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}})",
                 8),
       "tensor \"b\": data_offsets [0, 8] overlap tensor \"a\" at [0, 8]"},
      {"zero-size tensor inside another",
       file_with(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                 R"("z":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}})",
                 8),
       "tensor \"z\": data_offsets [4, 4] overlap tensor \"a\" at [0, 8]"},
      {"a hole between tensors",
       file_with(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                 R"("b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})",
                 20),
       "data section bytes [8, 12) belong to no tensor (a hole before tensor \"b\")"},
      {"a hole at the start", file_with(tensor(f32_shape + R"(,"data_offsets":[4,12])"), 12),
       "data section bytes [0, 4) belong to no tensor (a hole before tensor \"t\")"},
      {"trailing garbage after the last tensor", file_with("{" + t + "}", 12),
       "data section bytes [8, 12) belong to no tensor (trailing bytes after the last tensor)"},
      {"data but no tensors", file_with("{}", 4),
       "data section bytes [0, 4) belong to no tensor (the header lists no tensors)"},
  };
}

}  // namespace typeformer_test
