#pragma once
// safetensors files: `#include <typeformer/io/safetensors.hpp>` for reading and writing them.

#include <typeformer/io/dtype.hpp>
#include <typeformer/io/half.hpp>
#include <typeformer/io/safetensors_reader.hpp>
#include <typeformer/io/safetensors_writer.hpp>
