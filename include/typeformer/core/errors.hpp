#pragma once
// The exception hierarchy. Every failure the library reports is one of these, so a caller
// can catch `typeformer::error` for all of them or a subclass for one concern.

#include <stdexcept>
#include <string>
#include <string_view>

namespace typeformer {

/// Base of every exception the library throws.
class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A run-time extent breaks a shape rule: the same sentence the compile-time diagnostic
/// names, e.g. `multi_head_attention "self_attn": d_model (500) is not divisible by heads (8)`.
class shape_error : public error {
 public:
  using error::error;
};

/// A weight set does not fit the model: a missing, unexpected, mis-shaped or mis-typed
/// tensor. The message names the tensor, what was expected and what was found.
class weight_error : public error {
 public:
  using error::error;
};

/// A file or buffer is not a well-formed container (safetensors): truncated, hostile or
/// inconsistent. The message names the source, the tensor and the field when known.
class format_error : public error {
 public:
  using error::error;
};

/// A NaN or infinity where the caller asked for finite values (runner_options::check_finite):
/// the message names the layer whose output first held one, and the position.
class numeric_error : public error {
 public:
  using error::error;
};

namespace detail {
/// The weight_error of a call given parameters that do not fit the layer (default-built, or
/// built for another declaration).
[[noreturn]] inline void throw_parameters_do_not_fit(std::string_view kind, std::string_view name) {
  throw weight_error(std::string(kind) + " \"" + std::string(name) +
                     "\": the parameters do not fit this layer's dimensions (build them with "
                     "load_weights or from_weights)");
}
}  // namespace detail

}  // namespace typeformer
