# Every public header compiles on its own: one generated translation unit per header, which
# includes it twice (the second include must be a no-op) and nothing else. A header that
# leans on another being included first fails here, not in a user's program that happens to
# include them in another order. Compiled at -O0: the check is the front end's, and a header
# defines no code a unit does not call.
file(GLOB_RECURSE _typeformer_headers RELATIVE ${PROJECT_SOURCE_DIR}/include
     CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/include/typeformer/*.hpp)
set(_typeformer_header_units)
foreach(header IN LISTS _typeformer_headers)
  string(MAKE_C_IDENTIFIER ${header} unit)
  set(unit_file ${PROJECT_BINARY_DIR}/header_check/${unit}.cpp)
  set(content "#include <${header}>\n#include <${header}>\n")
  # Rewritten only when it changes, so a reconfigure does not rebuild every unit.
  if(EXISTS ${unit_file})
    file(READ ${unit_file} existing)
  else()
    set(existing "")
  endif()
  if(NOT existing STREQUAL content)
    file(WRITE ${unit_file} "${content}")
  endif()
  list(APPEND _typeformer_header_units ${unit_file})
endforeach()
add_library(typeformer_header_check OBJECT ${_typeformer_header_units})
target_link_libraries(typeformer_header_check PRIVATE typeformer::header_only typeformer_warnings typeformer_simd)
target_compile_options(typeformer_header_check PRIVATE -O0)
