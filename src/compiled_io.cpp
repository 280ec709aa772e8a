// The weight readers, compiled once for the program (see <typeformer/io/compiled_io.hpp>): the
// safetensors reader, the weight check's messages and the TensorFlow.js model.json reader.
// Compile it with TYPEFORMER_COMPILED_IO=1, as every unit of the program; CMake's
// typeformer_compile_kernels_once(target) and typeformer_add_compiled_kernels(name) do both.

#if !defined(TYPEFORMER_COMPILED_IO) || !TYPEFORMER_COMPILED_IO
#error \
    "compiled_io.cpp defines the reader the other units declare: build every unit with TYPEFORMER_COMPILED_IO=1"
#endif

#define TYPEFORMER_DEFINE_COMPILED_IO 1

#include <typeformer/io/keras_topology.hpp>
#include <typeformer/io/safetensors_reader.hpp>
#include <typeformer/io/tfjs_layers_model.hpp>
#include <typeformer/io/weight_check.hpp>

template class typeformer::io::basic_tfjs_layers_model<>;
template void typeformer::detail::check_declared_topology<>(
    const typeformer::detail::keras_declaration&, const typeformer::io::tfjs_layers_model&,
    const std::string&);
