#pragma once
// safetensors_file: a safetensors file read whole into memory and validated before anything is
// returned from it. Layout: an 8-byte little-endian header length N, N bytes of UTF-8 JSON, then
// the data section. The checks follow the reference implementation (huggingface/safetensors)
// and are stricter where it is silent; every failure is a `format_error` whose message names the
// source, and the tensor and field when known:
//
// - the file is a regular file (io/regular_file.hpp) of at least 8 bytes; N <= 100'000'000 (the
//   reference's limit); 8 + N <= file size; at most 262'144 tensors (our limit);
// - the header is valid UTF-8 (RFC 3629), starts with '{' and is one JSON object, followed
//   by nothing but JSON whitespace (writers pad with spaces); no comments;
// - no key appears twice in any object (the root, `__metadata__` or a tensor entry);
// - `__metadata__`, if present, is an object whose values are all strings;
// - every other key is a tensor whose entry has exactly `dtype` (a known spelling), `shape`
//   (non-negative integers <= INT64_MAX) and `data_offsets` (two non-negative integers);
// - element size × product(shape) is computed without overflow (overflow is an error), and
//   begin <= end <= data section size, end - begin == that byte size;
// - the tensors, ordered by offsets, tile the data section exactly: no overlap, no hole, no
//   trailing bytes. A zero-size tensor (begin == end) may sit at any tensor boundary.
//   open() checks all of this against the file's size before it reads the data section, so a
//   file is never read further than its header describes.
//
// Data is little-endian and may be misaligned (N need not be a multiple of 8), so elements are
// copied out with memcpy, never through a cast pointer.

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <typeformer/core/errors.hpp>
#include <typeformer/core/text.hpp>
#include <typeformer/io/compiled_io.hpp>
#include <typeformer/io/dtype.hpp>
#include <typeformer/io/half.hpp>
#include <typeformer/io/json_sax.hpp>
#include <typeformer/io/quoted_text.hpp>
#include <typeformer/io/regular_file.hpp>

namespace typeformer::io {

/// One tensor's header entry, validated.
struct tensor_info {
  std::string name;
  dtype type;
  std::vector<std::int64_t> shape;
  std::size_t begin, end;  // byte offsets into the data section

  std::size_t element_count() const {
    std::size_t count = 1;
    for (const std::int64_t extent : shape) count *= static_cast<std::size_t>(extent);
    return count;
  }
  std::size_t byte_size() const { return end - begin; }
};

namespace detail {

/// The reference implementation's header limit: a larger N is refused before any allocation.
inline constexpr std::uint64_t max_header_length = 100'000'000;
/// More tensors than this in one file are refused while the header is parsed. The reference
/// sets no such limit; without one, a 100 MB header of 1.8 million empty tensors takes about a
/// gigabyte to index. Real checkpoints hold a few thousand tensors per file.
inline constexpr std::size_t max_tensor_count = 262'144;

using typeformer::detail::concat;

inline std::string format_shape(std::span<const std::int64_t> shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) text += ", ";
    text += std::to_string(shape[i]);
  }
  return text + "]";
}

/// A double outside float's range becomes ±infinity, as round-to-nearest gives; the plain cast
/// of such a value is undefined behaviour. Beyond FLT_MAX, halfway to 2^128 rounds up.
constexpr float narrow_to_float(double value) noexcept {
  constexpr double rounds_to_infinity = 0x1.ffffffp127;
  if (value >= rounds_to_infinity) return std::numeric_limits<float>::infinity();
  if (value <= -rounds_to_infinity) return -std::numeric_limits<float>::infinity();
  return static_cast<float>(value);
}

/// One tensor entry as the header states it, before offsets are checked against the data.
struct header_entry {
  std::string name;
  std::optional<dtype> type;
  bool has_shape = false, has_offsets = false;
  std::vector<std::uint64_t> shape;
  std::array<std::uint64_t, 2> offsets{};
  std::size_t offset_count = 0;
};

/// nlohmann's SAX interface, checking the header's schema while it is parsed. A DOM parse would
/// keep only the last of duplicate keys and would build whatever nesting a hostile header holds;
/// this handler stops at the first event the schema does not allow (returning false ends the
/// parse), so nothing deeper than a tensor's arrays is ever built.
class header_handler {
 public:
  using json = nlohmann::json;

  std::vector<header_entry> entries;
  std::map<std::string, std::string> metadata;
  std::string error;  // the first problem, without the source; empty while all is well

  bool complete() const { return state_ == state::finished && error.empty(); }

  bool null() { return wrong_kind("null"); }
  bool boolean(bool) { return wrong_kind("boolean"); }
  bool binary(json::binary_t&) { return wrong_kind("binary value"); }

  bool number_integer(json::number_integer_t value) {
    // nlohmann reports only numbers written with a minus sign here; -0 is zero.
    if (!in_array()) return wrong_kind("number");
    if (value < 0) return fail(concat(element_context(), std::to_string(value), " is negative"));
    return push(static_cast<std::uint64_t>(value));
  }
  bool number_unsigned(json::number_unsigned_t value) {
    if (!in_array()) return wrong_kind("number");
    return push(value);
  }
  bool number_float(json::number_float_t, const json::string_t& text) {
    // Also integers too large for 64 bits, which nlohmann parses as floating point.
    if (!in_array()) return wrong_kind("number");
    return fail(concat(element_context(), text, " is not a 64-bit integer"));
  }

  bool string(json::string_t& value) {
    if (state_ == state::dtype_value) {
      const std::optional<dtype> type = parse_dtype(value);
      if (!type) return fail(concat(tensor_context(), "unknown dtype ", quote_name(value)));
      entries.back().type = type;
      state_ = state::tensor_key;
      return true;
    }
    if (state_ == state::metadata_value) {
      metadata.emplace(std::move(metadata_key_), std::move(value));
      state_ = state::metadata_key;
      return true;
    }
    return wrong_kind("string");
  }

  bool start_object(std::size_t) {
    if (state_ == state::start) {
      state_ = state::root_key;
      return true;
    }
    if (state_ == state::root_value) {
      if (root_key_ == metadata_key_name) {
        state_ = state::metadata_key;
      } else {
        if (entries.size() == max_tensor_count)
          return fail(concat("the header lists more than ", std::to_string(max_tensor_count),
                             " tensors (the limit)"));
        entries.emplace_back().name = root_key_;
        state_ = state::tensor_key;
      }
      return true;
    }
    return wrong_kind("object");
  }

  bool key(json::string_t& name) {
    switch (state_) {
      case state::root_key:
        if (!root_keys_.insert(name).second)
          return fail(concat("duplicate key ", quote_name(name), " in the header"));
        root_key_ = std::move(name);
        state_ = state::root_value;
        return true;
      case state::metadata_key:
        if (metadata.contains(name))
          return fail(concat(metadata_key_name, ": duplicate key ", quote_name(name)));
        metadata_key_ = std::move(name);
        state_ = state::metadata_value;
        return true;
      case state::tensor_key:
        return tensor_field(name);
      default:
        return fail(concat("unexpected key ", quote_name(name)));  // the JSON grammar prevents it
    }
  }

  bool end_object() {
    switch (state_) {
      case state::root_key:
        state_ = state::finished;
        return true;
      case state::metadata_key:
        state_ = state::root_key;
        return true;
      case state::tensor_key: {
        const header_entry& entry = entries.back();
        for (const auto& [present, field] :
             {std::pair{entry.type.has_value(), "dtype"}, std::pair{entry.has_shape, "shape"},
              std::pair{entry.has_offsets, "data_offsets"}})
          if (!present) return fail(concat(tensor_context(), "missing field \"", field, "\""));
        state_ = state::root_key;
        return true;
      }
      default:
        return fail("unexpected end of an object");  // the JSON grammar prevents it
    }
  }

  bool start_array(std::size_t) {
    if (state_ == state::shape_value) {
      entries.back().has_shape = true;
      state_ = state::shape_element;
      return true;
    }
    if (state_ == state::offsets_value) {
      entries.back().has_offsets = true;
      state_ = state::offsets_element;
      return true;
    }
    return wrong_kind("array");
  }

  bool end_array() {
    if (state_ == state::offsets_element && entries.back().offset_count != 2)
      return fail(concat(tensor_context(), "data_offsets must have exactly 2 elements, found ",
                         std::to_string(entries.back().offset_count)));
    if (state_ != state::shape_element && state_ != state::offsets_element)
      return fail("unexpected end of an array");  // the JSON grammar prevents it
    state_ = state::tensor_key;
    return true;
  }

  bool parse_error(std::size_t, const std::string&, const json::exception& e) {
    return fail(concat("header is not valid JSON: ", e.what()));
  }

 private:
  static constexpr std::string_view metadata_key_name = "__metadata__";

  // Where the parse is: *_key expects a key or the end of that object, *_value a value,
  // *_element an array element or the end of the array.
  enum class state {
    start,
    root_key,
    root_value,
    metadata_key,
    metadata_value,
    tensor_key,
    dtype_value,
    shape_value,
    offsets_value,
    shape_element,
    offsets_element,
    finished
  };

  state state_ = state::start;
  std::set<std::string, std::less<>> root_keys_;
  std::string root_key_;
  std::string metadata_key_;

  bool fail(std::string message) {
    if (error.empty()) error = std::move(message);
    return false;
  }

  std::string tensor_context() const {
    return concat("tensor ", quote_name(entries.back().name), ": ");
  }

  std::string element_context() const {
    return tensor_context() +
           (state_ == state::shape_element ? "shape element " : "data_offsets element ");
  }

  bool in_array() const {
    return state_ == state::shape_element || state_ == state::offsets_element;
  }

  bool push(std::uint64_t value) {
    header_entry& entry = entries.back();
    if (state_ == state::shape_element) {
      if (value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        return fail(concat(element_context(), std::to_string(value), " exceeds INT64_MAX"));
      entry.shape.push_back(value);
      return true;
    }
    if (entry.offset_count == 2)
      return fail(
          concat(tensor_context(), "data_offsets must have exactly 2 elements, found more"));
    entry.offsets[entry.offset_count++] = value;
    return true;
  }

  bool tensor_field(std::string_view field) {
    const header_entry& entry = entries.back();
    bool seen = false;
    if (field == "dtype") {
      seen = entry.type.has_value();
      state_ = state::dtype_value;
    } else if (field == "shape") {
      seen = entry.has_shape;
      state_ = state::shape_value;
    } else if (field == "data_offsets") {
      seen = entry.has_offsets;
      state_ = state::offsets_value;
    } else {
      return fail(concat(tensor_context(), "unknown field ", quote_name(field),
                         " (an entry has only dtype, shape and data_offsets)"));
    }
    if (seen) return fail(concat(tensor_context(), "duplicate field ", quote_name(field)));
    return true;
  }

  bool wrong_kind(std::string_view kind) {
    const std::string found = concat("is a JSON ", kind);
    switch (state_) {
      case state::start:
        return fail(concat("header ", found, ", expected an object"));
      case state::root_value:
        if (root_key_ == metadata_key_name)
          return fail(concat(metadata_key_name, " ", found, ", expected an object of strings"));
        return fail(concat("tensor ", quote_name(root_key_), ": entry ", found,
                           ", expected an object with dtype, shape and data_offsets"));
      case state::metadata_value:
        return fail(concat(metadata_key_name, ": value of ", quote_name(metadata_key_), " ", found,
                           ", expected a string"));
      case state::dtype_value:
        return fail(concat(tensor_context(), "dtype ", found, ", expected a string"));
      case state::shape_value:
        return fail(concat(tensor_context(), "shape ", found,
                           ", expected an array of non-negative integers"));
      case state::offsets_value:
        return fail(concat(tensor_context(), "data_offsets ", found,
                           ", expected an array of 2 non-negative integers"));
      case state::shape_element:
      case state::offsets_element:
        return fail(concat(element_context(), found, ", expected a non-negative integer"));
      default:
        return fail(concat("unexpected JSON ", kind));  // the grammar prevents it
    }
  }
};

}  // namespace detail

/// A validated safetensors file held in memory. Copyable and movable; spans from raw_bytes()
/// point into the object they came from.
class safetensors_file {
 public:
  using tensor_info = io::tensor_info;

  /// Reads the file: the header first, which is checked against the file's size (no data is
  /// read for a header that does not describe the file exactly), then the data. `path` must
  /// name a regular file (a symbolic link to one is followed). An I/O failure or a malformed
  /// file is a format_error naming `path`.
  static safetensors_file open(const std::filesystem::path& path);

  /// A file already in memory; `source_name` names it in messages.
  static safetensors_file from_bytes(std::vector<std::byte> bytes,
                                     std::string source_name = "<memory>") {
    return safetensors_file(std::move(bytes), std::move(source_name));
  }

  /// Copies `bytes`.
  static safetensors_file from_bytes(std::span<const std::byte> bytes,
                                     std::string source_name = "<memory>") {
    return safetensors_file(std::vector<std::byte>(bytes.begin(), bytes.end()),
                            std::move(source_name));
  }

  /// Every tensor, in data-section order: by begin offset, then end, then name (zero-size
  /// tensors can share an offset with a neighbour).
  const std::vector<tensor_info>& tensors() const noexcept { return tensors_; }

  /// The tensor called `name`, or nullptr.
  const tensor_info* find(std::string_view name) const {
    const auto found = index_.find(name);
    return found == index_.end() ? nullptr : &tensors_[found->second];
  }
  bool contains(std::string_view name) const { return find(name) != nullptr; }

  /// `__metadata__`, empty when the header has none.
  const std::map<std::string, std::string>& metadata() const noexcept { return metadata_; }

  /// The path given to open(), or the name given to from_bytes().
  const std::string& source() const noexcept { return source_; }

  /// The tensor's bytes as stored: little-endian and possibly misaligned.
  std::span<const std::byte> raw_bytes(std::string_view name) const {
    const tensor_info& info = require(name);
    return std::span<const std::byte>(bytes_).subspan(data_begin_ + info.begin, info.byte_size());
  }

  /// The tensor's elements as float, row-major. F32 and BF16 convert exactly, F16 too; F64 is
  /// rounded to nearest (beyond float's range: infinity). Any other dtype is a format_error.
  std::vector<float> read_floats(std::string_view name) const;

  /// The tensor's elements as int64, row-major, for BOOL (0 or 1; any other byte is a
  /// format_error) and the integer dtypes. A U64 value above INT64_MAX, or a floating dtype, is
  /// a format_error.
  std::vector<std::int64_t> read_integers(std::string_view name) const;

 private:
  std::string source_;
  std::vector<std::byte> bytes_;  // the whole file
  std::size_t data_begin_ = 0;    // 8 + header length
  std::vector<tensor_info> tensors_;
  std::map<std::string, std::size_t, std::less<>> index_;  // name -> position in tensors_
  std::map<std::string, std::string> metadata_;

  explicit safetensors_file(std::string source) : source_(std::move(source)) {}

  safetensors_file(std::vector<std::byte> bytes, std::string source)
      : source_(std::move(source)), bytes_(std::move(bytes)) {
    check_header_length(bytes_, bytes_.size());
    parse_header(bytes_, bytes_.size());
  }

  std::string where() const;

  [[noreturn]] void fail(const std::string& problem) const {
    throw format_error(detail::concat(where(), problem));
  }

  const tensor_info& require(std::string_view name) const;

  // `first` holds the file's first min(8, file_size) bytes; returns 8 + the header length.
  std::size_t check_header_length(std::span<const std::byte> first, std::uint64_t file_size) const;

  // `head` holds at least the length and the header (check_header_length passed); the data
  // section is whatever of `file_size` follows, which need not have been read yet.
  void parse_header(std::span<const std::byte> head, std::size_t file_size);

  // The entry's byte size against its offsets and the data section's size.
  tensor_info checked_tensor(detail::header_entry entry, std::size_t data_size) const;

  // Sorts the tensors by offsets and requires them to cover the data section exactly once.
  void check_tiling(std::size_t data_size);
};

// The definitions: in every unit when typeformer is used header-only, in src/compiled_io.cpp
// alone when TYPEFORMER_COMPILED_IO is 1 (io/compiled_io.hpp).
#if TYPEFORMER_IO_DEFINITIONS

TYPEFORMER_IO_INLINE safetensors_file safetensors_file::open(const std::filesystem::path& path) {
  safetensors_file result(path.string());
  regular_file file = regular_file::open(path, result.where());
  const std::uint64_t file_size = file.size();
  if (file_size > std::numeric_limits<std::size_t>::max())
    result.fail(detail::concat("file is ", std::to_string(file_size),
                               " bytes, more than this machine can address"));
  std::vector<std::byte> bytes(std::min<std::uint64_t>(file_size, 8));
  file.read_at(0, bytes);
  const std::size_t data_begin = result.check_header_length(bytes, file_size);
  bytes.resize(data_begin);
  file.read_at(0, bytes);
  result.parse_header(bytes, static_cast<std::size_t>(file_size));
  bytes.resize(static_cast<std::size_t>(file_size));
  file.read_at(data_begin, std::span<std::byte>(bytes).subspan(data_begin));
  result.bytes_ = std::move(bytes);
  return result;
}

TYPEFORMER_IO_INLINE std::vector<float> safetensors_file::read_floats(std::string_view name) const {
  const tensor_info& info = require(name);
  const std::byte* data = bytes_.data() + data_begin_ + info.begin;
  const std::size_t count = info.byte_size() / element_size(info.type);
  std::vector<float> values(count);
  switch (info.type) {
    case dtype::f32:
      for (std::size_t i = 0; i < count; ++i)
        values[i] = std::bit_cast<float>(load_little_endian<std::uint32_t>(data + 4 * i));
      break;
    case dtype::f64:
      for (std::size_t i = 0; i < count; ++i)
        values[i] = detail::narrow_to_float(
            std::bit_cast<double>(load_little_endian<std::uint64_t>(data + 8 * i)));
      break;
    case dtype::f16:
      for (std::size_t i = 0; i < count; ++i)
        values[i] = f16_to_float(load_little_endian<std::uint16_t>(data + 2 * i));
      break;
    case dtype::bf16:
      for (std::size_t i = 0; i < count; ++i)
        values[i] = bf16_to_float(load_little_endian<std::uint16_t>(data + 2 * i));
      break;
    default:
      throw format_error(detail::concat(where(), "tensor ", detail::quote_name(info.name),
                                        " has dtype ", dtype_name(info.type),
                                        ", expected a floating dtype (F32, F16, BF16, F64)"));
  }
  return values;
}

TYPEFORMER_IO_INLINE std::vector<std::int64_t> safetensors_file::read_integers(
    std::string_view name) const {
  const tensor_info& info = require(name);
  const std::byte* data = bytes_.data() + data_begin_ + info.begin;
  const std::size_t count = info.byte_size() / element_size(info.type);
  std::vector<std::int64_t> values(count);
  const auto element_error = [&](std::size_t i, const std::string& problem) {
    return format_error(detail::concat(where(), "tensor ", detail::quote_name(info.name), ": ",
                                       dtype_name(info.type), " element ", std::to_string(i), " ",
                                       problem));
  };
  switch (info.type) {
    case dtype::boolean:
      for (std::size_t i = 0; i < count; ++i) {
        const auto byte = load_little_endian<std::uint8_t>(data + i);
        if (byte > 1)
          throw element_error(i, detail::concat("is ", std::to_string(byte), ", expected 0 or 1"));
        values[i] = byte;
      }
      break;
    case dtype::u8:
      for (std::size_t i = 0; i < count; ++i)
        values[i] = load_little_endian<std::uint8_t>(data + i);
      break;
    case dtype::i8:
      for (std::size_t i = 0; i < count; ++i)
        values[i] = std::bit_cast<std::int8_t>(load_little_endian<std::uint8_t>(data + i));
      break;
    case dtype::u16:
      for (std::size_t i = 0; i < count; ++i)
        values[i] = load_little_endian<std::uint16_t>(data + 2 * i);
      break;
    case dtype::i16:
      for (std::size_t i = 0; i < count; ++i)
        values[i] = std::bit_cast<std::int16_t>(load_little_endian<std::uint16_t>(data + 2 * i));
      break;
    case dtype::u32:
      for (std::size_t i = 0; i < count; ++i)
        values[i] = load_little_endian<std::uint32_t>(data + 4 * i);
      break;
    case dtype::i32:
      for (std::size_t i = 0; i < count; ++i)
        values[i] = std::bit_cast<std::int32_t>(load_little_endian<std::uint32_t>(data + 4 * i));
      break;
    case dtype::u64:
      for (std::size_t i = 0; i < count; ++i) {
        const auto value = load_little_endian<std::uint64_t>(data + 8 * i);
        if (value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
          throw element_error(i, detail::concat("is ", std::to_string(value), ", above INT64_MAX"));
        values[i] = static_cast<std::int64_t>(value);
      }
      break;
    case dtype::i64:
      for (std::size_t i = 0; i < count; ++i)
        values[i] = std::bit_cast<std::int64_t>(load_little_endian<std::uint64_t>(data + 8 * i));
      break;
    default:
      throw format_error(detail::concat(
          where(), "tensor ", detail::quote_name(info.name), " has dtype ", dtype_name(info.type),
          ", expected an integer dtype (BOOL, U8, I8, I16, U16, I32, U32, I64, U64)"));
  }
  return values;
}

TYPEFORMER_IO_INLINE std::string safetensors_file::where() const {
  return detail::concat("safetensors ", detail::quote_name(source_, std::string::npos), ": ");
}

TYPEFORMER_IO_INLINE const tensor_info& safetensors_file::require(std::string_view name) const {
  const tensor_info* info = find(name);
  if (!info) fail(detail::concat("no tensor ", detail::quote_name(name)));
  return *info;
}

TYPEFORMER_IO_INLINE std::size_t safetensors_file::check_header_length(
    std::span<const std::byte> first, std::uint64_t file_size) const {
  if (file_size < 8)
    fail(detail::concat("file is ", std::to_string(file_size),
                        " bytes, shorter than the 8-byte header length"));
  const auto header_length = load_little_endian<std::uint64_t>(first.data());
  if (header_length > detail::max_header_length)
    fail(detail::concat("header length ", std::to_string(header_length), " exceeds the limit of ",
                        std::to_string(detail::max_header_length), " bytes"));
  if (header_length > file_size - 8)
    fail(detail::concat("header length ", std::to_string(header_length),
                        " runs past the end of the file (", std::to_string(file_size), " bytes)"));
  return 8 + static_cast<std::size_t>(header_length);
}

TYPEFORMER_IO_INLINE void safetensors_file::parse_header(std::span<const std::byte> head,
                                                         std::size_t file_size) {
  data_begin_ = 8 + static_cast<std::size_t>(load_little_endian<std::uint64_t>(head.data()));
  // Read in place (char may alias any byte): a copy would double a 100 MB header's memory.
  const std::string_view header(reinterpret_cast<const char*>(head.data()) + 8, data_begin_ - 8);
  if (const std::size_t bad = detail::first_invalid_utf8(header); bad != std::string::npos)
    fail(
        detail::concat("header is not valid UTF-8 (byte ", std::to_string(bad), " of the header)"));
  if (header.empty() || header.front() != '{') fail("header does not start with '{'");
  // nlohmann's lexer takes a NUL byte for the end of input and would ignore what follows; no
  // valid header holds one (JSON escapes it inside strings), so refuse it here.
  if (const std::size_t nul = header.find('\0'); nul != std::string::npos)
    fail(detail::concat("header is not valid JSON: NUL byte at byte ", std::to_string(nul),
                        " of the header"));

  detail::header_handler handler;
  const bool parsed = detail::sax_parse_json(header, &handler);
  if (!parsed || !handler.complete())
    fail(handler.error.empty() ? "header is not valid JSON" : handler.error);
  metadata_ = std::move(handler.metadata);

  const std::size_t data_size = file_size - data_begin_;
  tensors_.reserve(handler.entries.size());
  for (detail::header_entry& entry : handler.entries)
    tensors_.push_back(checked_tensor(std::move(entry), data_size));
  check_tiling(data_size);
  for (std::size_t i = 0; i < tensors_.size(); ++i) index_.emplace(tensors_[i].name, i);
}

TYPEFORMER_IO_INLINE tensor_info safetensors_file::checked_tensor(detail::header_entry entry,
                                                                  std::size_t data_size) const {
  const std::string context = detail::concat("tensor ", detail::quote_name(entry.name), ": ");
  tensor_info info{
      .name = std::move(entry.name), .type = *entry.type, .shape = {}, .begin = 0, .end = 0};
  for (const std::uint64_t extent : entry.shape)
    info.shape.push_back(static_cast<std::int64_t>(extent));  // <= INT64_MAX, checked
  const std::string described = detail::concat("dtype ", dtype_name(info.type), " × shape ",
                                               detail::format_shape(info.shape));

  // As the reference does: shape product, then times the element size, failing as soon as
  // a running product overflows (even if a later extent is 0).
  constexpr std::uint64_t limit = std::numeric_limits<std::size_t>::max();
  std::uint64_t byte_size = 1;
  const auto multiply_by = [&](std::uint64_t factor) {
    if (factor != 0 && byte_size > limit / factor)
      fail(detail::concat(context, described, " overflows the size of an address space"));
    byte_size *= factor;
  };
  for (const std::uint64_t extent : entry.shape) multiply_by(extent);
  multiply_by(element_size(info.type));

  const std::uint64_t begin = entry.offsets[0], end = entry.offsets[1];
  const std::string offsets =
      detail::concat("data_offsets [", std::to_string(begin), ", ", std::to_string(end), "]");
  if (begin > end) fail(detail::concat(context, offsets, " are reversed (begin > end)"));
  if (end > data_size)
    fail(detail::concat(context, offsets, " run past the end of the data section (",
                        std::to_string(data_size), " bytes)"));
  if (end - begin != byte_size)
    fail(detail::concat(context, offsets, " do not match ", described, " = ",
                        std::to_string(byte_size), " bytes"));
  info.begin = static_cast<std::size_t>(begin);
  info.end = static_cast<std::size_t>(end);
  return info;
}

TYPEFORMER_IO_INLINE void safetensors_file::check_tiling(std::size_t data_size) {
  std::sort(tensors_.begin(), tensors_.end(), [](const tensor_info& a, const tensor_info& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  std::size_t covered = 0;
  const tensor_info* previous = nullptr;
  for (const tensor_info& info : tensors_) {
    const std::string offsets =
        detail::concat("[", std::to_string(info.begin), ", ", std::to_string(info.end), "]");
    if (info.begin < covered)
      fail(detail::concat("tensor ", detail::quote_name(info.name), ": data_offsets ", offsets,
                          " overlap tensor ", detail::quote_name(previous->name), " at [",
                          std::to_string(previous->begin), ", ", std::to_string(previous->end),
                          "]"));
    if (info.begin > covered)
      fail(detail::concat(
          "data section bytes [", std::to_string(covered), ", ", std::to_string(info.begin),
          ") belong to no tensor (a hole before tensor ", detail::quote_name(info.name), ")"));
    covered = info.end;
    previous = &info;
  }
  if (covered != data_size)
    fail(detail::concat(
        "data section bytes [", std::to_string(covered), ", ", std::to_string(data_size),
        ") belong to no tensor (",
        tensors_.empty() ? "the header lists no tensors" : "trailing bytes after the last tensor",
        ")"));
}

#endif  // TYPEFORMER_IO_DEFINITIONS

}  // namespace typeformer::io
