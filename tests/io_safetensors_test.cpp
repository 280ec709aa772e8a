// io/: safetensors reading and writing, the F16/BF16 conversions, and a table of hostile files
// built byte by byte, each of which must be refused with a format_error naming the problem.

#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <typeformer/io/safetensors.hpp>

#include "hostile_safetensors.hpp"
#include "scratch_directory.hpp"

namespace tfm = typeformer;
namespace io = typeformer::io;
using Catch::Matchers::Contains;

namespace {

using namespace typeformer_test;

// The message of the format_error that reading `file` throws; fails the test if none is thrown.
std::string format_error_of(const bytes& file, std::string source = "hostile.safetensors") {
  try {
    (void)io::safetensors_file::from_bytes(file, std::move(source));
  } catch (const tfm::format_error& e) {
    return e.what();
  }
  FAIL("no format_error was thrown");
  return {};
}

template <class Call>
std::string format_error_from(Call call) {
  try {
    call();
  } catch (const tfm::format_error& e) {
    return e.what();
  }
  FAIL("no format_error was thrown");
  return {};
}

std::vector<std::uint8_t> as_u8(std::span<const std::byte> data) {
  std::vector<std::uint8_t> out;
  for (const std::byte b : data) out.push_back(std::to_integer<std::uint8_t>(b));
  return out;
}

// A value of a finite F16 pattern, computed independently of f16_to_float.
double f16_reference_value(std::uint16_t bits) {
  const int exponent = (bits >> 10) & 0x1F;
  const int mantissa = bits & 0x3FF;
  const double magnitude =
      exponent == 0 ? std::ldexp(mantissa, -24) : std::ldexp(1024 + mantissa, exponent - 25);
  return (bits & 0x8000) ? -magnitude : magnitude;
}

// Round-to-nearest-even to F16 by search: the nearest of the two neighbouring patterns.
std::uint16_t f16_reference_rounding(float x) {
  const auto sign = static_cast<std::uint16_t>(std::signbit(x) ? 0x8000 : 0);
  const double a = std::fabs(double{x});
  if (a >= 65520.0) return static_cast<std::uint16_t>(sign | 0x7C00);
  std::uint16_t low = 0, high = 0x7BFF;
  while (low < high) {
    const auto mid = static_cast<std::uint16_t>((low + high + 1) / 2);
    if (f16_reference_value(mid) <= a) {
      low = mid;
    } else {
      high = static_cast<std::uint16_t>(mid - 1);
    }
  }
  const double below = f16_reference_value(low);
  const double above =
      low == 0x7BFF ? 65536.0 : f16_reference_value(static_cast<std::uint16_t>(low + 1));
  std::uint16_t nearest = low;
  if (a - below > above - a || (a - below == above - a && (low & 1) != 0))
    nearest = static_cast<std::uint16_t>(low + 1);
  return static_cast<std::uint16_t>(sign | nearest);
}

// Round-to-nearest-even to BF16: truncation gives the pattern below, one more the one above.
std::uint16_t bf16_reference_rounding(float x) {
  const auto bits = std::bit_cast<std::uint32_t>(x);
  const auto sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000u);
  const auto low = static_cast<std::uint16_t>((bits & 0x7FFFFFFFu) >> 16);
  const double a = std::fabs(double{x});
  const double below = std::bit_cast<float>(std::uint32_t{low} << 16);
  const double above = low == 0x7F7F ? std::ldexp(1.0, 128)
                                     : double{std::bit_cast<float>(std::uint32_t{low + 1u} << 16)};
  std::uint16_t nearest = low;
  if (a - below > above - a || (a - below == above - a && (low & 1) != 0))
    nearest = static_cast<std::uint16_t>(low + 1);
  return static_cast<std::uint16_t>(sign | nearest);
}

}  // namespace

// --- dtypes ----------------------------------------------------------------------------------

TEST_CASE("dtype: spelling, size and parsing") {
  STATIC_REQUIRE(io::dtype_name(io::dtype::bf16) == "BF16");
  STATIC_REQUIRE(io::element_size(io::dtype::f64) == 8);
  STATIC_REQUIRE(io::parse_dtype("BOOL") == io::dtype::boolean);
  STATIC_REQUIRE(!io::parse_dtype("f32").has_value());
  const std::vector<std::pair<std::string_view, std::size_t>> expected = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"I16", 2},  {"U16", 2}, {"I32", 4}, {"U32", 4},
      {"I64", 8},  {"U64", 8}, {"F16", 2}, {"BF16", 2}, {"F32", 4}, {"F64", 8}};
  REQUIRE(io::all_dtypes.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const io::dtype type = io::all_dtypes[i];
    CHECK(io::dtype_name(type) == expected[i].first);
    CHECK(io::element_size(type) == expected[i].second);
    CHECK(io::parse_dtype(expected[i].first) == type);
  }
  for (const std::string_view unknown : {"", "F8_E4M3", "F8_E5M2", "float32", "F32 ", "I4"})
    CHECK(!io::parse_dtype(unknown).has_value());
}

// --- F16 and BF16 --------------------------------------------------------------------------

TEST_CASE("half: known F16 and BF16 bit patterns convert exactly") {
  STATIC_REQUIRE(io::f16_to_float(0x3C00) == 1.0f);
  STATIC_REQUIRE(io::float_to_f16(-2.5f) == 0xC100);
  STATIC_REQUIRE(io::bf16_to_float(0x3F80) == 1.0f);
  STATIC_REQUIRE(io::float_to_bf16(-2.5f) == 0xC020);

  struct known {
    std::uint16_t bits;
    float value;
  };
  for (const known k : {known{0x3C00, 1.0f}, known{0xC100, -2.5f}, known{0x7BFF, 65504.0f},
                        known{0x0001, std::ldexp(1.0f, -24)},     // smallest subnormal
                        known{0x03FF, std::ldexp(1023.0f, -24)},  // largest subnormal
                        known{0x0400, std::ldexp(1.0f, -14)},     // smallest normal
                        known{0x0000, 0.0f}, known{0x3555, 0.333251953125f},
                        known{0x7C00, std::numeric_limits<float>::infinity()},
                        known{0xFC00, -std::numeric_limits<float>::infinity()}}) {
    CAPTURE(k.bits, k.value);
    CHECK(io::f16_to_float(k.bits) == k.value);
    CHECK(io::float_to_f16(k.value) == k.bits);
  }
  CHECK(std::bit_cast<std::uint32_t>(io::f16_to_float(0x8000)) == 0x80000000u);  // -0
  CHECK(io::float_to_f16(-0.0f) == 0x8000);
  CHECK(std::isnan(io::f16_to_float(0x7E00)));
  CHECK(std::isnan(io::f16_to_float(0x7C01)));  // signalling NaN stays NaN
  CHECK(std::isnan(io::f16_to_float(0xFE00)));

  for (const known k : {known{0x3F80, 1.0f}, known{0xC020, -2.5f},
                        known{0x0001, std::ldexp(1.0f, -133)},   // smallest subnormal
                        known{0x0080, std::ldexp(1.0f, -126)},   // smallest normal
                        known{0x7F7F, std::ldexp(255.0f, 120)},  // largest finite
                        known{0x7F80, std::numeric_limits<float>::infinity()},
                        known{0xFF80, -std::numeric_limits<float>::infinity()}}) {
    CAPTURE(k.bits, k.value);
    CHECK(io::bf16_to_float(k.bits) == k.value);
    CHECK(io::float_to_bf16(k.value) == k.bits);
  }
  CHECK(std::isnan(io::bf16_to_float(0x7FC0)));
  CHECK(std::isnan(io::bf16_to_float(0x7F81)));
}

TEST_CASE("half: float to F16 and BF16 rounds to nearest, ties to even") {
  // 1 + 2^-11 is halfway between 1 (even) and 1 + 2^-10; 1 + 3·2^-11 between odd and even.
  CHECK(io::float_to_f16(1.0f + std::ldexp(1.0f, -11)) == 0x3C00);
  CHECK(io::float_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)) == 0x3C02);
  CHECK(io::float_to_f16(std::nextafter(1.0f + std::ldexp(1.0f, -11), 2.0f)) == 0x3C01);
  CHECK(io::float_to_f16(65519.0f) == 0x7BFF);
  CHECK(io::float_to_f16(65520.0f) == 0x7C00);  // halfway to 2^16, 65504 is odd: infinity
  CHECK(io::float_to_f16(-1e9f) == 0xFC00);
  CHECK(io::float_to_f16(std::ldexp(1.0f, -25)) == 0x0000);  // halfway to the smallest subnormal
  CHECK(io::float_to_f16(std::nextafter(std::ldexp(1.0f, -25), 1.0f)) == 0x0001);
  CHECK(io::float_to_f16(3 * std::ldexp(1.0f, -25)) == 0x0002);  // 1.5 units: to even 2
  CHECK(io::float_to_f16(5 * std::ldexp(1.0f, -25)) == 0x0002);  // 2.5 units: to even 2
  CHECK(io::float_to_f16(std::ldexp(1.0f, -30)) == 0x0000);
  CHECK(io::float_to_f16(-std::ldexp(1.0f, -30)) == 0x8000);
  CHECK(io::float_to_f16(std::numeric_limits<float>::denorm_min()) == 0x0000);
  CHECK(io::float_to_f16(std::ldexp(2047.0f, -25)) == 0x0400);  // rounds up into the normals

  CHECK(io::float_to_bf16(std::bit_cast<float>(0x3F808000u)) == 0x3F80);  // tie, even below
  CHECK(io::float_to_bf16(std::bit_cast<float>(0x3F818000u)) == 0x3F82);  // tie, even above
  CHECK(io::float_to_bf16(std::bit_cast<float>(0x3F808001u)) == 0x3F81);
  CHECK(io::float_to_bf16(std::numeric_limits<float>::max()) == 0x7F80);  // rounds to infinity

  // NaN stays NaN (quieted, sign kept), even when its payload lies only in dropped bits.
  const float quiet_nan = std::numeric_limits<float>::quiet_NaN();
  const float low_payload_nan = std::bit_cast<float>(0x7F800001u);
  CHECK(io::float_to_f16(quiet_nan) == 0x7E00);
  CHECK(io::float_to_f16(low_payload_nan) == 0x7E00);
  CHECK(io::float_to_f16(-quiet_nan) == 0xFE00);
  CHECK(io::float_to_bf16(quiet_nan) == 0x7FC0);
  CHECK(io::float_to_bf16(low_payload_nan) == 0x7FC0);
  CHECK(io::float_to_bf16(-quiet_nan) == 0xFFC0);
}

TEST_CASE("half: every F16 and BF16 pattern widens exactly and narrows back to itself") {
  for (std::uint32_t b = 0; b <= 0xFFFF; ++b) {
    const auto bits = static_cast<std::uint16_t>(b);
    const bool f16_nan = (bits & 0x7C00) == 0x7C00 && (bits & 0x3FF) != 0;
    const bool f16_inf = (bits & 0x7FFF) == 0x7C00;
    const float f16 = io::f16_to_float(bits);
    if (f16_nan) {
      if (!std::isnan(f16) || !std::isnan(io::f16_to_float(io::float_to_f16(f16)))) FAIL(bits);
    } else {
      if (!f16_inf && double{f16} != f16_reference_value(bits)) FAIL(bits);
      if (io::float_to_f16(f16) != bits) FAIL(bits);
    }
    const float bf16 = io::bf16_to_float(bits);
    if (std::isnan(bf16)) {
      if (!std::isnan(io::bf16_to_float(io::float_to_bf16(bf16)))) FAIL(bits);
    } else if (io::float_to_bf16(bf16) != bits) {
      FAIL(bits);
    }
  }
}

TEST_CASE("half: narrowing agrees with a search for the nearest pattern") {
  // Every midpoint between neighbouring F16 values and the floats either side of it.
  for (std::uint16_t k = 0; k < 0x7BFF; ++k) {
    const auto midpoint = static_cast<float>(
        (f16_reference_value(k) + f16_reference_value(static_cast<std::uint16_t>(k + 1))) / 2);
    for (const float x :
         {midpoint, std::nextafter(midpoint, 0.0f), std::nextafter(midpoint, 1e9f), -midpoint}) {
      if (io::float_to_f16(x) != f16_reference_rounding(x)) FAIL(x);
    }
  }
  for (std::uint32_t k = 0; k < 0x7F80; ++k) {
    const float midpoint = std::bit_cast<float>((k << 16) | 0x8000u);
    for (const float x : {midpoint, std::nextafter(midpoint, 0.0f), -midpoint}) {
      if (io::float_to_bf16(x) != bf16_reference_rounding(x)) FAIL(x);
    }
  }
  // A stride through all finite floats.
  for (std::uint64_t b = 0; b < 0x100000000u; b += 65521) {
    const float x = std::bit_cast<float>(static_cast<std::uint32_t>(b));
    if (!std::isfinite(x)) continue;
    if (io::float_to_f16(x) != f16_reference_rounding(x)) FAIL(x);
    if (io::float_to_bf16(x) != bf16_reference_rounding(x)) FAIL(x);
  }
}

// --- round trips through the writer -------------------------------------------------------

TEST_CASE("safetensors: floats round-trip as F32, F64, F16 and BF16") {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> values = {1.0f, -2.5f, 0.0f, -0.0f, 65504.0f, std::ldexp(1.0f, -24),
                                     inf,  -inf,  0.1f, 3e38f, 1e-40f,   -7.75f};
  io::safetensors_writer writer;
  writer.add_floats("as_f32", {3, 4}, values);
  writer.add_floats("as_f64", {12}, values, io::dtype::f64);
  writer.add_floats("as_f16", {2, 6}, values, io::dtype::f16);
  writer.add_floats("as_bf16", {4, 3}, values, io::dtype::bf16);
  writer.add_floats("with_nan", {1}, std::vector<float>{std::numeric_limits<float>::quiet_NaN()});
  const auto file = io::safetensors_file::from_bytes(writer.to_bytes());

  const auto bits_equal = [](const std::vector<float>& a, const std::vector<float>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (std::bit_cast<std::uint32_t>(a[i]) != std::bit_cast<std::uint32_t>(b[i])) return false;
    return true;
  };
  CHECK(bits_equal(file.read_floats("as_f32"), values));
  CHECK(bits_equal(file.read_floats("as_f64"), values));
  std::vector<float> via_f16, via_bf16;
  for (const float v : values) {
    via_f16.push_back(io::f16_to_float(io::float_to_f16(v)));
    via_bf16.push_back(io::bf16_to_float(io::float_to_bf16(v)));
  }
  CHECK(bits_equal(file.read_floats("as_f16"), via_f16));
  CHECK(bits_equal(file.read_floats("as_bf16"), via_bf16));
  CHECK(std::isnan(file.read_floats("with_nan").at(0)));

  const io::tensor_info* f16 = file.find("as_f16");
  REQUIRE(f16);
  CHECK(f16->type == io::dtype::f16);
  CHECK(f16->shape == std::vector<std::int64_t>{2, 6});
  CHECK(f16->element_count() == 12);
  CHECK(f16->end - f16->begin == 24);
  // Little-endian F16 patterns: 1.0 = 0x3C00, -2.5 = 0xC100.
  const auto stored = as_u8(file.raw_bytes("as_f16"));
  CHECK(std::vector<std::uint8_t>(stored.begin(), stored.begin() + 4) ==
        std::vector<std::uint8_t>{0x00, 0x3C, 0x00, 0xC1});
}

TEST_CASE("safetensors: F64 narrows to the nearest float, and beyond float's range to infinity") {
  const std::vector<double> values = {0.1,   1e300, -1e300, 0x1.fffffefffffffp127, 0x1.ffffffp127,
                                      1e-50, -0.0};
  bytes data;
  for (const double v : values) {
    std::byte le[8];
    io::store_little_endian(std::bit_cast<std::uint64_t>(v), le);
    data.insert(data.end(), le, le + 8);
  }
  io::safetensors_writer writer;
  writer.add("d", io::dtype::f64, {7}, data);
  const auto read = io::safetensors_file::from_bytes(writer.to_bytes()).read_floats("d");
  const float inf = std::numeric_limits<float>::infinity();
  CHECK(read[0] == 0.1f);
  CHECK(read[1] == inf);
  CHECK(read[2] == -inf);
  CHECK(read[3] == std::numeric_limits<float>::max());
  CHECK(read[4] == inf);
  CHECK(read[5] == 0.0f);
  CHECK(std::signbit(read[6]));
}

TEST_CASE("safetensors: the writer's header is compact JSON, as Python's json.dumps writes it") {
  // Expected text: json.dumps(header, separators=(",", ":"), ensure_ascii=False) in Python 3.11,
  // which escapes as the safetensors reference (serde_json) does: \" \\ \n \t, other controls
  // as \u00XX, UTF-8 and DEL as they are.
  io::safetensors_writer writer;
  writer.set_metadata("format", "pt");
  writer.set_metadata("k\t", "v\"\\");
  writer.add_floats("a\"b\\c\n\x01\xc3\xa9\x7f", {2}, std::vector<float>{1, 2});
  writer.add_integers("x", {}, std::vector<std::int64_t>{7}, io::dtype::i64);
  const bytes file = writer.to_bytes();
  std::uint64_t length = 0;
  for (int i = 7; i >= 0; --i) length = length << 8 | std::to_integer<std::uint64_t>(file[i]);
  std::string header(reinterpret_cast<const char*>(file.data()) + 8, length);
  CHECK(header.size() % 8 == 0);
  while (!header.empty() && header.back() == ' ') header.pop_back();
  CHECK(header == std::string(R"({"__metadata__":{"format":"pt","k\t":"v\"\\"},"a\"b\\c\n\u0001)") +
                      "\xc3\xa9\x7f" +
                      R"(":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                      R"("x":{"dtype":"I64","shape":[],"data_offsets":[8,16]}})");
  const auto read = io::safetensors_file::from_bytes(file);
  CHECK(read.find("a\"b\\c\n\x01\xc3\xa9\x7f"));
  CHECK(read.metadata().at("k\t") == "v\"\\");
}

TEST_CASE("safetensors: integers round-trip through every integer dtype") {
  struct row {
    io::dtype type;
    std::vector<std::int64_t> values;
  };
  const std::int64_t i64_min = std::numeric_limits<std::int64_t>::min();
  const std::int64_t i64_max = std::numeric_limits<std::int64_t>::max();
  const std::vector<row> rows = {
      {io::dtype::boolean, {0, 1, 1, 0}},
      {io::dtype::u8, {0, 1, 255, 128}},
      {io::dtype::i8, {-128, 127, -1, 0}},
      {io::dtype::u16, {0, 65535, 256, 1}},
      {io::dtype::i16, {-32768, 32767, -2, 0}},
      {io::dtype::u32, {0, 4294967295, 65536, 7}},
      {io::dtype::i32, {-2147483648LL, 2147483647, -7, 0}},
      {io::dtype::u64, {0, i64_max, 1, 2}},
      {io::dtype::i64, {i64_min, i64_max, -1, 0}},
  };
  io::safetensors_writer writer;
  for (const row& r : rows)
    writer.add_integers(std::string(io::dtype_name(r.type)), {2, 2}, r.values, r.type);
  const auto file = io::safetensors_file::from_bytes(writer.to_bytes());
  for (const row& r : rows) {
    const std::string name(io::dtype_name(r.type));
    CAPTURE(name);
    CHECK(file.find(name)->type == r.type);
    CHECK(file.read_integers(name) == r.values);
  }
  // Stored two's complement, little-endian: I16 -2 is FE FF.
  CHECK(as_u8(file.raw_bytes("I16"))[4] == 0xFE);
  CHECK(as_u8(file.raw_bytes("I16"))[5] == 0xFF);
}

TEST_CASE("safetensors: zero-size tensors, scalars and a file with no tensors") {
  io::safetensors_writer writer;
  writer.add_floats("empty_rows", {0, 4}, std::span<const float>{});
  writer.add_floats("scalar", {}, std::vector<float>{42.0f});
  writer.add_integers("empty_cols", {3, 0}, std::span<const std::int64_t>{}, io::dtype::i64);
  writer.add_floats("after", {2}, std::vector<float>{1, 2}, io::dtype::bf16);
  const auto file = io::safetensors_file::from_bytes(writer.to_bytes());
  REQUIRE(file.tensors().size() == 4);
  CHECK(file.find("empty_rows")->element_count() == 0);
  CHECK(file.read_floats("empty_rows").empty());
  CHECK(file.read_integers("empty_cols").empty());
  CHECK(file.raw_bytes("empty_cols").empty());
  CHECK(file.find("scalar")->shape.empty());
  CHECK(file.find("scalar")->element_count() == 1);
  CHECK(file.read_floats("scalar") == std::vector<float>{42.0f});
  CHECK(file.read_floats("after") == std::vector<float>{1, 2});

  const bytes nothing = io::safetensors_writer{}.to_bytes();
  CHECK(nothing == length_prefix(8) + text_bytes("{}      "));
  const auto empty = io::safetensors_file::from_bytes(nothing);
  CHECK(empty.tensors().empty());
  CHECK(empty.metadata().empty());
  CHECK(!empty.contains(""));
}

TEST_CASE("safetensors: metadata round-trips; a key set twice keeps the last value") {
  io::safetensors_writer writer;
  writer.set_metadata("format", "pt");
  writer.set_metadata("config", R"({"heads": 8, "note": "quotes \" and \\ survive"})");
  writer.set_metadata("unicode", "d\u00e9j\u00e0 vu \u2014 \U0001F600");
  writer.set_metadata("format", "np");
  writer.set_metadata("", "");
  writer.add_floats("w", {1}, std::vector<float>{1});
  const bytes data = writer.to_bytes();
  const auto file = io::safetensors_file::from_bytes(data);
  const std::map<std::string, std::string> expected = {
      {"", ""},
      {"config", R"({"heads": 8, "note": "quotes \" and \\ survive"})"},
      {"format", "np"},
      {"unicode", "d\u00e9j\u00e0 vu \u2014 \U0001F600"}};
  CHECK(file.metadata() == expected);
  // `__metadata__` comes first in the header.
  const bytes start(data.begin() + 8, data.begin() + 24);
  CHECK(start == text_bytes(R"({"__metadata__":)"));
}

TEST_CASE(
    "safetensors: the writer's layout: 8-aligned header padded with spaces, insertion order") {
  io::safetensors_writer writer;
  writer.add_floats("z.first", {3}, std::vector<float>{1, 2, 3});
  writer.add_integers("a.second", {1}, std::vector<std::int64_t>{5}, io::dtype::u8);
  writer.add_floats("m.third", {2}, std::vector<float>{4, 5}, io::dtype::f64);
  const bytes data = writer.to_bytes();
  const auto header_length = io::load_little_endian<std::uint64_t>(data.data());
  CHECK(header_length % 8 == 0);
  CHECK(data.size() == 8 + header_length + 12 + 1 + 16);
  const auto header = as_u8(std::span(data).subspan(8, header_length));
  std::size_t json_end = header.size();
  while (json_end > 0 && header[json_end - 1] == ' ') --json_end;
  CHECK(header[json_end - 1] == '}');
  CHECK(header.size() - json_end < 8);

  const auto file = io::safetensors_file::from_bytes(data);
  std::vector<std::string> names;
  for (const auto& t : file.tensors()) names.push_back(t.name);
  CHECK(names == std::vector<std::string>{"z.first", "a.second", "m.third"});
  CHECK(file.find("a.second")->begin == 12);
  CHECK(file.find("m.third")->end == 29);
}

TEST_CASE("safetensors: write() and open() round-trip through a file; I/O failures name the path") {
  const auto dir = std::filesystem::temp_directory_path() / "typeformer_io_safetensors_test";
  std::filesystem::create_directories(dir);
  const auto path = dir / "roundtrip.safetensors";
  io::safetensors_writer writer;
  writer.set_metadata("case", "file");
  writer.add_floats("w", {2, 2}, std::vector<float>{1, 2, 3, 4}, io::dtype::f16);
  writer.write(path);
  const auto file = io::safetensors_file::open(path);
  CHECK(file.source() == path.string());
  CHECK(file.read_floats("w") == std::vector<float>{1, 2, 3, 4});
  CHECK(file.metadata().at("case") == "file");

  const auto missing = dir / "does_not_exist.safetensors";
  const std::string not_found =
      format_error_from([&] { (void)io::safetensors_file::open(missing); });
  CHECK_THAT(not_found, Contains(missing.string()) && Contains("no such file"));
  const std::string directory = format_error_from([&] { (void)io::safetensors_file::open(dir); });
  CHECK_THAT(directory, Contains("is a directory"));
  const auto unwritable = dir / "no_such_dir" / "x.safetensors";
  const std::string write_failure = format_error_from([&] { writer.write(unwritable); });
  CHECK_THAT(write_failure,
             Contains(unwritable.string()) && Contains("cannot open the file for writing"));
  // A malformed file on disk names its path.
  {
    io::safetensors_writer{}.write(path);
    const std::string truncated = path.string();
    std::filesystem::resize_file(path, 7);
    CHECK_THAT(format_error_from([&] { (void)io::safetensors_file::open(path); }),
               Contains("safetensors \"" + truncated + "\": file is 7 bytes"));
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("safetensors: the writer refuses inconsistent tensors") {
  io::safetensors_writer writer;
  writer.add_floats("w", {2}, std::vector<float>{1, 2});
  const std::vector<float> two = {1, 2};
  const std::vector<std::int64_t> one = {1};
  CHECK_THAT(format_error_from([&] { writer.add_floats("w", {2}, two); }),
             Contains("tensor \"w\": a tensor of that name was already added"));
  CHECK_THAT(format_error_from([&] { writer.add_floats("__metadata__", {2}, two); }),
             Contains("reserved"));
  CHECK_THAT(format_error_from([&] {
               writer.add("b", io::dtype::f32, {5, 6}, bytes(100));
             }),
             Contains("tensor \"b\": 100 bytes given, dtype F32 × shape [5, 6] needs 120"));
  CHECK_THAT(format_error_from([&] { writer.add_floats("c", {3}, two); }),
             Contains("2 values given, shape [3] has 3 elements"));
  CHECK_THAT(format_error_from([&] {
               writer.add_floats("d", {-1, 2}, two);
             }),
             Contains("negative extent"));
  CHECK_THAT(format_error_from([&] {
               writer.add_floats("e", {std::int64_t{1} << 62, std::int64_t{1} << 62}, two);
             }),
             Contains("overflows"));
  CHECK_THAT(format_error_from([&] { writer.add_floats("f", {2}, two, io::dtype::i32); }),
             Contains("add_floats stores F32, F64, F16 or BF16, not I32"));
  CHECK_THAT(format_error_from([&] { writer.add_integers("g", {1}, one, io::dtype::f32); }),
             Contains("not F32"));
  const std::vector<std::pair<std::int64_t, io::dtype>> out_of_range = {
      {300, io::dtype::u8},
      {-129, io::dtype::i8},
      {-1, io::dtype::u64},
      {2, io::dtype::boolean},
      {std::int64_t{1} << 40, io::dtype::i32}};
  for (const auto& row : out_of_range) {
    const std::int64_t value = row.first;
    const io::dtype type = row.second;
    const std::vector<std::int64_t> values = {value};
    CHECK_THAT(format_error_from([&] { writer.add_integers("h", {1}, values, type); }),
               Contains("value " + std::to_string(value) + " at index 0 does not fit " +
                        std::string(io::dtype_name(type))));
  }
  // Nothing refused was added.
  CHECK(io::safetensors_file::from_bytes(writer.to_bytes()).tensors().size() == 1);

  io::safetensors_writer bad_utf8;
  bad_utf8.add_floats("\xff", {1}, std::vector<float>{1});
  CHECK_THAT(format_error_from([&] { (void)bad_utf8.to_bytes(); }), Contains("not valid UTF-8"));
}

// --- reading -----------------------------------------------------------------------------

TEST_CASE("safetensors: a hand-built file with misaligned data reads correctly") {
  // Header length 117 (odd): every tensor starts at an odd address in the buffer.
  std::string header = R"({"f32":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                       R"("i32":{"dtype":"I32","shape":[1],"data_offsets":[8,12]},)"
                       R"("f64":{"dtype":"F64","shape":[1],"data_offsets":[12,20]}})";
  if (header.size() % 2 == 0) header += ' ';
  REQUIRE(header.size() % 8 != 0);
  const bytes data = {// 1.5f, -2.25f
                      std::byte{0x00}, std::byte{0x00}, std::byte{0xC0}, std::byte{0x3F},
                      std::byte{0x00}, std::byte{0x00}, std::byte{0x10}, std::byte{0xC0},
                      // -7
                      std::byte{0xF9}, std::byte{0xFF}, std::byte{0xFF}, std::byte{0xFF},
                      // 3.0
                      std::byte{0x00}, std::byte{0x00}, std::byte{0x00}, std::byte{0x00},
                      std::byte{0x00}, std::byte{0x00}, std::byte{0x08}, std::byte{0x40}};
  const bytes file_bytes = length_prefix(header.size()) + text_bytes(header) + data;
  // Also from a span that itself starts one byte into a buffer.
  const bytes shifted = bytes{std::byte{0}} + file_bytes;
  for (const auto& file :
       {io::safetensors_file::from_bytes(file_bytes, "aligned"),
        io::safetensors_file::from_bytes(std::span(shifted).subspan(1), "shifted")}) {
    CHECK(file.read_floats("f32") == std::vector<float>{1.5f, -2.25f});
    CHECK(file.read_integers("i32") == std::vector<std::int64_t>{-7});
    CHECK(file.read_floats("f64") == std::vector<float>{3.0f});
    CHECK(file.tensors().size() == 3);
  }
}

TEST_CASE("safetensors: valid layouts the reader accepts") {
  SECTION("an empty header object and no data") {
    CHECK(io::safetensors_file::from_bytes(file_with("{}")).tensors().empty());
  }
  SECTION("JSON whitespace inside and after the object") {
    const auto file = io::safetensors_file::from_bytes(file_with(
        "{ \n\t\"t\" : { \"dtype\" : \"U8\" , \"shape\" : [ 2 ] , \"data_offsets\" : [ 0 , 2 ] } "
        "}\r\n\t   ",
        2));
    CHECK(file.find("t")->shape == std::vector<std::int64_t>{2});
  }
  SECTION("entries out of offset order; tensors() lists them by offset") {
    const auto file = io::safetensors_file::from_bytes(
        file_with(R"({"b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]},)"
                  R"("__metadata__":{"k":"v"},)"
                  R"("a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})",
                  2));
    REQUIRE(file.tensors().size() == 2);
    CHECK(file.tensors()[0].name == "a");
    CHECK(file.tensors()[1].name == "b");
    CHECK(file.metadata().at("k") == "v");
  }
  SECTION("zero-size tensors sharing offsets with their neighbours") {
    const auto file = io::safetensors_file::from_bytes(
        file_with(R"({"end":{"dtype":"F32","shape":[0,3],"data_offsets":[8,8]},)"
                  R"("start":{"dtype":"I64","shape":[0],"data_offsets":[0,0]},)"
                  R"("data":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                  R"("also_end":{"dtype":"BF16","shape":[3,0],"data_offsets":[8,8]}})",
                  8));
    std::vector<std::string> names;
    for (const auto& t : file.tensors()) names.push_back(t.name);
    CHECK(names == std::vector<std::string>{"start", "data", "also_end", "end"});
    CHECK(file.read_floats("end").empty());
  }
  SECTION("escaped and non-ASCII names") {
    const auto file = io::safetensors_file::from_bytes(
        file_with(R"({"a\"b\u00e9":{"dtype":"BOOL","shape":[],"data_offsets":[0,1]}})", 1));
    CHECK(file.contains("a\"b\u00e9"));
  }
  SECTION("a zero extent after a huge one (no overflow: the product stays small)") {
    const auto file = io::safetensors_file::from_bytes(
        file_with(R"({"t":{"dtype":"U8","shape":[0,9223372036854775807],"data_offsets":[0,0]}})"));
    CHECK(file.find("t")->element_count() == 0);
  }
}

TEST_CASE("safetensors: hostile files are refused with a format_error naming the problem") {
  for (const hostile_file& row : hostile_files()) {
    CAPTURE(row.what);
    const std::string message = format_error_of(row.file);
    CHECK_THAT(message, Contains(row.message));
    CHECK_THAT(message, Contains("safetensors \"hostile.safetensors\": "));
  }
}

TEST_CASE("safetensors: a format error names the source, the tensor and the field") {
  const std::string header = R"({"q.weight":{"dtype":"F32","shape":[5,6],"data_offsets":[0,100]}})";
  CHECK(format_error_of(file_with(header, 100), "model.safetensors") ==
        "safetensors \"model.safetensors\": tensor \"q.weight\": data_offsets [0, 100] do not "
        "match dtype F32 × shape [5, 6] = 120 bytes");
  // A hostile name is escaped and cut, not copied into the message whole.
  const std::string long_name(10'000, 'x');
  const std::string long_message = format_error_of(
      file_with("{\"" + long_name + R"(":{"dtype":"F8","shape":[],"data_offsets":[0,1]}})", 1));
  CHECK_THAT(long_message, Contains("...\": unknown dtype \"F8\""));
  CHECK(long_message.size() < 400);
  const std::string control_message = format_error_of(
      file_with(R"({"a\nb\u0000":{"dtype":"X","shape":[],"data_offsets":[0,1]}})", 1));
  CHECK_THAT(control_message, Contains(R"(tensor "a\x0ab\x00": unknown dtype "X")"));
}

TEST_CASE("safetensors: reading a tensor as the wrong kind, or a missing one, is a format_error") {
  io::safetensors_writer writer;
  writer.add_integers("ids", {2}, std::vector<std::int64_t>{1, 2}, io::dtype::i32);
  writer.add_floats("w", {2}, std::vector<float>{1, 2});
  bytes big(8);
  io::store_little_endian(std::uint64_t{1} << 63, big.data());
  writer.add("big", io::dtype::u64, {1}, big);
  writer.add("flag", io::dtype::boolean, {2}, bytes{std::byte{1}, std::byte{2}});
  const auto file = io::safetensors_file::from_bytes(writer.to_bytes(), "weights.safetensors");

  CHECK_THAT(format_error_from([&] { (void)file.read_floats("ids"); }),
             Contains("safetensors \"weights.safetensors\": tensor \"ids\" has dtype I32, expected "
                      "a floating dtype (F32, F16, BF16, F64)"));
  CHECK_THAT(format_error_from([&] { (void)file.read_integers("w"); }),
             Contains("tensor \"w\" has dtype F32, expected an integer dtype"));
  CHECK_THAT(format_error_from([&] { (void)file.read_integers("big"); }),
             Contains("tensor \"big\": U64 element 0 is 9223372036854775808, above INT64_MAX"));
  CHECK_THAT(format_error_from([&] { (void)file.read_integers("flag"); }),
             Contains("tensor \"flag\": BOOL element 1 is 2, expected 0 or 1"));
  for (const auto& read : {std::function<void()>([&] { (void)file.read_floats("nope"); }),
                           std::function<void()>([&] { (void)file.read_integers("nope"); }),
                           std::function<void()>([&] { (void)file.raw_bytes("nope"); })}) {
    CHECK_THAT(format_error_from(read),
               Contains("safetensors \"weights.safetensors\": no tensor \"nope\""));
  }
  CHECK(file.find("nope") == nullptr);
  CHECK(!file.contains("nope"));
  CHECK(file.contains("ids"));
  CHECK(file.raw_bytes("big").size() == 8);
}

TEST_CASE(
    "safetensors: only a regular file is read: devices, FIFOs, sockets, directories are refused") {
  const scratch_directory dir("typeformer-regular-files");
  const auto fifo = dir / "fifo.safetensors";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  // A UNIX socket bound to a path: open() fails with ENXIO.
  const auto socket_path = dir / "socket.safetensors";
  const int sock = ::socket(AF_UNIX, SOCK_STREAM, 0);
  REQUIRE(sock >= 0);
  ::sockaddr_un address{};
  address.sun_family = AF_UNIX;
  REQUIRE(socket_path.string().size() < sizeof address.sun_path);
  std::copy_n(socket_path.c_str(), socket_path.string().size(), address.sun_path);
  REQUIRE(::bind(sock, reinterpret_cast<const ::sockaddr*>(&address), sizeof address) == 0);
  const auto opened = [](const std::filesystem::path& p) {
    return format_error_from([&] { (void)io::safetensors_file::open(p); });
  };
  // Each would otherwise read until memory runs out (/dev/zero, /dev/urandom) or block in
  // open() forever (the FIFO, which has no writer).
  CHECK(opened("/dev/zero") ==
        "safetensors \"/dev/zero\": is a character device, not a regular file");
  CHECK_THAT(opened("/dev/urandom"), Contains("is a character device, not a regular file"));
  CHECK_THAT(opened(fifo), Contains("is a FIFO (named pipe), not a regular file"));
  CHECK_THAT(opened(socket_path), Contains("not a regular file"));
  CHECK_THAT(opened(dir.path()), Contains("is a directory, not a regular file"));
  ::close(sock);
  // Through a symbolic link the user named, the same rules hold for the file it leads to.
  std::filesystem::create_symlink("/dev/zero", dir / "zero.safetensors");
  CHECK_THAT(opened(dir / "zero.safetensors"), Contains("is a character device"));
  io::safetensors_writer writer;
  writer.add_floats("w", {2}, std::vector<float>{1, 2});
  writer.write(dir / "real.safetensors");
  std::filesystem::create_symlink("real.safetensors", dir / "link.safetensors");
  CHECK(io::safetensors_file::open(dir / "link.safetensors").read_floats("w") ==
        std::vector<float>{1, 2});
}

TEST_CASE(
    "safetensors: a header that does not describe the file is refused before its data is read") {
  const scratch_directory dir("typeformer-sparse");
  // 2 GiB that take no disk space: a header describing one byte, then a hole. The tiling check
  // runs on the file's size, so the hole is never read (the bounds test times it).
  const auto sparse = dir / "sparse.safetensors";
  {
    const bytes head = file_with(R"({"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})", 1);
    std::ofstream out(sparse, std::ios::binary);
    out.write(reinterpret_cast<const char*>(head.data()),
              static_cast<std::streamsize>(head.size()));
  }
  std::filesystem::resize_file(sparse, std::uintmax_t{2} << 30);
  CHECK_THAT(format_error_from([&] { (void)io::safetensors_file::open(sparse); }),
             Contains("trailing bytes after the last tensor"));
  // A header that runs past the file's end is refused before it is read.
  const bytes short_file = length_prefix(1000) + text_bytes("{}");
  const auto truncated =
      dir.write("truncated.safetensors",
                std::string(reinterpret_cast<const char*>(short_file.data()), short_file.size()));
  CHECK_THAT(format_error_from([&] { (void)io::safetensors_file::open(truncated); }),
             Contains("header length 1000 runs past the end of the file (10 bytes)"));
}

TEST_CASE("safetensors: more than 262144 tensors in one header are refused while parsing") {
  std::string header = "{";
  for (std::size_t i = 0; i <= io::detail::max_tensor_count; ++i) {
    header += '"';
    header += std::to_string(i);
    header += R"(":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},)";
  }
  header.back() = '}';
  CHECK_THAT(format_error_of(file_with(header)),
             Contains("the header lists more than 262144 tensors (the limit)"));
  header.resize(header.rfind("},\"") + 1);  // one tensor fewer: at the limit, accepted
  header += "}";
  CHECK(io::safetensors_file::from_bytes(file_with(header)).tensors().size() ==
        io::detail::max_tensor_count);
}

TEST_CASE("safetensors: messages escape control, C1 and bidirectional characters of a name") {
  CHECK(io::detail::quote_name("a\u202Eb\u2066c\u009Bd\u061Ce\u2028") ==
        R"("a\u{202e}b\u{2066}c\u{009b}d\u{061c}e\u{2028}")");
  CHECK(io::detail::quote_name("\x1B[2Jx\x7F\xFF\xC0\x80") == R"("\x1b[2Jx\x7f\xff\xc0\x80")");
  CHECK(io::detail::quote_name("caf\u00E9 \u4E2D \U0001F600") == "\"caf\u00E9 \u4E2D \U0001F600\"");
  const std::string message = format_error_of(
      file_with("{\"x\u202Ey\": {\"dtype\":\"X\",\"shape\":[],\"data_offsets\":[0,0]}}"));
  CHECK_THAT(message, Contains(R"(tensor "x\u{202e}y": unknown dtype "X")"));
}
