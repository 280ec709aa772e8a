# The GEMM and the attention kernel compiled in one translation unit (compiled_kernels.cpp), and
# the weight reader in another (compiled_io.cpp), instead of in every unit that runs a model and
# loads its weights, which then declares them. typeformer::typeformer does it for each program
# that links it; typeformer::header_only does not. See docs/compile-time.md. Included by
# typeformerConfig.cmake and, under add_subdirectory, by CMakeLists.txt.
#
#   typeformer::typeformer
#     adds both units to each target that links it, compiled with that target's flags (so the
#     kernels' instruction set is the program's). The target property TYPEFORMER_BF16_KERNELS
#     (ON) adds the bfloat16-weight GEMMs, about three times the float32 kernels' compile time.
#   typeformer_add_compiled_kernels(<name> [BF16])
#     a static library of both for several programs to link (it carries typeformer::header_only),
#     so that each program does not compile them again. Give it the programs' instruction-set
#     flags as PUBLIC options, e.g. target_compile_options(<name> PUBLIC -march=native).
#   typeformer_compile_kernels_once(<target> [BF16])
#     adds both units to a target that links typeformer::header_only (what typeformer::typeformer
#     does; kept for the projects that used it before it was the default).
if(EXISTS "${CMAKE_CURRENT_LIST_DIR}/../src/compiled_kernels.cpp")
  # The source tree (add_subdirectory, or typeformer's own targets)
  set(_typeformer_sources_dir "${CMAKE_CURRENT_LIST_DIR}/../src")
else()
  # An installed package: cmake files in <datadir>/cmake/typeformer, the sources in <datadir>/typeformer
  set(_typeformer_sources_dir "${CMAKE_CURRENT_LIST_DIR}/../../typeformer")
endif()
# In the cache, so that a project that add_subdirectory()s typeformer sees it from its own scope.
get_filename_component(_typeformer_sources_dir "${_typeformer_sources_dir}" ABSOLUTE)
set(TYPEFORMER_COMPILED_SOURCES "${_typeformer_sources_dir}/compiled_kernels.cpp"
    "${_typeformer_sources_dir}/compiled_io.cpp" CACHE INTERNAL
    "typeformer's compiled_kernels.cpp and compiled_io.cpp")

# The kernels' and the reader's units added to <target>, their macros given with <scope>
# visibility; <caller> names the public function in the error.
function(_typeformer_add_kernels_unit target scope caller)
  foreach(source IN LISTS TYPEFORMER_COMPILED_SOURCES)
    if(NOT EXISTS "${source}")
      message(FATAL_ERROR "${caller}: ${source} is missing")
    endif()
  endforeach()
  cmake_parse_arguments(PARSE_ARGV 3 _arg "BF16" "" "")
  target_sources(${target} PRIVATE ${TYPEFORMER_COMPILED_SOURCES})
  target_compile_definitions(${target} ${scope} TYPEFORMER_COMPILED_KERNELS=1 TYPEFORMER_COMPILED_IO=1
                                               $<$<BOOL:${_arg_BF16}>:TYPEFORMER_COMPILED_BF16_KERNELS=1>)
endfunction()

# Both units and their macros on typeformer::typeformer's interface, so that every target linking
# it compiles them. The source tree's paths are build-interface only: the installed package's
# config adds the installed copies to the imported target (typeformerConfig.cmake).
function(_typeformer_compile_by_default target)
  target_sources(${target} INTERFACE "$<BUILD_INTERFACE:${TYPEFORMER_COMPILED_SOURCES}>")
  target_compile_definitions(${target} INTERFACE TYPEFORMER_COMPILED_KERNELS=1 TYPEFORMER_COMPILED_IO=1
    "$<$<BOOL:$<TARGET_PROPERTY:TYPEFORMER_BF16_KERNELS>>:TYPEFORMER_COMPILED_BF16_KERNELS=1>")
endfunction()

function(typeformer_compile_kernels_once target)
  _typeformer_add_kernels_unit(${target} PRIVATE typeformer_compile_kernels_once ${ARGN})
endfunction()

function(typeformer_add_compiled_kernels name)
  add_library(${name} STATIC)
  target_link_libraries(${name} PUBLIC typeformer::header_only)
  _typeformer_add_kernels_unit(${name} PUBLIC typeformer_add_compiled_kernels ${ARGN})
endfunction()
