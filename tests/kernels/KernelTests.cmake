# One kernel-test executable per instruction set the build machine can run, plus the scalar
# path; each is compiled entirely with its own flags, so no two differently-flagged
# translation units share an inline function (see docs/simd.md).
set(_kernel_isas scalar sse2)
foreach(_isa avx2 avx512)
  if(_isa STREQUAL "avx2")
    set(_probe "__builtin_cpu_supports(\"avx2\") && __builtin_cpu_supports(\"fma\")")
  else()
    set(_probe "__builtin_cpu_supports(\"avx512f\") && __builtin_cpu_supports(\"avx512bw\") && __builtin_cpu_supports(\"avx512dq\") && __builtin_cpu_supports(\"avx512vl\")")
  endif()
  set(_src "${CMAKE_CURRENT_BINARY_DIR}/cpu_probe_${_isa}.cpp")
  file(WRITE "${_src}" "int main() { __builtin_cpu_init(); return (${_probe}) ? 0 : 1; }\n")
  try_run(_runs _compiles "${CMAKE_CURRENT_BINARY_DIR}/cpu_probe_${_isa}" "${_src}")
  if(_compiles AND _runs EQUAL 0)
    list(APPEND _kernel_isas ${_isa})
  else()
    message(STATUS "typeformer: this CPU cannot run ${_isa}; its kernel tests are not built")
  endif()
endforeach()
message(STATUS "typeformer: kernel tests for: ${_kernel_isas}")

foreach(_isa IN LISTS _kernel_isas)
  typeformer_simd_flags(_flags ${_isa})
  add_executable(kernel_tests_${_isa} ${CMAKE_CURRENT_LIST_DIR}/kernels_test.cpp)
  target_compile_options(kernel_tests_${_isa} PRIVATE ${_flags})
  target_link_libraries(kernel_tests_${_isa} PRIVATE typeformer::header_only typeformer_catch_main typeformer_warnings)
  add_test(NAME kernels_${_isa} COMMAND kernel_tests_${_isa})
  set_tests_properties(kernels_${_isa} PROPERTIES LABELS "unit;kernels")
  # The flash kernel's prefetches are in the binary (check_prefetches.cmake says why).
  if(CMAKE_OBJDUMP AND CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
    add_test(NAME kernels_${_isa}.prefetches
             COMMAND ${CMAKE_COMMAND} -DOBJDUMP=${CMAKE_OBJDUMP}
                     -DBINARY=$<TARGET_FILE:kernel_tests_${_isa}>
                     -P ${CMAKE_CURRENT_LIST_DIR}/check_prefetches.cmake)
    set_tests_properties(kernels_${_isa}.prefetches PROPERTIES LABELS "unit;kernels")
  endif()
endforeach()
