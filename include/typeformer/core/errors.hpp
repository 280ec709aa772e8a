#pragma once
// The exception hierarchy. Every failure the library reports is one of these, so a caller
// can catch `typeformer::error` for all of them or a subclass for one concern.

#include <stdexcept>
#include <string>

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

}  // namespace typeformer
