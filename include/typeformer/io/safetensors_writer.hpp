#pragma once
// safetensors_writer: builds a safetensors file from tensors given in memory. The header is
// compact JSON with `__metadata__` first, then the tensors in insertion order, padded with
// spaces to a multiple of 8 bytes (as the reference writer pads); the data follows in the same
// order. Every failure, from a size mismatch to a failed write, is a `format_error`.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <typeformer/core/errors.hpp>
#include <typeformer/io/dtype.hpp>
#include <typeformer/io/half.hpp>
#include <typeformer/io/json_string.hpp>
#include <typeformer/io/quoted_text.hpp>

namespace typeformer::io {

class safetensors_writer {
 public:
  /// Adds a tensor whose little-endian bytes are given as stored. `bytes` must hold exactly
  /// element_size(type) × product(shape) bytes; the name must be new and not `__metadata__`.
  void add(std::string name, dtype type, std::vector<std::int64_t> shape,
           std::span<const std::byte> bytes) {
    const std::size_t size = checked_byte_size(name, type, shape);
    if (bytes.size() != size)
      fail(name, std::to_string(bytes.size()), " bytes given, ", describe(type, shape), " needs ",
           std::to_string(size));
    std::vector<char> data(size);
    if (size > 0) std::memcpy(data.data(), bytes.data(), size);
    tensors_.push_back({std::move(name), type, std::move(shape), std::move(data)});
  }

  /// Adds float values stored as F32, F64, F16 or BF16 (rounded to nearest, ties to even).
  void add_floats(std::string name, std::vector<std::int64_t> shape, std::span<const float> values,
                  dtype stored = dtype::f32) {
    if (!is_floating_dtype(stored))
      fail(name, "add_floats stores F32, F64, F16 or BF16, not ", dtype_name(stored));
    std::vector<char> data = storage_for(name, stored, shape, values.size());
    const std::size_t width = element_size(stored);
    for (std::size_t i = 0; i < values.size(); ++i)
      store(encoded(values[i], stored), width, data.data() + i * width);
    tensors_.push_back({std::move(name), stored, std::move(shape), std::move(data)});
  }

  /// Adds integer values stored as BOOL (0 or 1) or an integer dtype; a value the dtype cannot
  /// hold is an error, not a wrap-around.
  void add_integers(std::string name, std::vector<std::int64_t> shape,
                    std::span<const std::int64_t> values, dtype stored = dtype::i64) {
    if (!is_integer_dtype(stored))
      fail(name, "add_integers stores BOOL or an integer dtype, not ", dtype_name(stored));
    std::vector<char> data = storage_for(name, stored, shape, values.size());
    const std::size_t width = element_size(stored);
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (!fits(values[i], stored))
        fail(name, "value ", std::to_string(values[i]), " at index ", std::to_string(i),
             " does not fit ", dtype_name(stored));
      // The low `width` bytes of the two's complement are the stored pattern, signed or not.
      store(static_cast<std::uint64_t>(values[i]), width, data.data() + i * width);
    }
    tensors_.push_back({std::move(name), stored, std::move(shape), std::move(data)});
  }

  /// Sets a `__metadata__` entry; setting a key again replaces its value.
  void set_metadata(std::string key, std::string value) {
    metadata_.insert_or_assign(std::move(key), std::move(value));
  }

  /// The whole file.
  std::vector<std::byte> to_bytes() const {
    const std::string header = header_text();
    std::size_t total = 8 + header.size();
    for (const stored_tensor& t : tensors_) total += t.data.size();
    std::vector<std::byte> bytes(total);
    store_little_endian(static_cast<std::uint64_t>(header.size()), bytes.data());
    std::size_t at = 8;
    const auto append = [&](const char* data, std::size_t size) {
      if (size > 0) std::memcpy(bytes.data() + at, data, size);
      at += size;
    };
    append(header.data(), header.size());
    for (const stored_tensor& t : tensors_) append(t.data.data(), t.data.size());
    return bytes;
  }

  /// Writes the file to `path`, replacing it if it exists.
  void write(const std::filesystem::path& path) const {
    const std::string header = header_text();
    char length[8];
    store(header.size(), sizeof length, length);
    const auto failure = [&](const char* what) {
      std::string message = "safetensors \"";
      message += path.string();
      message += "\": ";
      message += what;
      return format_error(message);
    };
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) throw failure("cannot open the file for writing");
    out.write(length, sizeof length);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    for (const stored_tensor& t : tensors_)
      out.write(t.data.data(), static_cast<std::streamsize>(t.data.size()));
    out.close();
    if (!out) throw failure("write failed");
  }

 private:
  struct stored_tensor {
    std::string name;
    dtype type;
    std::vector<std::int64_t> shape;
    std::vector<char> data;  // little-endian, as in the file; char so streams write it as is
  };

  std::vector<stored_tensor> tensors_;
  std::map<std::string, std::string> metadata_;

  // Messages are built by appending: `"literal" + std::string&&` inserts at the front, which
  // GCC 12 at -O2 and above misreports as an overlapping memcpy (a -Wrestrict false positive).
  template <class... Parts>
  [[noreturn]] static void fail(const std::string& name, const Parts&... problem) {
    std::string message = "safetensors writer: tensor ";
    message += detail::quote_name(name);
    message += ": ";
    (message.append(problem), ...);
    throw format_error(message);
  }

  // Little-endian, byte by byte: the file's byte order whatever the host's.
  static void store(std::uint64_t bits, std::size_t width, char* out) {
    for (std::size_t k = 0; k < width; ++k) out[k] = static_cast<char>((bits >> (8 * k)) & 0xFFu);
  }

  static std::uint64_t encoded(float value, dtype stored) {
    switch (stored) {
      case dtype::f64:
        return std::bit_cast<std::uint64_t>(double{value});
      case dtype::f16:
        return float_to_f16(value);
      case dtype::bf16:
        return float_to_bf16(value);
      default:
        return std::bit_cast<std::uint32_t>(value);
    }
  }

  static bool fits(std::int64_t value, dtype type) {
    switch (type) {
      case dtype::boolean:
        return value == 0 || value == 1;
      case dtype::u8:
        return std::in_range<std::uint8_t>(value);
      case dtype::i8:
        return std::in_range<std::int8_t>(value);
      case dtype::u16:
        return std::in_range<std::uint16_t>(value);
      case dtype::i16:
        return std::in_range<std::int16_t>(value);
      case dtype::u32:
        return std::in_range<std::uint32_t>(value);
      case dtype::i32:
        return std::in_range<std::int32_t>(value);
      case dtype::u64:
        return value >= 0;
      default:
        return true;
    }
  }

  static std::string describe(dtype type, const std::vector<std::int64_t>& shape) {
    std::string text = "dtype ";
    text += dtype_name(type);
    text += " × shape ";
    text += shape_text(shape);
    return text;
  }

  static std::string shape_text(const std::vector<std::int64_t>& shape) {
    std::string text = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) {
      if (i > 0) text += ", ";
      text += std::to_string(shape[i]);
    }
    return text + "]";
  }

  // Checks the name and the shape, and returns the byte size without overflow.
  std::size_t checked_byte_size(const std::string& name, dtype type,
                                const std::vector<std::int64_t>& shape) const {
    if (name == "__metadata__") fail(name, "the name is reserved for the header's metadata");
    for (const stored_tensor& t : tensors_)
      if (t.name == name) fail(name, "a tensor of that name was already added");
    constexpr std::size_t limit = std::numeric_limits<std::size_t>::max();
    std::size_t size = element_size(type);
    for (const std::int64_t extent : shape) {
      if (extent < 0) fail(name, describe(type, shape), " has a negative extent");
      const auto factor = static_cast<std::size_t>(extent);
      if (factor != 0 && size > limit / factor) fail(name, describe(type, shape), " overflows");
      size *= factor;
    }
    return size;
  }

  // Zeroed storage for `count` elements, which must be what the shape holds.
  std::vector<char> storage_for(const std::string& name, dtype type,
                                const std::vector<std::int64_t>& shape, std::size_t count) const {
    const std::size_t size = checked_byte_size(name, type, shape);
    if (count != size / element_size(type))
      fail(name, std::to_string(count), " values given, shape ", shape_text(shape), " has ",
           std::to_string(size / element_size(type)), " elements");
    return std::vector<char>(size);
  }

  // Compact JSON; `__metadata__` first, then the tensors in insertion order, each stored
  // right after the previous one; padded with spaces so the data starts 8-byte aligned.
  std::string header_text() const {
    const auto quoted = [](std::string_view text) {
      std::optional<std::string> q = detail::json_string(text);
      if (!q)
        throw format_error(
            "safetensors writer: a tensor name or a metadata key or value is not valid UTF-8");
      return std::move(*q);
    };
    std::string text = "{";
    const auto add_key = [&](std::string_view key) {
      if (text.size() > 1) text += ',';
      text += quoted(key);
      text += ':';
    };
    if (!metadata_.empty()) {
      add_key("__metadata__");
      text += '{';
      for (auto entry = metadata_.begin(); entry != metadata_.end(); ++entry) {
        if (entry != metadata_.begin()) text += ',';
        text += quoted(entry->first);
        text += ':';
        text += quoted(entry->second);
      }
      text += '}';
    }
    std::uint64_t offset = 0;
    for (const stored_tensor& t : tensors_) {
      const std::uint64_t end = offset + t.data.size();
      add_key(t.name);
      text += "{\"dtype\":\"";
      text += dtype_name(t.type);
      text += "\",\"shape\":[";
      for (std::size_t i = 0; i < t.shape.size(); ++i) {
        if (i) text += ',';
        text += std::to_string(t.shape[i]);
      }
      text += "],\"data_offsets\":[";
      text += std::to_string(offset);
      text += ',';
      text += std::to_string(end);
      text += "]}";
      offset = end;
    }
    text += '}';
    text.append((8 - text.size() % 8) % 8, ' ');
    return text;
  }
};

}  // namespace typeformer::io
