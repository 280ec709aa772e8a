# The GEMM and the attention kernel compiled in one translation unit (compiled_kernels.cpp), and
# the weight reader in another (compiled_io.cpp), instead of in every unit that runs a model and
# loads its weights, which then declares them. Opt-in: typeformer stays header-only without it.
# See docs/compile-time.md. Included by typeformerConfig.cmake and, under add_subdirectory, by
# CMakeLists.txt.
#
#   typeformer_compile_kernels_once(<target> [BF16])
#     adds both units to <target>'s sources: they are compiled with <target>'s flags, so the
#     kernels' instruction set is the program's.
#   typeformer_add_compiled_kernels(<name> [BF16])
#     a static library of both for several programs to link (it carries typeformer::typeformer).
#     Give it the programs' instruction-set flags as PUBLIC options, e.g.
#     target_compile_options(<name> PUBLIC -march=native), so that they share them.
#   BF16: the bfloat16-weight GEMMs as well (about three times the float32 kernels' compile time).
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

function(typeformer_compile_kernels_once target)
  _typeformer_add_kernels_unit(${target} PRIVATE typeformer_compile_kernels_once ${ARGN})
endfunction()

function(typeformer_add_compiled_kernels name)
  add_library(${name} STATIC)
  target_link_libraries(${name} PUBLIC typeformer::typeformer)
  _typeformer_add_kernels_unit(${name} PUBLIC typeformer_add_compiled_kernels ${ARGN})
endfunction()
