#pragma once
// The weight readers compiled once per program instead of once per translation unit.
//
// Every unit that loads weights compiles the safetensors reader (the header's JSON parse and its
// checks, reading the tensors) and the weight check's messages, and a unit that loads by Keras
// names the TensorFlow.js model.json reader too: the same functions in each object,
// model-independent, 1.7 s (safetensors) to 4 s (with model.json) of a model unit's compile time
// with g++ -O2. With TYPEFORMER_COMPILED_IO set to 1, the headers only declare them (the
// model.json reader's members and the Keras topology check also through explicit instantiation
// declarations), and one unit of the program defines them: src/compiled_io.cpp (installed as
// share/typeformer/compiled_io.cpp; CMake's typeformer::typeformer adds it to each program that
// links it, beside the kernels' unit; typeformer::header_only does not). Unlike the kernels, the
// readers do not depend on the instruction set. Every unit of the program must agree on the macro:
// a function that is inline in one unit and not in another breaks the one-definition rule. See
// docs/compile-time.md.
//
// A macro, not a constant: what it changes is whether a function body is in a unit and whether
// the function is `inline`, which only the preprocessor can decide per unit.

#ifndef TYPEFORMER_COMPILED_IO
#define TYPEFORMER_COMPILED_IO 0
#endif

// src/compiled_io.cpp defines TYPEFORMER_DEFINE_COMPILED_IO before it includes the headers.
#if !TYPEFORMER_COMPILED_IO || defined(TYPEFORMER_DEFINE_COMPILED_IO)
#define TYPEFORMER_IO_DEFINITIONS 1
#else
#define TYPEFORMER_IO_DEFINITIONS 0
#endif

// Header-only, each unit holds its own copy of the definitions, which only an inline function
// may have; compiled once, they are ordinary functions with one definition.
#if TYPEFORMER_COMPILED_IO
#define TYPEFORMER_IO_INLINE
#else
#define TYPEFORMER_IO_INLINE inline
#endif
